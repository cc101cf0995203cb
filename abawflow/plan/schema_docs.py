"""docs/configuration.md, written from the config schema's descriptions and defaults, so that the page
cannot drift from what the Snakefile validates: ``python -m abawflow.plan.schema_docs docs/configuration.md``.
"""

import json
import sys
from pathlib import Path

from abawflow.datasets.editions import EDITIONS
from abawflow.plan.schema import load_schema

HEADER = """# Configuration

<!-- Written by `python -m abawflow.plan.schema_docs docs/configuration.md` from
abawflow/plan/config.schema.yaml and config/real_data.yaml; tests/unit/plan/test_schema_docs.py checks
that it is current. -->

`config.yaml` is the embedded default. Layer a file of your own on it with
`snakemake --configfile my.yaml ...`: Snakemake merges nested mappings key by key (a list or a
value replaces the default's). When the Snakefile loads, the merged config is validated against
the schema below and every missing key takes its default; a key the schema does not know stops the
dry run, naming it and the keys allowed there. `<name>` stands for a name you choose (a backbone,
an experiment, an ensemble).

## What runs

Your file runs the backbones, experiments, ensembles and submissions it names, and nothing else:

- the embedded default names no method itself. Its methods (the demo's method zoo) are the preset
  `demo` (`abawflow/plan/presets/demo.yaml`), which `config.yaml` selects with `methods: demo`;
  that selection holds only for a run without a config file of yours (`make demo`,
  `snakemake --cores 8 submission`). A file of yours gets the demo's methods only by saying
  `methods: demo` itself, and then changes them key by key (the tests' configs do);
- an experiment runs when it trains a task of `tasks`; a backbone runs when an experiment that runs
  reads it, or fine-tunes from it; an ensemble runs when its members do. What a config defines and
  does not run is listed, not planned;
- every dry run (and every run) first prints what it will train and submit:

```
abawflow plan: the methods of the config's own
  data:        aff_wild2 at /data/Aff-Wild2
  backbones:   face_resnet18 (resnet18, checkpoints/face_resnet18.pth)
  experiments: transformer (va, expr, au; 3 training runs)
  ensembles:   none
  submitted:   va <- transformer, expr <- transformer, au <- transformer
```

A complete file for real data, `config/real_data.yaml` (VA, EXPR and AU, one backbone from your
checkpoint, one experiment; its dry run plans 27 jobs, `tests/e2e/test_user_config.py`):

```yaml
{example}```

A backbone's `checkpoint` may be a timm `state_dict()` with its classifier (dropped as timm drops
it), the same wrapped as `{{"state_dict": ...}}` or `{{"model": ...}}` (Lightning, the MAE
repositories; a prefix such as `model.` on every key is removed), a `.safetensors` file, or a whole
pickled model (`torch.save(model)`, as the HSEmotion releases ship). The dry run checks that the file
is there and fits the architecture (keys and shapes, on a model without weights) before any job;
any other missing or unexpected key stops it, naming the keys. The file is an input of the feature
job: replacing it reruns the backbone's features and what depends on them.

"""


def _type(node):
    if "enum" in node:
        return " | ".join(f"`{value}`" for value in node["enum"])
    kind = node.get("type", "")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array" and isinstance(node.get("items"), dict) and "type" in node["items"]:
        kind = f"list of {node['items']['type']}"
    return kind


def _limits(node):
    words = []
    for key, text in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
        ("minItems", "items ≥"),
    ):
        if key in node:
            words.append(f"{text} {node[key]}")
    return ", ".join(words)


def _default(node):
    if "default" not in node or node["default"] in ({}, None):
        return ""
    return f"`{json.dumps(node['default'], ensure_ascii=False)}`"


def _cell(text):
    """One table cell: one line, pipes escaped, and outside code spans `<` escaped so that CommonMark does
    not read ``<name>`` as an HTML tag."""
    parts = " ".join(str(text).split()).replace("|", "\\|").split("`")
    return "`".join(part if index % 2 else part.replace("<", "\\<") for index, part in enumerate(parts))


def _rows(node, path):
    """(dotted key, node) of every key under `node`, depth first, in the schema's order."""
    for name, child in node.get("properties", {}).items():
        key = f"{path}.{name}" if path else name
        yield key, child
        yield from _rows(child, key)
    entries = node.get("additionalProperties")
    if isinstance(entries, dict):
        key = f"{path}.<name>"
        yield key, entries
        yield from _rows(entries, key)


EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "real_data.yaml"


def editions_markdown():
    """The names each ``dataset.edition`` fills in (abawflow/datasets/editions.py), one table."""
    lines = [
        "## ABAW editions\n\n`dataset.edition` names the annotation folder, the challenge folders and the test",
        "lists of that release; a key set in your file wins. The dry run checks that each is in your copy,",
        "and names what the folder holds instead when one is not. The names are those of each release as",
        "its participants' published code reads it unpacked; a copy renamed since, or a later release, sets",
        "the three keys itself.\n",
        "| edition | `annotation_folder` | `challenge_folders` (va, expr, au) | `test_lists` (va, expr, au) |",
        "|---|---|---|---|",
    ]
    for edition, names in EDITIONS.items():
        if not names:
            lines.append(f"| {edition} | no per-task Aff-Wild2 annotations (MTL on s-Aff-Wild2): set all three |  |  |")
            continue
        folders = ", ".join(f"`{names['challenge_folders'][task]}`" for task in ("va", "expr", "au"))
        lists = ", ".join(f"`{names['test_lists'][task]}`" for task in ("va", "expr", "au"))
        lines.append(f"| {edition} | `{names['annotation_folder']}` | {folders} | {lists} |")
    return "\n".join(lines) + "\n\n"


def configuration_markdown(schema=None, example=EXAMPLE):
    """The configuration page: what runs, the real-data example, and per top-level key a section with its
    description and a table of its keys."""
    schema = load_schema() if schema is None else schema
    parts = [HEADER.format(example=Path(example).read_text()), editions_markdown()]
    for name, node in schema["properties"].items():
        parts.append(f"## `{name}`\n\n")
        if node.get("description"):
            parts.append(_cell(node["description"]) + "\n\n")
        parts.append("| key | type | default | meaning |\n|---|---|---|---|\n")
        for key, child in [(name, node), *_rows(node, name)]:
            kind = " ".join(part for part in (_type(child), _limits(child)) if part)
            meaning = child.get("description", "") if key != name else ""
            parts.append(f"| `{key}` | {_cell(kind)} | {_cell(_default(child))} | {_cell(meaning)} |\n")
        parts.append("\n")
    return "".join(parts).rstrip("\n") + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    text = configuration_markdown()
    if argv:
        Path(argv[0]).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
