"""The multi-task-learning challenge on s-Aff-Wild2 (ABAW3/4/7): the MTL metric and the one-file submission.
The dataset's reader is abawflow.datasets.s_aff_wild2."""

import polars as pl

from abawflow.core.atomic import write_text
from abawflow.core.errors import DatasetLayoutError, SubmissionError

SUBMISSION_HEADER = "image,valence,arousal,expression,aus"


def mtl_score(scores):
    """(CCC_V + CCC_A) / 2 + F1_EXPR + F1_AU, from the per-task metric dicts."""
    return scores["va"]["score"] + scores["expr"]["score"] + scores["au"]["score"]


def mtl_metrics(scores):
    """The MTL challenge's table columns from the per-task metric dicts; ``score`` is the MTL score."""
    return {
        "ccc_valence": scores["va"]["ccc_valence"],
        "ccc_arousal": scores["va"]["ccc_arousal"],
        "va": scores["va"]["score"],
        "f1_expr": scores["expr"]["score"],
        "f1_au": scores["au"]["score"],
        "score": mtl_score(scores),
    }


def mtl_submission_text(predictions, test_images):
    """The MTL file: header, then ``<image>,<v>,<a>,<class>,<au1>,...,<au12>`` per test image, in list order.
    ``predictions``: image -> (valence, arousal, class index, 12 AU decisions)."""
    lines = [SUBMISSION_HEADER]
    for image in test_images:
        if image not in predictions:
            raise DatasetLayoutError(f"no MTL prediction for test image {image!r}")
        valence, arousal, expression, units = predictions[image]
        lines.append(f"{image},{valence:.6f},{arousal:.6f},{int(expression)},{','.join(str(int(u)) for u in units)}")
    return "\n".join(lines) + "\n"


def write_mtl_submission(challenge, predictions, images, path, layout="abaw5", media=None):
    """results/submission/mtl.txt from the test rows of a prediction table (the three tasks' outputs) and the
    image index; every output is checked finite and in range first (abawflow.challenges.submission.checked_outputs)."""
    from abawflow.challenges.submission import checked_outputs, output_columns, table_thresholds
    from abawflow.tasks.specs import get_task

    images = images.filter(pl.col("split") == "test").sort("position")
    rows = images.join(predictions, on=["subject", "frame"], how="left")
    missing = rows.filter(pl.col(output_columns("va")[0]).is_null())
    if missing.height:
        raise SubmissionError(f"no MTL prediction for test image {missing['image'][0]!r}. Nothing was written.")
    names = rows["image"].to_list()
    outputs = {
        task: checked_outputs(
            task, rows.select(output_columns(task)).to_numpy(), lambda row: f"test image {names[row]!r}"
        )
        for task in challenge.tasks
    }
    valence_arousal = get_task("va").decide(outputs["va"])
    expression = get_task("expr").decide(outputs["expr"])
    units = get_task("au").decide(outputs["au"], table_thresholds("au", predictions))
    decided = {
        image: (valence_arousal[k, 0], valence_arousal[k, 1], expression[k], units[k]) for k, image in enumerate(names)
    }
    write_text(path, mtl_submission_text(decided, images["image"].to_list()))
