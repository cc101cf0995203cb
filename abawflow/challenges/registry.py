"""The ABAW challenges, registered by the name their predictions and submission are filed under.

A challenge names its tasks (whose outputs one prediction table holds), the granularity of its labels,
the dataset it reads (abawflow/datasets/registry.py: where its index and feature tables are) and the writer of its
submission file. The VA, EXPR and AU challenges read
Aff-Wild2 (labels per video frame, one file per task); the MTL challenge reads s-Aff-Wild2 (labels per
sampled image, one file for the three tasks); the ERI challenge reads Hume-Reaction (seven intensities per
video, a CSV of one row per test sample) and the EMI challenge Hume-Vidmimic2 (six intensities per video, the
same kind of CSV); the A/H challenge reads BAH (one 0/1 per video, a trial file in the test list's order).
The prediction, ensemble and submission rules serve every registered challenge through the `task` wildcard
(docs/extending.md).
"""

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from abawflow.challenges.mtl import mtl_metrics, write_mtl_submission
from abawflow.challenges.per_video import video_outputs, write_trial_submission, write_video_submission
from abawflow.challenges.submission import write_task_submission
from abawflow.core.errors import SubmissionError


@dataclass(frozen=True)
class Challenge:
    name: str  # the `challenge` wildcard: its predictions, scores and submission (abawflow/plan/paths.py)
    tasks: tuple  # the tasks whose outputs its prediction tables hold, in column order
    granularity: str  # "frame" (every frame of a video), "image" (sampled, cropped images) or "video" (per video)
    dataset: str  # the dataset it reads (abawflow/datasets/registry.py)
    submission_index: str  # the index table its submission follows: splits (the test lists) or images
    writer: Callable  # (challenge, test predictions, submission index, path, layout, media table) -> None
    joint: bool = False  # one model is trained on all its tasks at once, under its name as training target
    combine: Callable | None = None  # several tasks: their metric dicts -> the challenge's metrics
    submission_suffix: str = "txt"  # results/submission/<name>.<suffix>
    submission_id: str = "{}"  # how a per-video submission writes a video's id (ERI: in brackets)
    submission_settings: tuple = ()  # keys of its dataset's config section that its writer takes

    def write_submission(self, predictions, index, path, layout="abaw5", media=None, settings=None):
        """``media``: the dataset's index of what stage one read (the subjects' frame counts, or the images);
        ``settings``: the values of ``submission_settings``."""
        self.writer(self, predictions, index, path, layout, media, **(settings or {}))

    def score(self, annotated, predictions, source="predictions"):
        """The challenge's metrics of validation ``predictions`` against ``annotated`` (task -> its annotated
        label rows): the task metrics (for several tasks, each prefixed by its task, and ``score``, their
        challenge combination), and the number of frames and videos scored."""
        from abawflow.challenges.submission import output_columns, table_thresholds
        from abawflow.tasks.specs import get_task

        scores, frames, videos = {}, 0, 0
        for task in self.tasks:
            spec = get_task(task)
            if self.granularity == "video":  # one label row per video: its frames' outputs averaged
                joined = annotated[task].join(video_outputs(predictions, task), on="subject", how="inner")
                expected = annotated[task].filter(pl.col("subject").is_in(predictions["subject"].implode()))
                if joined.height < expected.height:
                    raise SubmissionError(f"{source}: an annotated {task.upper()} validation video has no prediction")
            else:
                # Inner join on (subject, frame): annotation lines past a video's end have no prediction.
                joined = annotated[task].join(predictions, on=["subject", "frame"], how="inner")
            if self.granularity == "image":  # every annotated validation image must have its prediction
                expected = annotated[task].filter(pl.col("subject").is_in(predictions["subject"].unique().implode()))
                if joined.height < expected.height:
                    raise SubmissionError(
                        f"{source}: {expected.height - joined.height} annotated {task.upper()} validation images "
                        "have no prediction"
                    )
            scores[task] = spec.score_outputs(
                joined.select(spec.label_columns).to_numpy(),
                joined.select(output_columns(task)).to_numpy(),
                table_thresholds(task, predictions),
            )
            scored_frames = predictions.height if self.granularity == "video" else joined.height
            frames, videos = max(frames, scored_frames), max(videos, joined["subject"].n_unique())
        if len(self.tasks) == 1:
            return scores[self.tasks[0]], frames, videos
        return self.combine(scores), frames, videos


def _aff_wild2(task):
    return Challenge(
        task,
        (task,),
        "frame",
        "aff_wild2",
        "splits",
        write_task_submission,
    )


CHALLENGES = {
    challenge.name: challenge
    for challenge in (
        _aff_wild2("va"),
        _aff_wild2("expr"),
        _aff_wild2("au"),
        Challenge(
            "mtl",
            ("va", "expr", "au"),
            "image",
            "s_aff_wild2",
            "images",
            write_mtl_submission,
            joint=True,
            combine=mtl_metrics,
        ),
        Challenge(
            "eri",
            ("eri",),
            "video",
            "hume_reaction",
            "splits",
            write_video_submission,
            submission_suffix="csv",
            submission_id="[{}]",
        ),
        # EMI: six intensities per video, ids written as the label files give them (five digits, unbracketed).
        Challenge(
            "emi", ("emi",), "video", "hume_vidmimic2", "splits", write_video_submission, submission_suffix="csv"
        ),
        # A/H: one 0/1 per video, a trial file in the test list's order (video paths as ids, no header).
        Challenge(
            "ah",
            ("ah",),
            "video",
            "bah",
            "splits",
            write_trial_submission,
            submission_settings=("submission_probabilities",),
        ),
    )
}


def get_challenge(name):
    try:
        return CHALLENGES[name]
    except KeyError:
        raise KeyError(f"unknown challenge {name!r}; registered: {', '.join(CHALLENGES)}") from None
