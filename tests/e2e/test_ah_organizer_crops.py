"""A/H with the organizers' cropped-aligned faces as the face source (ah.face_source: cropped_aligned) on a BAH
copy outside the repository: crops numbered from 0 (frame-<n>.jpg is frame n + 1), a frame without a crop is a
frame without a face, and no face detection is planned."""

import av
import cv2
import polars as pl
import pytest
from support.dag import job_counts, snakemake

from abawflow.datasets.demo.bah import make_demo_bah

pytestmark = pytest.mark.e2e

SKIPPED = 3  # the organizers' aligner found no face in frame-3.jpg of every video (frame 4)


@pytest.fixture(scope="module")
def researcher(tmp_path_factory):
    outside = tmp_path_factory.mktemp("researcher")
    root = make_demo_bah(outside / "BAH", seed=2, participants=5, frames=20)
    crops = {}
    for line in (root / "split" / "train.txt").read_text().splitlines()[:2]:
        video = line.split(",")[0]
        folder = root / "cropped-aligned-faces" / video
        folder.mkdir(parents=True)
        with av.open(str(root / video)) as container:
            for n, frame in enumerate(container.decode(video=0)):
                if n == SKIPPED:
                    continue
                crop = cv2.resize(frame.to_ndarray(format="bgr24"), (112, 112))
                cv2.imwrite(str(folder / f"frame-{n}.jpg"), crop)
                crops[(video, n + 1)] = (folder / f"frame-{n}.jpg").read_bytes()
    config = outside / "ah.yaml"
    config.write_text(f"methods: demo\ntasks: [ah]\nah: {{root: '{root}', face_source: cropped_aligned}}\n")
    return outside, root, config, crops


def test_the_plan_reads_the_crops_instead_of_detecting(researcher, tmp_path):
    _, _, config, _ = researcher
    result = snakemake(tmp_path, "--dry-run", configs=[config])
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    assert counts["read_face_crops"] == 1 and "detect_and_align_faces" not in counts


def test_each_frame_gets_its_crop_numbered_from_zero(researcher):
    outside, root, config, crops = researcher
    workdir = outside / "run"
    workdir.mkdir()
    target = "results/bah/faces/cropped_aligned/shard0of1.parquet"
    result = snakemake(workdir, target, configs=[config])
    # Only two videos have crops: the others' missing folders fail the job, naming the first.
    log = (workdir / "logs/read_face_crops/bah/shard0of1.log").read_text()
    assert result.returncode != 0 and "the video's folder of cropped-aligned faces is missing" in log
    assert not (workdir / target).exists()
    for line in (root / "split" / "train.txt").read_text().splitlines()[2:]:  # give the rest no face at all
        (root / "cropped-aligned-faces" / line.split(",")[0]).mkdir(parents=True)
    for name in ("val.txt", "test.txt"):
        for line in (root / "split" / name).read_text().splitlines():
            (root / "cropped-aligned-faces" / line.split(",")[0]).mkdir(parents=True)
    result = snakemake(workdir, target, configs=[config])
    assert result.returncode == 0, result.stderr[-5000:]
    faces = pl.read_parquet(workdir / target)
    subjects = pl.read_parquet(workdir / "results/bah/index/subjects.parquet")
    assert faces.height == subjects["frames"].sum()
    for (video, frame), data in crops.items():
        row = faces.filter((pl.col("subject") == video) & (pl.col("frame") == frame))
        assert row["face_found"].item() and row["crop"].item() == data
    without = faces.filter(pl.col("frame") == SKIPPED + 1)
    assert not without["face_found"].any()  # frame 4 of the cropped videos, and every frame of the others
    assert faces.filter(pl.col("face_found"))["subject"].n_unique() == 2
