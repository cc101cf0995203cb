"""Rule index_hume_reaction: data_info.csv and the sample files -> subjects (probed), splits and ERI labels."""

from abawflow.core.atomic import write_parquet
from abawflow.core.rule_runner import run
from abawflow.datasets.aff_wild2 import probe_subject_videos
from abawflow.datasets.hume_reaction import index_hume_reaction


def main(snakemake):
    params = snakemake.params
    root = snakemake.input[0]
    subjects, splits, labels = index_hume_reaction(
        root, params.info_file, params.video_folder, params.audio_folder, params.split_folders
    )
    tested = {subject: ["eri"] for subject in splits.filter(splits["split"] == "test")["subject"]}
    write_parquet(probe_subject_videos(subjects, root, tested, params.truncated_test_video), snakemake.output.subjects)
    write_parquet(splits, snakemake.output.splits)
    write_parquet(labels, snakemake.output.labels)


run(snakemake, main)  # noqa: F821
