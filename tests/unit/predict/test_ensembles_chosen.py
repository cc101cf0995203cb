"""Ensemble weights chosen on validation: greedy forward selection with replacement, cross-fitted over
groups of validation videos."""

import numpy as np
import polars as pl

from abawflow.challenges.registry import get_challenge
from abawflow.predict.ensembles import MemberOutputs, chosen_on_validation, greedy_counts, validation_groups


def test_greedy_selection_starts_from_the_best_member_and_keeps_its_best_round():
    # Member 1 alone scores best; adding member 2 once helps; adding more of it does not.
    def score(counts):
        return -abs(counts[1] - 2 * counts[2]) - 0.1 * counts[0] + (counts[1] > 0)

    counts, value = greedy_counts(score, 3, rounds=6)
    assert counts.tolist() == [0, 2, 1] and value == 1.0
    assert greedy_counts(lambda counts: float("nan") if counts[0] else 1.0, 2, 3)[0].tolist() == [0, 1]


def test_validation_videos_are_dealt_into_groups_and_one_video_cannot_be_held_out():
    assert validation_groups(["c", "a", "b", "d", "e"], 2) == [["a", "c", "e"], ["b", "d"]]
    assert validation_groups(["b", "a"], 5) == [["a"], ["b"]]
    assert validation_groups(["a"], 5) == []


def frames(subject, split, count):
    return pl.DataFrame(
        {"subject": [subject] * count, "split": [split] * count, "frame": range(1, count + 1), "face_found": True}
    )


def test_weights_are_chosen_without_the_frames_they_predict_and_beat_the_mean():
    rng = np.random.default_rng(0)
    keys = pl.concat([frames(f"v{k}", "validation", 50) for k in range(4)] + [frames("t0", "test", 30)])
    truth = rng.uniform(-1, 1, (keys.height, 2))
    good = truth + rng.normal(0, 0.1, truth.shape)
    noise = rng.uniform(-1, 1, truth.shape)
    tables = [
        keys.with_columns(pl.Series("predicted_valence", v[:, 0]), pl.Series("predicted_arousal", v[:, 1]))
        for v in (noise, good, noise[::-1])
    ]
    labels = keys.filter(pl.col("split") == "validation").select(
        "subject", "frame", pl.Series("valence", truth[:200, 0]), pl.Series("arousal", truth[:200, 1])
    )
    challenge, names = get_challenge("va"), ["noise", "good", "other_noise"]
    outputs = MemberOutputs("va", tables, names)
    averaged, weights, cross_fitted = chosen_on_validation(challenge, {"va": labels}, outputs, names, 2, 5)
    assert cross_fitted and set(weights["applied_to"]) == {
        "test",
        "validation group 1 of 2: v0, v2",
        "validation group 2 of 2: v1, v3",
    }
    for _, group in weights.group_by("applied_to"):
        assert abs(group["weight"].sum() - 1) < 1e-9
        assert group.filter(pl.col("member") == "good")["weight"].item() == 1.0  # the noise adds nothing
    # Each frame's output is the good member's, as its weights say.
    good_table = tables[1].sort("subject", "frame")
    assert np.allclose(averaged["predicted_valence"].to_numpy(), good_table["predicted_valence"].to_numpy(), atol=1e-6)
    ensemble_score = challenge.score({"va": labels}, averaged.filter(pl.col("split") == "validation"))[0]["score"]
    mean_score = challenge.score({"va": labels}, outputs.average([1, 1, 1]).filter(pl.col("split") == "validation"))
    assert ensemble_score > mean_score[0]["score"] + 0.2


def test_a_cascade_chooses_its_coarse_weights_on_the_cascade_s_score():
    from abawflow.challenges.submission import output_columns
    from abawflow.predict.ensembles import KEYS, cascade_predictions

    rng = np.random.default_rng(1)
    keys = pl.concat([frames(f"v{k}", "validation", 40) for k in range(3)] + [frames("t0", "test", 20)])
    truth = rng.choice([0, 1, 2, 4], size=keys.height)  # neutral, anger, disgust, happiness

    def expr_table(probabilities):
        return keys.with_columns([pl.Series(c, probabilities[:, k]) for k, c in enumerate(output_columns("expr"))])

    # The coarse members see the negative group but not which negative class; the negative net knows it.
    group = np.isin(truth, [1, 2])
    coarse = [expr_table(rng.dirichlet(np.ones(8), keys.height) * 0.3 + 0.7 * np.eye(8)[np.where(group, 1, truth)])]
    coarse.append(expr_table(rng.dirichlet(np.ones(8), keys.height)))
    negative = expr_table(np.eye(8)[np.where(group, truth, 3)])
    labels = keys.with_columns(pl.Series("expression", truth)).filter(pl.col("split") == "validation")
    labels = labels.select("subject", "frame", "expression")
    names, challenge = ["informed", "noise"], get_challenge("expr")

    def combine(table):
        return cascade_predictions(table, negative.join(table.select(KEYS), on=KEYS, how="semi"))

    outputs = MemberOutputs("expr", coarse, names)
    averaged, weights, _ = chosen_on_validation(challenge, {"expr": labels}, outputs, names, 3, 4, combine)
    test_weights = weights.filter(pl.col("applied_to") == "test")
    assert test_weights.filter(pl.col("member") == "informed")["weight"].item() == 1.0
    # Scored through the cascade: the chosen score is the cascade's, not the coarse average's alone.
    validation = averaged.filter(pl.col("split") == "validation")
    cascaded = challenge.score({"expr": labels}, combine(coarse[0].filter(pl.col("split") == "validation")))
    alone = challenge.score({"expr": labels}, coarse[0].filter(pl.col("split") == "validation"))
    assert test_weights["chosen_score"][0] == cascaded[0]["score"] > alone[0]["score"] + 0.1
    expected = combine(coarse[0]).filter(pl.col("split") == "validation").sort("subject", "frame")
    columns = output_columns("expr")
    assert np.allclose(validation.sort("subject", "frame").select(columns), expected.select(columns), atol=1e-6)
