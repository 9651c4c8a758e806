"""Settings pass through several layers; one of them quietly rewrites the timeout."""

config = {"timeout": 30, "retries": 3, "verbose": False}


def normalise(section):
    for key, value in section.items():
        if isinstance(value, int) and not isinstance(value, bool):
            section[key] = max(value, 1)
    if section.get("verbose"):
        section["timeout"] = section["timeout"] * 2


def apply_profile(cfg, profile):
    if profile == "fast":
        cfg["retries"] = 1
        cfg["timeout"] = cfg["timeout"] // 10  # bug: meant for retries only
    normalise(cfg)


def load(profile):
    apply_profile(config, profile)
    return config


load("fast")
print("timeout is", config["timeout"])
assert config["timeout"] == 30, "the timeout changed"
