"""Size of a directory tree: the total is short by the files of one nested folder."""

TREE = {
    "name": "root", "files": [120, 30],
    "children": [
        {"name": "src", "files": [400, 250, 75], "children": [
            {"name": "gen", "files": [900], "children": []},
        ]},
        {"name": "docs", "files": [60], "children": []},
    ],
}


def size(node, depth=0):
    total = sum(node["files"])
    for child in node["children"]:
        if depth < 1:  # bug: meant to limit printing, not counting
            total += size(child, depth + 1)
    return total


print("total size", size(TREE))
