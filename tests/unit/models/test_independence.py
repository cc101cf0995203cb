"""models/ is a library of torch modules of its own: it imports nothing from abawflow, so it can be used (and
tested) without the pipeline."""

import ast
from pathlib import Path

MODELS = Path(__file__).resolve().parents[3] / "models"


def imported_packages(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.partition(".")[0]


def test_models_imports_nothing_from_abawflow():
    offending = {path.name for path in MODELS.glob("*.py") if "abawflow" in set(imported_packages(path))}
    assert not offending, f"models/ imports abawflow in {sorted(offending)}"


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("def f():\n    from abawflow.core.errors import ConfigError\n")
    assert "abawflow" in set(imported_packages(module))
