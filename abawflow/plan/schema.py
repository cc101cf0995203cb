"""The config schema (config.schema.yaml beside this file): validation that fills in every default, with
errors that name the key and what was expected."""

import copy
from pathlib import Path

import jsonschema
import yaml

from abawflow.core.errors import ConfigError
from abawflow.datasets.editions import fill_edition_names

SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"


def _validator_with_defaults():
    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": properties_with_defaults})


def load_schema(path=SCHEMA_PATH):
    return yaml.safe_load(Path(path).read_text())


def validate_config(config, schema=None):
    """Check `config` against the schema and fill in its defaults, in place. A violation raises ConfigError
    naming each offending key and what was expected, not the schema."""
    schema = load_schema() if schema is None else schema
    validator = _validator_with_defaults()(schema)
    errors = sorted(validator.iter_errors(config), key=lambda error: list(error.absolute_path))
    if errors:
        lines = [f"  {_key_path(error.absolute_path)}: {_short_message(error)}" for error in errors[:10]]
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise ConfigError(
            "the config does not follow the schema (abawflow/plan/config.schema.yaml):\n" + "\n".join(lines) + more
        )
    if isinstance(config.get("dataset"), dict) and "edition" in config["dataset"]:
        fill_edition_names(config["dataset"])  # defaults that depend on another key
    return config


def _key_path(path):
    return ".".join(str(part) for part in path) or "(top level)"


def _short_message(error):
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return error.message + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if error.validator in ("type", "required", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return error.message
    return error.message if len(error.message) < 300 else error.message[:300] + " ..."
