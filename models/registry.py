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


def component_problem(kind, name, options, supplied=()):
    """Why ``create(kind, name, **options)`` would fail, as a sentence, or None; ``supplied`` are the
    arguments the code passes itself (input widths, head sizes), which a config does not set."""
    import inspect

    table = REGISTRIES.get(kind, {})
    if name not in table:
        return f"unknown {kind} {name!r}; registered: {', '.join(sorted(table)) or 'none'}"
    parameters = inspect.signature(table[name]).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    accepted = [p for p in parameters if p not in supplied and p != "self"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        return (
            f"{kind} {name!r} takes no option {', '.join(map(repr, unknown))}; "
            f"its options: {', '.join(accepted) or 'none'}"
        )
    return None
