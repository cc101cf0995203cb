"""Rule index_annotations: annotation files and test lists -> split and label tables (validated line by line)."""

import logging

from abawflow.core.atomic import write_parquet
from abawflow.core.rule_runner import run
from abawflow.datasets.aff_wild2 import index_dataset

log = logging.getLogger("abawflow.index")


def main(snakemake):
    params = snakemake.params
    _, splits, labels = index_dataset(
        snakemake.input[0],
        params.annotation_folder,
        params.challenge_folders,
        params.test_lists,
        params.video_folder,
        params.tasks,
        params.exclude_videos,
    )
    for task, path in zip(params.tasks, snakemake.output.labels, strict=True):
        table = labels[task]
        log.info("%s: %d frame lines, %d annotated", task.upper(), len(table), int(table["annotated"].sum()))
        write_parquet(table, path)
    for (task, split), group in splits.group_by(["task", "split"], maintain_order=True):
        log.info("%s %s: %d videos", task.upper(), split, len(group))
    write_parquet(splits, snakemake.output.splits)


run(snakemake, main)  # noqa: F821
