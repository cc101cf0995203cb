"""Rule index_videos: the person-videos of the dataset (subject, video file, person), from file names alone,
and each video probed: decodable and declared frames, frame rate, size
(abawflow.datasets.aff_wild2.probe_subject_videos).

Apart from the labels, so that an edited annotation line re-indexes the labels without redoing face detection.
"""

import logging

from abawflow.core.atomic import write_parquet
from abawflow.core.rule_runner import run
from abawflow.datasets.aff_wild2 import index_subjects, probe_subject_videos, tested_subjects

log = logging.getLogger("abawflow.index")


def main(snakemake):
    layout = ("annotation_folder", "challenge_folders", "test_lists", "video_folder", "tasks", "exclude_videos")
    root, params = snakemake.input[0], snakemake.params
    subjects = index_subjects(root, **{key: getattr(params, key) for key in layout})
    tested = tested_subjects(root, params.test_lists, params.tasks)
    subjects = probe_subject_videos(subjects, root, tested, params.truncated_test_video)
    videos = subjects.unique("video")
    log.info(
        "%d subjects in %d videos, %d frames (%d declared by the containers)",
        subjects.height,
        videos.height,
        videos["frames"].sum(),
        videos["declared_frames"].fill_null(videos["frames"]).sum(),
    )
    write_parquet(subjects, snakemake.output[0])


run(snakemake, main)  # noqa: F821
