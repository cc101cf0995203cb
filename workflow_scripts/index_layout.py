"""The index rule of a dataset with a registered reader (abawflow/datasets/registry.py): its layout -> the
media table (videos probed), splits and a label table per task."""

from abawflow.core.atomic import write_parquet
from abawflow.core.rule_runner import run
from abawflow.datasets.aff_wild2 import probe_subject_videos
from abawflow.datasets.registry import DATASETS


def main(snakemake):
    params = snakemake.params
    root = snakemake.input[0]
    dataset = DATASETS[params.dataset]
    media, splits, labels = dataset.reader(root, params.settings)
    if dataset.media == "subjects":
        tested = {}
        for task, subject in splits.filter(splits["split"] == "test").select("task", "subject").rows():
            tested.setdefault(subject, []).append(task)
        media = probe_subject_videos(media, root, tested, params.settings.get("truncated_test_video", "error"))
    write_parquet(media, snakemake.output.media)
    write_parquet(splits, snakemake.output.splits)
    for task, path in zip(params.tasks, snakemake.output.labels, strict=True):
        write_parquet(labels[task], path)


run(snakemake, main)  # noqa: F821
