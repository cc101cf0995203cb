"""How a run's config is put together: the embedded default (config.yaml), the user's config files and
--config values over it, and the method preset that supplies backbones, experiments, ensembles and
submissions.

Snakemake merges a user's file into the default mapping by mapping, so a file cannot take away what the
default names. The default therefore names no method itself: it selects the preset ``demo``
(``methods: demo``), and that selection holds only for a run without config files of the user's. A
user's file runs the methods it names; it adds a preset's by naming it (``methods: demo``).
"""

import copy
from pathlib import Path

import yaml

from abawflow.core.errors import ConfigError

PRESETS = Path(__file__).resolve().parent / "presets"
METHOD_SECTIONS = ("backbones", "experiments", "ensembles", "submission")


def preset_names():
    return sorted(path.stem for path in PRESETS.glob("*.yaml"))


def merged(base, over):
    """``over`` merged into a copy of ``base`` as Snakemake merges config files: mappings key by key, any
    other value replaced."""
    result = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def chosen_preset(config, user_layer, user_files_given):
    """The preset a run uses: the one the user's files or --config name; with no config file of the
    user's, the one the embedded default names."""
    if "methods" in user_layer:
        return user_layer["methods"]
    return None if user_files_given else config.get("methods")


def load_preset(name):
    path = PRESETS / f"{name}.yaml"
    if not isinstance(name, str) or not path.is_file():
        raise ConfigError(
            f"config: methods is {name!r}; the method presets are {', '.join(preset_names())} "
            "(or leave methods out to run only the methods your config names)"
        )
    return yaml.safe_load(path.read_text())


def apply_methods(config, user_layer, user_files_given):
    """Put the chosen preset's method sections under the config's own, in place; ``methods`` then says
    which preset the run holds (None: only the config's own methods)."""
    preset = chosen_preset(config, user_layer, user_files_given)
    if preset is not None:
        methods = load_preset(preset)
        # The preset submits to every challenge it knows; a run of fewer keeps the entries of its own.
        run = config.get("tasks") or []
        methods["submission"] = {key: name for key, name in (methods.get("submission") or {}).items() if key in run}
        for section in METHOD_SECTIONS:
            config[section] = merged(methods.get(section) or {}, config.get(section) or {})
    config["methods"] = preset
    return config


def load_config(default, *layers):
    """The config of ``snakemake --configfile <layers>`` on the workflow whose default config is ``default``
    (a layer: a YAML file, or a mapping as one would hold): for tests, benchmarks and tools that plan
    without Snakemake."""
    user_layer = {}
    for layer in layers:
        user_layer = merged(
            user_layer, layer if isinstance(layer, dict) else yaml.safe_load(Path(layer).read_text()) or {}
        )
    config = merged(yaml.safe_load(Path(default).read_text()), user_layer)
    return apply_methods(config, user_layer, user_files_given=bool(layers))
