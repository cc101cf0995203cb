"""Name -> constructor registries, in the manner of timm's ``register_model`` / ``create_model``."""

REGISTRIES = {}


def register(kind, name):
    """Decorator: ``@register("encoder", "transformer")``."""

    def decorator(constructor):
        table = REGISTRIES.setdefault(kind, {})
        if name in table:
            raise ValueError(f"{kind} {name!r} is registered twice")
        table[name] = constructor
        return constructor

    return decorator


def create(kind, name, **options):
    table = REGISTRIES.get(kind, {})
    if name not in table:
        raise KeyError(f"unknown {kind} {name!r}; registered: {', '.join(sorted(table)) or 'none'}")
    return table[name](**options)
