"""Rule ensemble_predictions: one challenge's member predictions -> their weighted average, and the weights."""

import logging

import polars as pl

from abawflow.challenges.registry import get_challenge
from abawflow.core.atomic import write_csv, write_parquet
from abawflow.core.rule_runner import run
from abawflow.predict.ensembles import (
    KEYS,
    MemberOutputs,
    average_predictions,
    best_weighting,
    cascade_predictions,
    chosen_on_validation,
    fixed_weights_table,
)
from abawflow.predict.postprocessing import postprocess

log = logging.getLogger("abawflow.predict.ensembles")


def main(snakemake):
    tasks, members, weighting = snakemake.params.tasks, snakemake.params.members, snakemake.params.weighting
    tables = [pl.read_parquet(path) for path in snakemake.input.members]
    labels = [pl.read_parquet(path) for path in snakemake.input.labels]
    combine = cascade_with(snakemake.params.cascade, snakemake.input.negative)
    if weighting["name"] == "fixed":
        averaged = combine(average_predictions(tasks, tables, snakemake.params.weights, members))
        weights = fixed_weights_table(tasks, members, snakemake.params.weights)
    else:
        averaged, weights = chosen(snakemake, tasks, tables, labels, combine)
    for task, table in zip(tasks, labels, strict=True):
        averaged = postprocess(task, averaged, snakemake.params.postprocess, table)
    write_parquet(averaged, snakemake.output.predictions)
    write_csv(weights, snakemake.output.weights, float_precision=None)  # the bundle reads them back


def chosen(snakemake, tasks, tables, labels, combine):
    """The members averaged with weights chosen on validation (weighting greedy, fitted or chosen: the best of
    those and the mean), and the weights table; each choice in the log."""
    weighting, members, name = snakemake.params.weighting, snakemake.params.members, snakemake.wildcards.ensemble
    challenge = get_challenge(snakemake.wildcards.challenge)
    annotated = {task: table.filter(pl.col("annotated")) for task, table in zip(tasks, labels, strict=True)}
    outputs = MemberOutputs(tasks, tables, members)
    arguments = (challenge, annotated, outputs, members, weighting["folds"], weighting["rounds"], combine)
    if weighting["name"] == "chosen":
        averaged, weights, scores = best_weighting(*arguments)
        compared = ", ".join(f"{method} {score:.4f}" for method, score in scores.items())
        log.info("%s: cross-fitted validation scores %s; %s kept", name, compared, weights["weighting"][0])
        cross_fitted = bool(scores)
    else:
        averaged, weights, cross_fitted = chosen_on_validation(*arguments, method=weighting["name"])
    if not cross_fitted:
        log.warning(
            "%s: a single validation video, so its weights cannot be chosen without the frames they are scored on; %s",
            name,
            "the mean is kept" if weighting["name"] == "chosen" else "its validation score flatters it",
        )
    for (applied_to, task), group in weights.group_by("applied_to", "task", maintain_order=True):
        shares = ", ".join(f"{m} {w:.2f}" for m, w in group.select("member", "weight").rows() if w)
        score = group["chosen_score"][0]
        log.info(
            "%s, %s: %s%s", applied_to, task, shares, "" if score is None else f" (score {score:.4f} where chosen)"
        )
    return averaged, weights


def cascade_with(cascade, negative_paths):
    """The second stage of a cascade (the coarse members' average -> the EXPR table), or nothing to do."""
    if not cascade:
        return lambda table: table
    negative = pl.read_parquet(negative_paths[0])
    log.info("cascade: the coarse members' average, then %s (%s routing)", cascade["negative"], cascade["routing"])

    def combine(table):
        return cascade_predictions(table, negative.join(table.select(KEYS), on=KEYS, how="semi"), cascade["routing"])

    return combine


run(snakemake, main)  # noqa: F821
