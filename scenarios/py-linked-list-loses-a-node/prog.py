"""A to-do list kept as a linked list. After removing one finished task, two are gone."""


class Node:
    def __init__(self, task, next=None):
        self.task = task
        self.next = next


def length(head):
    n = 0
    while head is not None:
        n += 1
        head = head.next
    return n


def remove(head, task):
    """Remove the node holding `task`; returns the new head."""
    if head is not None and head.task == task:
        return head.next
    node = head
    while node is not None and node.next is not None:
        if node.next.task == task:
            node.next = node.next.next.next  # bug: skips the node after it too
            return head
        node = node.next
    return head


head = None
for task in ["write", "test", "review", "merge", "deploy", "celebrate"]:
    head = Node(task, head)
for done in ["celebrate", "review"]:
    head = remove(head, done)
print("tasks left:", length(head))
