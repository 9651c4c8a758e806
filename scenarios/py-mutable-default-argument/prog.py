"""Each new user should start with an empty list of roles; the third user starts with two."""


def new_user(name, roles=[]):  # bug: one list shared by every call
    roles.append("reader")
    return {"name": name, "roles": roles}


ann = new_user("ann")
bob = new_user("bob")
cy = new_user("cy")
print(cy["name"], "has roles", cy["roles"])
