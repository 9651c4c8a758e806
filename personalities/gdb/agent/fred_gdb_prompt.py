"""The prompt's position as JSON, cheaply.

gdb stops at every prompt to ask the agent where the program stands, and a user who
continues through a breakpoint hit a thousand times pays for each answer. `json.dumps`
builds a fresh encoder for every call and was the dearest part of a prompt: a fifth of the
agent's work at each stop. The usual prompt, a stop at a line after a breakpoint's hit, is
filled into a template, and a line's location, the same at every stop there, is encoded
once; other prompts go through `json.dumps`.
"""

import json


class Location(dict):
    """A source position (file, line, function) that keeps its JSON once asked for it.
    Not to be changed after that: positions share it."""

    __slots__ = ("text",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.text = None


def location_json(location):
    """`location` as JSON, encoded the first time only."""
    if location.text is None:
        location.text = json.dumps(location)
    return location.text


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
            recipe = json.dumps(recipe)
        return STOP % (pos["time"], location_json(location), "null" if depth is None else depth,
                       recipe)
    return json.dumps(pos)
