"""The prompt's position as JSON, cheaply.

gdb stops at every prompt to ask the agent where the program stands, and a user who
continues through a breakpoint hit a thousand times pays for each answer. `json.dumps`
builds a fresh encoder for every call and was the dearest part of a prompt: a third of the
agent's work at each stop. The usual prompt, a stop at a line after a breakpoint's hit, is
filled into a template; a line's location, the same at every stop there, is encoded once;
and the other values are few kinds (ints, short strings, small dicts and lists), encoded
here directly.
"""

import json
from json.encoder import encode_basestring_ascii as quote


class Location(dict):
    """A source position (file, line, function) that keeps its JSON once asked for it.
    Not to be changed after that: positions share it."""

    __slots__ = ("text",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.text = None


def to_json(value):
    """`value` as JSON, as `json.dumps` writes it (same separators, ASCII only)."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is str:
        return quote(value)
    if value is None:
        return "null"
    if kind is Location:
        if value.text is None:
            value.text = json.dumps(value)
        return value.text
    if kind is dict:
        return "{%s}" % ", ".join([quote(k) + ": " + to_json(v) for k, v in value.items()])
    if kind is list or kind is tuple:
        return "[%s]" % ", ".join([to_json(v) for v in value])
    return json.dumps(value)  # (bools, floats, and what else may come: the rare cases)


STOP = '{"time": %d, "kind": "stop", "location": %s, "depth": %s, "event": "line", "recipe": %s}'
HIT = '{"end": "hit", "pc": %d, "cond": null, "skip": %d, "from_k": %d}'


def position_json(pos):
    """The prompt's position `pos` as JSON."""
    location, depth, recipe = pos.get("location"), pos.get("depth"), pos.get("recipe", 0)
    if (len(pos) == 6 and pos["kind"] == "stop" and type(location) is Location
            and (depth is None or type(depth) is int)):
        if recipe is None:
            recipe = "null"
        elif len(recipe) == 5 and recipe["end"] == "hit" and recipe.get("cond", 0) is None:
            recipe = HIT % (recipe["pc"], recipe["skip"], recipe["from_k"])
        else:
            recipe = to_json(recipe)
        return STOP % (pos["time"], to_json(location), "null" if depth is None else depth, recipe)
    return to_json(pos)
