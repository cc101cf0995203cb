"""Rule index_videos: the person-videos of the dataset (subject, video file, person), from file names alone.

Apart from the labels, so that an edited annotation line re-indexes the labels without redoing face detection.
"""

import logging

from abawflow.annotations import index_subjects
from abawflow.atomic import write_parquet
from abawflow.rule_runner import run

log = logging.getLogger("abawflow.index")


def main(snakemake):
    layout = ("annotation_folder", "challenge_folders", "test_lists", "video_folder", "tasks")
    subjects = index_subjects(snakemake.input[0], **{key: getattr(snakemake.params, key) for key in layout})
    log.info("%d subjects in %d videos", subjects.height, subjects["video"].n_unique())
    write_parquet(subjects, snakemake.output[0])


run(snakemake, main)  # noqa: F821
