"""One table of paths: a rule's output pattern and the file an input function asks for are the same text."""

import re

import pytest

from abawflow.datasets.registry import datasets_with_reader, generated_datasets
from abawflow.plan import paths


def test_a_pattern_filled_in_is_the_file():
    pattern = paths.predictions("{challenge}", "{experiment}")
    assert pattern == "results/predictions/{challenge}/{experiment}.parquet"
    assert pattern.format(challenge="va", experiment="gru") == paths.predictions("va", "gru")
    assert paths.run_model("{experiment}", "{target}", "{fold}", "{seed}").format(
        experiment="gru", target="va", fold=1, seed=2
    ) == paths.run_model("gru", "va", 1, 2)
    assert paths.backbone_weights("vit_mae", "mae") == "results/backbones/vit_mae/mae.pt"
    assert paths.backbone_history("fer_ft", "fine_tuned") == "results/backbones/fer_ft/fine_tuning_history.csv"


def test_logs_and_benchmarks_are_named_by_rule_and_job():
    assert paths.log("predict") == "logs/predict/{challenge}/{experiment}.log"
    assert paths.benchmark("predict", challenge="mtl", experiment="basic") == "logs/benchmarks/predict/mtl/basic.tsv"
    assert paths.benchmark("train_temporal_model", experiment="gru") == (
        "logs/benchmarks/train_temporal_model/gru/{target}/fold{fold}_seed{seed}.tsv"
    )
    assert paths.log("evaluate_validation") == "logs/evaluate_validation.log"
    with pytest.raises(KeyError):
        paths.log("no_such_rule")


def test_every_rule_of_the_workflow_has_its_job_names(repository):
    rules = set()
    for path in (repository / "rules").glob("*.smk"):
        rules |= set(re.findall(r"^rule (\w+):", path.read_text(), re.M))
        # Rules made with `use rule ... with:` that keep their parent's log share its job names.
        rules |= set(re.findall(r"^use rule \w+ as (\w+) with:(?:\n    .*)*?\n    log:", path.read_text(), re.M))
        # Rules made per registered dataset in a loop: their logs are grouped under one name.
        rules |= set(re.findall(r"^\s+paths\.log\(\"(\w+)\", dataset=dataset\)", path.read_text(), re.M))
    targets = {"submission", "bundle", "predict_videos"}  # target rules: no job of their own
    assert rules - targets <= set(paths.JOBS), sorted(rules - targets - set(paths.JOBS))
    assert set(paths.JOBS) <= rules


def test_no_rule_file_writes_a_results_or_logs_path_by_hand(repository):
    for path in [repository / "Snakefile", *(repository / "rules").glob("*.smk")]:
        text = path.read_text()
        assert not re.search(r"[\"'](results|logs)/", text), f"{path.name} builds a path by hand"


def test_the_stages_page_lists_every_rule(repository):
    """docs/stages.md's table of the DAG names every rule of the workflow."""
    page = (repository / "docs" / "stages.md").read_text()
    table = page[page.index("## The DAG") :].split("\n\n")[1]
    made = {  # the rules made per registered dataset, by the name their logs are grouped under
        "index_layout": [f"index_{name}" for name in datasets_with_reader()],
        "demo_dataset": [f"demo_{name}_data" for name in generated_datasets()],
    }
    missing = [name for rule in paths.JOBS for name in made.get(rule, [rule]) if f"`{name}`" not in table]
    assert not missing, f"docs/stages.md's DAG table misses {missing}"
