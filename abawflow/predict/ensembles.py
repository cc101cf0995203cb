"""Ensembles (papers 001, 002, 004): a weighted average of several models' per-frame outputs.

VA values are averaged as they are; EXPR and AU probabilities are averaged before the
decision (argmax, threshold), so the ensemble decides on the mean belief of its members. The weights are
fixed (typed in, or equal), or chosen on the validation videos by greedy forward selection, cross-fitted
so that each validation video is predicted with weights chosen without it.
"""

import numpy as np
import polars as pl

from abawflow.challenges.submission import output_columns
from abawflow.core.errors import ConfigError

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

    def average(self, weights, rows=None):
        """The prediction table of ``rows`` (a boolean mask; all by default) averaged with ``weights``: one
        weight per member, or one row of member weights per frame of ``rows``."""
        rows = np.ones(self.keys.height, bool) if rows is None else rows
        weights = np.asarray(weights, np.float64)
        weights = np.broadcast_to(weights / weights.sum(axis=-1, keepdims=True), (int(rows.sum()), len(self.values)))
        values = np.einsum("fm,mfc->fc", weights, self.values[:, rows])
        return self.keys.filter(pl.Series(rows)).with_columns(
            [pl.Series(column, values[:, k].astype(np.float32)) for k, column in enumerate(self.columns)]
        )


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


def chosen_on_validation(challenge, annotated, outputs, names, folds, rounds, combine=None):
    """``outputs`` (``MemberOutputs``) averaged with greedy weights chosen on the validation frames, cross-fitted:
    each group of validation videos (``validation_groups``) with the weights chosen on the others, so that no
    validation score rests on weights fitted on its own frames; the test frames with the weights chosen on
    every validation video. ``combine`` (optional) turns an average into the scored table (a cascade's second
    stage). Returns (the averaged table, the weights table: applied_to, videos, member, weight,
    score, the score where the weights were chosen)."""
    combine = combine or (lambda table: table)
    keys = outputs.keys
    validation = (keys["split"] == "validation").to_numpy()
    subjects = keys.filter(pl.col("split") == "validation")["subject"].unique().to_list()

    def choose(chosen_subjects):
        rows = validation & keys["subject"].is_in(chosen_subjects).to_numpy()
        labels = {task: table.filter(pl.col("subject").is_in(chosen_subjects)) for task, table in annotated.items()}
        counts, value = greedy_counts(
            lambda weights: challenge.score(labels, combine(outputs.average(weights, rows)))[0]["score"],
            len(names),
            rounds,
        )
        return counts / counts.sum(), value

    every, value = choose(subjects)
    frame_weights = np.tile(every, (keys.height, 1))
    rows = [("test", len(subjects), name, weight, value) for name, weight in zip(names, every, strict=True)]
    groups = validation_groups(subjects, folds)
    for index, group in enumerate(groups, 1):
        others = [subject for subject in subjects if subject not in group]
        weights, value = choose(others)
        frame_weights[validation & keys["subject"].is_in(group).to_numpy()] = weights
        label = f"validation group {index} of {len(groups)}: {', '.join(group)}"
        rows += [(label, len(others), name, weight, value) for name, weight in zip(names, weights, strict=True)]
    if not groups:
        rows = [("validation and test", *row[1:]) for row in rows]
    table = pl.DataFrame(rows, schema=WEIGHT_COLUMNS, orient="row")
    return combine(outputs.average(frame_weights)), table, bool(groups)


# applied_to: the frames the weights average; chosen_on_videos: how many validation videos chose them;
# chosen_score: their score there.
WEIGHT_COLUMNS = {
    "applied_to": pl.String,
    "chosen_on_videos": pl.Int64,
    "member": pl.String,
    "weight": pl.Float64,
    "chosen_score": pl.Float64,
}


def fixed_weights_table(names, weights):
    weights = np.asarray(weights, np.float64)
    rows = [("validation and test", 0, n, w, None) for n, w in zip(names, weights / weights.sum(), strict=True)]
    return pl.DataFrame(rows, schema=WEIGHT_COLUMNS, orient="row")
