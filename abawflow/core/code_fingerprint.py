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


def _module_file(root, dotted):
    parts = dotted.split(".")
    if parts[0] not in PROJECT_PACKAGES:
        return None
    candidate = root.joinpath(*parts)
    for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_files(root, tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` names a module; `from module import name` does not.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            path = _module_file(root, name)
            if path is not None and not is_plumbing(path.relative_to(root).as_posix()):
                yield path


@cache
def _tree_dump(path):
    tree = _strip_docstrings(ast.parse(Path(path).read_text(), filename=str(path)))
    return ast.dump(tree, annotate_fields=False, include_attributes=False), tree


def code_fingerprint(script, root=None):
    """Hex digest over the syntax trees of `script` and the project modules it imports (transitively)."""
    script = Path(script).resolve()
    root = Path(root).resolve() if root else script.parent.parent
    seen, pending = {}, [script]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        dump, tree = _tree_dump(path)
        seen[path] = dump
        pending.extend(_imported_files(root, tree))
    digest = hashlib.sha256()
    for path in sorted(seen):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + seen[path].encode() + b"\0")
    return digest.hexdigest()[:16]
