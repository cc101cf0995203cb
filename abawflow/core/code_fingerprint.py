"""Fingerprint of the code a rule runs, so that Snakemake reruns a rule when its behaviour can have changed.

Snakemake's own `code` rerun trigger hashes the text of a rule's script only: it reruns
on an edited comment, and misses every change to the modules the script imports. The
fingerprint instead hashes the syntax tree (comments, docstrings and layout removed) of
the script and of every project module it imports, transitively, except the plumbing
of the `abawflow.core` package. Rules pass it as a param, and the workflow profile turns
the `code` trigger off (docs/usage.md, "Rerun triggers").
"""

import ast
import hashlib
import importlib.util
from functools import cache
from pathlib import Path

PROJECT_PACKAGES = ("abawflow", "models")
# Plumbing that cannot change a result (logging and exit codes, device choice, error texts, atomic
# renames, execution settings): the modules of the `abawflow.core` package. Editing them must not redo
# days of detection and training.
PLUMBING_PACKAGE = "abawflow/core/"


def is_plumbing(relative_path):
    """Whether a project file (its path relative to the repository) is plumbing, left out of fingerprints."""
    return relative_path.startswith(PLUMBING_PACKAGE)


def _strip_docstrings(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def package_roots(root):
    """Project package -> the folder that holds it: the workflow's own checkout when it has the package (an
    editable install, or a copy being edited), else where the package is installed."""
    roots = {}
    for package in PROJECT_PACKAGES:
        if (root / package).is_dir():
            roots[package] = root
            continue
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            roots[package] = Path(next(iter(spec.submodule_search_locations))).resolve().parent
    return roots


def _module_file(roots, dotted):
    parts = dotted.split(".")
    if parts[0] not in roots:
        return None
    candidate = roots[parts[0]].joinpath(*parts)
    for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
        if path.is_file():
            return path
    return None


def _relative(path, folders):
    """``abawflow/...`` or ``workflow_scripts/...``: the same text wherever the code lies."""
    for root in folders:
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return path.name


def _imported_files(roots, tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` names a module; `from module import name` does not.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            path = _module_file(roots, name)
            if path is not None and not is_plumbing(_relative(path, roots.values())):
                yield path


@cache
def _tree_dump(path):
    tree = _strip_docstrings(ast.parse(Path(path).read_text(), filename=str(path)))
    return ast.dump(tree, annotate_fields=False, include_attributes=False), tree


def code_fingerprint(script, root=None, left_out=(), followed=()):
    """Hex digest over the syntax trees of `script` and the project modules it imports (transitively).
    ``left_out``: project modules (paths from the checkout, e.g. ``abawflow/datasets/registry.py``) not read
    nor followed; ``followed``: more project modules to start from (dotted names), with their imports."""
    script = Path(script).resolve()
    root = Path(root).resolve() if root else script.parent.parent
    roots = package_roots(root)
    seen, pending = {}, [script, *filter(None, (_module_file(roots, name) for name in followed))]
    while pending:
        path = pending.pop()
        if path in seen or (left_out and _relative(path, [root, *roots.values()]) in left_out):
            continue
        dump, tree = _tree_dump(path)
        seen[path] = dump
        pending.extend(_imported_files(roots, tree))
    digest = hashlib.sha256()
    named = sorted((_relative(path, [root, *roots.values()]), dump) for path, dump in seen.items())
    for name, dump in named:
        digest.update(name.encode() + b"\0" + dump.encode() + b"\0")
    return digest.hexdigest()[:16]
