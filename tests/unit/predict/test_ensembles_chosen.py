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


def test_fitted_weights_recover_a_mixture_and_stay_on_the_simplex():
    from abawflow.predict.ensembles import fitted_weights

    rng = np.random.default_rng(2)
    members = rng.uniform(-1, 1, (3, 400, 2))
    labels = 0.7 * members[0] + 0.3 * members[2]
    assert np.allclose(fitted_weights(members, labels), [0.7, 0.0, 0.3], atol=1e-3)
    # A member that only hurts gets no weight, never a negative one; nothing to fit gives equal weights.
    weights = fitted_weights(np.stack([labels, -labels]), labels)
    assert weights.tolist() == [1.0, 0.0] or np.allclose(weights, [1, 0], atol=1e-6)
    assert fitted_weights(members[:, :0], labels[:0]).tolist() == [1 / 3] * 3


def test_expr_labels_are_fitted_as_one_hot_and_mtl_gets_weights_per_task():
    from abawflow.challenges.submission import output_columns

    keys = pl.concat([frames(f"v{k}", "validation", 30) for k in range(3)])
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 8, keys.height)
    good, bad = np.eye(8)[truth] * 0.8 + 0.025, rng.dirichlet(np.ones(8), keys.height)
    tables = [
        keys.with_columns([pl.Series(c, v[:, k]) for k, c in enumerate(output_columns("expr"))]) for v in (bad, good)
    ]
    labels = keys.select("subject", "frame", pl.Series("expression", truth))
    outputs = MemberOutputs("expr", tables, ["bad", "good"])
    values, one_hot = outputs.labelled(get_challenge("expr"), {"expr": labels}, np.ones(keys.height, bool), "expr")
    assert values.shape == (2, 90, 8) and np.array_equal(one_hot, np.eye(8)[truth])
    averaged, weights, cross_fitted = chosen_on_validation(
        get_challenge("expr"), {"expr": labels}, outputs, ["bad", "good"], 3, 5, method="fitted"
    )
    assert cross_fitted and set(weights["weighting"]) == {"fitted"} and set(weights["task"]) == {"expr"}
    assert weights.filter(pl.col("member") == "good")["weight"].min() > 0.9
    # Per-task weights: each task's columns averaged with its own.
    va = [
        keys.with_columns(
            pl.Series("predicted_valence", np.full(90, v)), pl.Series("predicted_arousal", np.full(90, v))
        )
        for v in (0.0, 1.0)
    ]
    joint = [a.join(b.drop("split", "face_found"), on=["subject", "frame"]) for a, b in zip(va, tables, strict=True)]
    outputs = MemberOutputs(["va", "expr"], joint, ["first", "second"])
    averaged = outputs.average({"va": [1.0, 3.0], "expr": [1.0, 0.0]})
    assert np.allclose(averaged["predicted_valence"], 0.75) and np.allclose(averaged["probability_Anger"], bad[:, 1])


def test_the_chosen_weighting_is_the_best_cross_fitted_one_and_the_mean_with_one_video():
    from abawflow.predict.ensembles import best_weighting

    rng = np.random.default_rng(4)
    keys = pl.concat([frames(f"v{k}", "validation", 60) for k in range(4)] + [frames("t0", "test", 10)])
    truth = rng.uniform(-0.8, 0.8, (keys.height, 2))
    members = [truth + rng.normal(0, 0.3, truth.shape), truth + rng.normal(0, 0.3, truth.shape), -truth]
    tables = [
        keys.with_columns(pl.Series("predicted_valence", v[:, 0]), pl.Series("predicted_arousal", v[:, 1]))
        for v in members
    ]
    validation = keys["split"].to_numpy() == "validation"
    labels = keys.filter(pl.Series(validation)).select(
        "subject", "frame", pl.Series("valence", truth[validation, 0]), pl.Series("arousal", truth[validation, 1])
    )
    names, challenge = ["noisy", "other_noisy", "opposite"], get_challenge("va")
    averaged, weights, scores = best_weighting(
        challenge, {"va": labels}, MemberOutputs("va", tables, names), names, 2, 6
    )
    assert list(scores) == ["mean", "greedy", "fitted"] and scores["mean"] < min(scores["greedy"], scores["fitted"])
    assert weights["weighting"][0] == max(scores, key=scores.get)
    kept = challenge.score({"va": labels}, averaged.filter(pl.col("split") == "validation"))[0]["score"]
    assert kept == max(scores.values())
    one = keys.filter(pl.col("subject").is_in(["v0", "t0"]))
    single = [t.join(one, on=["subject", "frame"], how="semi") for t in tables]
    averaged, weights, scores = best_weighting(
        challenge, {"va": labels.filter(pl.col("subject") == "v0")}, MemberOutputs("va", single, names), names, 2, 6
    )
    assert (
        scores == {} and set(weights["weighting"]) == {"mean"} and set(weights["applied_to"]) == {"validation and test"}
    )


def test_a_video_level_challenge_is_fitted_on_each_video_s_mean_output():
    from abawflow.challenges.submission import output_columns
    from abawflow.tasks.specs import EMOTIONS

    keys = pl.concat([frames(f"s{k}", "validation", 5) for k in range(3)])
    rng = np.random.default_rng(5)
    values = [rng.uniform(0, 1, (15, 7)) for _ in range(2)]
    tables = [keys.with_columns([pl.Series(c, v[:, k]) for k, c in enumerate(output_columns("eri"))]) for v in values]
    truth = rng.uniform(0, 1, (3, 7))
    labels = pl.DataFrame({"subject": ["s0", "s1", "s2"], **{e: truth[:, k] for k, e in enumerate(EMOTIONS)}})
    outputs = MemberOutputs("eri", tables, ["a", "b"])
    per_video, labelled = outputs.labelled(get_challenge("eri"), {"eri": labels}, np.ones(15, bool), "eri")
    assert per_video.shape == (2, 3, 7) and np.allclose(per_video[1, 2], values[1][10:].mean(axis=0))
    assert np.allclose(labelled, truth)
