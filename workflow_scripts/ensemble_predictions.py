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
    if weighting["name"] == "greedy":
        challenge = get_challenge(snakemake.wildcards.challenge)
        annotated = {task: table.filter(pl.col("annotated")) for task, table in zip(tasks, labels, strict=True)}
        outputs = MemberOutputs(tasks, tables, members)
        averaged, weights, cross_fitted = chosen_on_validation(
            challenge, annotated, outputs, members, weighting["folds"], weighting["rounds"], combine
        )
        if not cross_fitted:
            log.warning(
                "%s: a single validation video, so its weights are chosen on the frames they are scored on; "
                "its validation score flatters it",
                snakemake.wildcards.ensemble,
            )
        for (applied_to,), group in weights.group_by("applied_to", maintain_order=True):
            shares = ", ".join(f"{m} {w:.2f}" for m, w in group.select("member", "weight").rows() if w)
            log.info("%s: %s (score %.4f where chosen)", applied_to, shares, group["chosen_score"][0])
    else:
        averaged = combine(average_predictions(tasks, tables, snakemake.params.weights, members))
        weights = fixed_weights_table(members, snakemake.params.weights)
    for task, table in zip(tasks, labels, strict=True):
        averaged = postprocess(task, averaged, snakemake.params.postprocess, table)
    write_parquet(averaged, snakemake.output.predictions)
    write_csv(weights, snakemake.output.weights, float_precision=None)  # the bundle reads them back


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
