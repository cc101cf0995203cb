"""Ensembles (papers 001, 002, 004): a weighted average of several models' per-frame outputs.

VA values are averaged as they are; EXPR and AU probabilities are averaged before the
decision (argmax, threshold), so the ensemble decides on the mean belief of its members. The weights are
fixed (typed in, or equal), or chosen on the validation videos by greedy forward selection, cross-fitted
so that each validation video is predicted with weights chosen without it.
"""

import numpy as np
import polars as pl
from scipy.optimize import nnls

from abawflow.challenges.submission import output_columns
from abawflow.core.errors import ConfigError
from abawflow.tasks.specs import get_task

KEYS = ["subject", "split", "frame", "face_found"]


def average_predictions(tasks, tables, weights=None, names=None):
    """Weighted mean of the output columns of ``tasks`` (one task, or several in one table: the MTL
    challenge's) of prediction tables covering the same frames."""
    names = names or [f"member {index}" for index in range(len(tables))]
    weights = np.ones(len(tables)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(weights) != len(tables) or (weights < 0).any() or weights.sum() <= 0:
        raise ConfigError(f"ensemble weights {weights.tolist()} must be {len(tables)} non-negative numbers, not all 0")
    return MemberOutputs(tasks, tables, names).average(weights)


def cascade_predictions(coarse, negative, routing="hard"):
    """Paper 004's cascade (Sec. 3.2) of two EXPR prediction tables on the same frames: the coarse net's 8 class
    probabilities (the negative group's probability is the sum over anger, disgust, fear and sadness) and the
    negative net's, of which only those four classes count (renormalised). ``routing`` hard: a frame whose
    5-way coarse argmax is the group takes the negative distribution, any other frame the coarse one without
    the group (renormalised); soft: the group's probability shared by the negative distribution."""
    from models.temporal import COARSE_EXPRESSIONS, NEGATIVE_EXPRESSIONS

    columns = output_columns("expr")
    coarse, negative = coarse.sort(["subject", "frame"]), negative.sort(["subject", "frame"])
    if not negative.select(KEYS).equals(coarse.select(KEYS)):
        raise ConfigError("EXPR cascade: the negative net's predictions cover other frames than the coarse net's")
    p = coarse.select(columns).to_numpy().astype(np.float64)
    q = negative.select(columns).to_numpy().astype(np.float64)[:, NEGATIVE_EXPRESSIONS]
    total = q.sum(axis=1, keepdims=True)
    q = np.where(total > 0, q / np.where(total > 0, total, 1), 1 / len(NEGATIVE_EXPRESSIONS))
    group = p[:, NEGATIVE_EXPRESSIONS].sum(axis=1)
    others = [expression for expression in COARSE_EXPRESSIONS if expression is not None]
    result = np.zeros_like(p)
    if routing == "soft":
        result[:, others] = p[:, others]
        result[:, NEGATIVE_EXPRESSIONS] = group[:, None] * q
    else:
        five = np.stack([p[:, e] if e is not None else group for e in COARSE_EXPRESSIONS], axis=1)
        routed = five.argmax(axis=1) == COARSE_EXPRESSIONS.index(None)  # ties: the earlier class, as torch
        kept = p[:, others] / np.maximum(p[:, others].sum(axis=1, keepdims=True), 1e-12)
        result[np.ix_(~routed, others)] = kept[~routed]
        result[np.ix_(routed, NEGATIVE_EXPRESSIONS)] = q[routed]
    return coarse.with_columns([pl.Series(column, result[:, k].astype(np.float32)) for k, column in enumerate(columns)])


class MemberOutputs:
    """The members' output columns of ``tasks`` on the same frames, sorted by (subject, frame): ``keys`` (a
    table of KEYS) and ``values`` (members x frames x columns), for weighted averages of any of its rows."""

    def __init__(self, tasks, tables, names):
        self.tasks = [tasks] if isinstance(tasks, str) else list(tasks)
        self.columns = [column for task in self.tasks for column in output_columns(task)]
        self.keys = tables[0].select(KEYS).sort(["subject", "frame"])
        values = []
        for name, table in zip(names, tables, strict=True):
            table = table.sort(["subject", "frame"])
            if not table.select(KEYS).equals(self.keys):
                raise ConfigError(
                    f"{'/'.join(t.upper() for t in self.tasks)} ensemble: {name}'s predictions cover other frames "
                    f"than {names[0]}'s; members must predict the same videos"
                )
            values.append(table.select(self.columns).to_numpy().astype(np.float64))
        self.values = np.stack(values)

    def task_columns(self, task):
        """The positions of ``task``'s columns among ``columns``."""
        start = sum(len(output_columns(t)) for t in self.tasks[: self.tasks.index(task)])
        return slice(start, start + len(output_columns(task)))

    def average(self, weights, rows=None):
        """The prediction table of ``rows`` (a boolean mask; all by default) averaged with ``weights``: one
        weight per member, or one row of member weights per frame of ``rows``; or a dict of either per task."""
        rows = np.ones(self.keys.height, bool) if rows is None else rows
        by_task = weights if isinstance(weights, dict) else dict.fromkeys(self.tasks, weights)
        values = []
        for task in self.tasks:
            weights = np.asarray(by_task[task], np.float64)
            weights = np.broadcast_to(weights / weights.sum(-1, keepdims=True), (int(rows.sum()), len(self.values)))
            values.append(np.einsum("fm,mfc->fc", weights, self.values[:, rows][:, :, self.task_columns(task)]))
        values = np.concatenate(values, axis=1)
        return self.keys.filter(pl.Series(rows)).with_columns(
            [pl.Series(column, values[:, k].astype(np.float32)) for k, column in enumerate(self.columns)]
        )

    def labelled(self, challenge, annotated, rows, task):
        """(members x samples x columns, samples x columns): ``task``'s outputs on the annotated frames of
        ``rows`` (for a video-level challenge, each video's mean) and its labels as outputs (EXPR one-hot)."""
        spec = get_task(task)
        values = self.values[:, :, self.task_columns(task)]
        keys = self.keys.with_row_index("row").filter(pl.Series(rows))
        if challenge.granularity == "video":
            joined = keys.join(annotated[task], on="subject", how="inner")
            subjects = joined["subject"].unique(maintain_order=True).to_list()
            first = joined.unique("subject", keep="first", maintain_order=True)
            outputs = np.stack(
                [values[:, joined.filter(pl.col("subject") == s)["row"].to_numpy()].mean(axis=1) for s in subjects], 1
            )
        else:
            first = joined = keys.join(annotated[task], on=["subject", "frame"], how="inner")
            outputs = values[:, joined["row"].to_numpy()]
        labels = first.select(spec.label_columns).to_numpy().astype(np.float64)
        if spec.kind.has_classes:
            labels = np.eye(spec.head_size)[labels[:, 0].astype(np.int64)]
        return outputs, labels


def fitted_weights(outputs, labels):
    """Non-negative member weights summing to 1 that minimise the squared error of the weighted average against
    the labels (stacking, Breiman 1996): ``outputs`` members x samples x columns, ``labels`` samples x columns.
    Equal weights where there is nothing to fit."""
    members = len(outputs)
    if labels.size == 0:
        return np.full(members, 1 / members)
    design, target = outputs.reshape(members, -1).T, labels.reshape(-1)
    # The sum-to-1 constraint as one heavily weighted extra equation: NNLS keeps the weights non-negative.
    strength = 100.0 * np.sqrt(len(target))
    design = np.vstack([design, np.full((1, members), strength)])
    weights = nnls(design, np.append(target, strength))[0]
    return weights / weights.sum() if weights.sum() > 0 else np.full(members, 1 / members)


def greedy_counts(score, members, rounds):
    """Forward selection with replacement (Caruana et al., 2004): round 1 takes the member that scores best
    alone, each later round adds the member (again, if it is best) whose addition scores best; the counts of
    the best-scoring round are kept, so the result never scores below the best member where it is chosen.
    ``score(counts)`` -> the score of the members averaged with those weights (NaN counts as the worst)."""
    counts, best = np.zeros(members), (-np.inf, None)
    for _ in range(rounds):
        trials = []
        for member in range(members):
            trial = counts.copy()
            trial[member] += 1
            value = score(trial)
            trials.append((-np.inf if np.isnan(value) else value, -member, trial))
        value, _, counts = max(trials, key=lambda trial: trial[:2])  # ties: the earlier member
        if value > best[0]:
            best = (value, counts)
    return best[1] if best[1] is not None else np.ones(members), best[0]


def validation_groups(subjects, folds):
    """The validation videos dealt in sorted order into ``folds`` groups (fewer where there are fewer videos;
    none with a single video, which cannot be held out from itself)."""
    subjects = sorted(subjects)
    count = min(folds, len(subjects))
    return [subjects[group::count] for group in range(count)] if count > 1 else []


def chosen_on_validation(challenge, annotated, outputs, names, folds, rounds, combine=None, method="greedy"):
    """``outputs`` (``MemberOutputs``) averaged with weights chosen on the validation frames by ``method``
    (greedy: forward selection on the challenge's score; fitted: least squares per task, ``fitted_weights``),
    cross-fitted: each group of validation videos (``validation_groups``) with the weights chosen on the others,
    so that no validation score rests on weights fitted on its own frames; the test frames with the weights
    chosen on every validation video. ``combine`` (optional) turns an average into the scored table (a
    cascade's second stage). Returns (the averaged table, the weights table (WEIGHT_COLUMNS), whether it is
    cross-fitted)."""
    combine = combine or (lambda table: table)
    keys = outputs.keys
    validation = (keys["split"] == "validation").to_numpy()
    subjects = keys.filter(pl.col("split") == "validation")["subject"].unique().to_list()

    def choose(chosen_subjects):
        rows = validation & keys["subject"].is_in(chosen_subjects).to_numpy()
        labels = {task: table.filter(pl.col("subject").is_in(chosen_subjects)) for task, table in annotated.items()}

        def score(weights):
            return challenge.score(labels, combine(outputs.average(weights, rows)))[0]["score"]

        if method == "fitted":
            weights = {task: fitted_weights(*outputs.labelled(challenge, labels, rows, task)) for task in outputs.tasks}
            return weights, score(weights)
        if method == "mean":
            return dict.fromkeys(outputs.tasks, np.full(len(names), 1 / len(names))), None
        counts, value = greedy_counts(score, len(names), rounds)
        return dict.fromkeys(outputs.tasks, counts / counts.sum()), value

    def rows_of(label, videos, weights, value):
        return [
            (label, videos, method, task, name, float(weight), value)
            for task in outputs.tasks
            for name, weight in zip(names, weights[task], strict=True)
        ]

    every, value = choose(subjects)
    frame_weights = {task: np.tile(every[task], (keys.height, 1)) for task in outputs.tasks}
    rows = rows_of("test", len(subjects) if method != "mean" else 0, every, value)
    groups = validation_groups(subjects, folds) if method != "mean" else []
    for index, group in enumerate(groups, 1):
        others = [subject for subject in subjects if subject not in group]
        weights, value = choose(others)
        held_out = validation & keys["subject"].is_in(group).to_numpy()
        for task in outputs.tasks:
            frame_weights[task][held_out] = weights[task]
        rows += rows_of(f"validation group {index} of {len(groups)}: {', '.join(group)}", len(others), weights, value)
    if not groups:
        rows = [("validation and test", *row[1:]) for row in rows]
    table = pl.DataFrame(rows, schema=WEIGHT_COLUMNS, orient="row")
    return combine(outputs.average(frame_weights)), table, bool(groups) or method == "mean"


# The candidates of weighting: chosen, in the order ties go.
CANDIDATE_WEIGHTINGS = ("mean", "greedy", "fitted")


def best_weighting(challenge, annotated, outputs, names, folds, rounds, combine=None):
    """Each of CANDIDATE_WEIGHTINGS cross-fitted as ``chosen_on_validation`` does, and the one whose cross-fitted
    validation score is best (the mean where a single validation video leaves nothing to hold out). Returns
    (its averaged table, its weights table, {weighting: cross-fitted validation score})."""
    results, scores = {}, {}
    for method in CANDIDATE_WEIGHTINGS:
        results[method] = chosen_on_validation(challenge, annotated, outputs, names, folds, rounds, combine, method)
        if not results[method][2]:
            return (*results["mean"][:2], {})
        validation = results[method][0].filter(pl.col("split") == "validation")
        scores[method] = challenge.score(annotated, validation)[0]["score"]
    best = max(
        CANDIDATE_WEIGHTINGS,
        key=lambda method: (np.nan_to_num(scores[method], nan=-np.inf), -CANDIDATE_WEIGHTINGS.index(method)),
    )
    return (*results[best][:2], scores)


# applied_to: the frames the weights average; chosen_on_videos: how many validation videos chose them;
# weighting: the method that chose them; chosen_score: their score there.
WEIGHT_COLUMNS = {
    "applied_to": pl.String,
    "chosen_on_videos": pl.Int64,
    "weighting": pl.String,
    "task": pl.String,
    "member": pl.String,
    "weight": pl.Float64,
    "chosen_score": pl.Float64,
}


def fixed_weights_table(tasks, names, weights):
    weights = np.asarray(weights, np.float64) / np.sum(weights)
    tasks = [tasks] if isinstance(tasks, str) else tasks
    rows = [
        ("validation and test", 0, "fixed", t, n, w, None) for t in tasks for n, w in zip(names, weights, strict=True)
    ]
    return pl.DataFrame(rows, schema=WEIGHT_COLUMNS, orient="row")
