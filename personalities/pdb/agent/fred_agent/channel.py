"""The agent's connection to fred, and pdb's stdin and stdout on top of it."""

import json
import os
import socket


def hello_prefix(hello):
    """A hello as JSON bytes without its closing brace, for C to add the pid and close."""
    return json.dumps(hello)[:-1].encode() + b', "pid": '


class Channel:
    """One JSON-lines connection to fred's control socket."""

    def __init__(self, path, hello):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.queued = []
        self.send(hello)

    @classmethod
    def adopt(cls, sock, buf):
        """A connection already open (and announced), with bytes already read from it."""
        chan = cls.__new__(cls)
        chan.sock, chan.buf, chan.queued = sock, buf, []
        return chan

    def send(self, obj):
        """Sends `obj`, after the messages queued before it, in one write."""
        self.queued.append(json.dumps(obj).encode() + b"\n")
        self.flush()

    def queue(self, obj):
        """Sends `obj` with the next message sent or at the next flush: pdb prints a stop
        in several writes, and fred need not wake up for each one."""
        self.queued.append(json.dumps(obj).encode() + b"\n")

    def flush(self):
        """Sends what is queued."""
        if not self.queued:
            return
        data = b"".join(self.queued)
        self.queued = []
        try:
            self.sock.sendall(data)
        except OSError:
            os._exit(0)

    def recv(self):
        """The next message; fred going away ends this process."""
        self.flush()
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                os._exit(0)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line.decode())

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class SockOut:
    """pdb's stdout: text goes to fred as {"out": ...} messages."""

    def __init__(self, agent):
        self.agent = agent
        self.encoding = "utf-8"

    def write(self, text):
        if text:
            self.agent.send_out(text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


class SockIn:
    """pdb's stdin: each readline() reports the stop to fred and waits for a command."""

    def __init__(self, agent):
        self.agent = agent

    def readline(self):
        return self.agent.next_command()

    def isatty(self):
        return False
