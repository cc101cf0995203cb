import numpy as np
import polars as pl
import pytest

from abawflow.challenges.submission import prediction_table
from abawflow.core.errors import ConfigError
from abawflow.predict.ensembles import average_predictions, cascade_predictions


def table(task, values, frames=None):
    frames = np.arange(1, len(values) + 1) if frames is None else frames
    return prediction_table(task, "video1", "test", frames, np.ones(len(values), bool), np.asarray(values))


def test_an_ensemble_of_two_identical_models_equals_either():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(8), size=20)
    member = table("expr", probabilities)
    assert average_predictions("expr", [member, member]).equals(member)
    assert average_predictions("expr", [member, member], weights=[3, 1]).equals(member)


def test_weighted_average_of_values_and_order_independence():
    first = table("va", np.array([[0.2, 0.4], [0.0, -0.2]]))
    second = table("va", np.array([[0.6, 0.0], [0.3, 0.4]]))
    averaged = average_predictions("va", [first, second.reverse()], weights=[1, 3])  # rows in another order
    assert averaged["predicted_valence"].to_list() == pytest.approx([0.5, 0.225])
    assert averaged["predicted_arousal"].to_list() == pytest.approx([0.1, 0.25])


def test_members_must_cover_the_same_frames():
    first = table("va", np.zeros((3, 2)))
    second = table("va", np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="lstm's predictions cover other frames than transformer's"):
        average_predictions("va", [first, second], names=["transformer", "lstm"])
    with pytest.raises(ConfigError, match="weights"):
        average_predictions("va", [first, first], weights=[0, 0])
    assert isinstance(average_predictions("va", [first]), pl.DataFrame)


def test_an_mtl_ensemble_averages_all_three_tasks_columns():
    """The MTL challenge's prediction table holds VA, EXPR and AU outputs side by side; all are averaged."""
    from abawflow.predict.ensembles import KEYS

    rng = np.random.default_rng(1)

    def mtl_table():
        parts = [
            table("va", rng.uniform(-1, 1, (6, 2))),
            table("expr", rng.dirichlet(np.ones(8), 6)),
            table("au", rng.uniform(0, 1, (6, 12))),
        ]
        return pl.concat([parts[0], *(p.drop(KEYS) for p in parts[1:])], how="horizontal")

    first, second = mtl_table(), mtl_table()
    averaged = average_predictions(["va", "expr", "au"], [first, second])
    for column in ["predicted_valence", "probability_Anger", "probability_AU12"]:
        expected = (first[column].to_numpy() + second[column].to_numpy()) / 2
        assert averaged[column].to_numpy() == pytest.approx(expected, abs=1e-6), column
    assert averaged.columns == first.columns


@pytest.mark.parametrize("routing", ["hard", "soft"])
def test_a_cascade_of_two_networks_equals_the_one_head_cascade_with_their_weights(routing):
    # The two networks as paper 004 runs them, combined at prediction, against the light form: one head with both
    # classifiers (models.temporal.ExpressionCascadeHead) given the same weights decides every frame alike.
    import torch

    from models.temporal import ExpressionCascadeHead, ExpressionCoarseHead, ExpressionNegativeHead

    torch.manual_seed(0)
    x = torch.randn(200, 4) * 2
    one_head = ExpressionCascadeHead(4, 8, routing).eval()
    coarse, negative = ExpressionCoarseHead(4, 8), ExpressionNegativeHead(4, 8)
    coarse.coarse.load_state_dict(one_head.coarse.state_dict())
    negative.fine.load_state_dict(one_head.fine.state_dict())
    with torch.no_grad():
        expected = torch.softmax(one_head(x), -1).numpy()
        tables = [table("expr", torch.softmax(net(x), -1).numpy()) for net in (coarse, negative)]
    combined = cascade_predictions(*tables, routing=routing).select(pl.selectors.starts_with("probability_"))
    assert np.abs(combined.to_numpy() - expected).max() < 1e-5
    assert combined.to_numpy().sum(axis=1) == pytest.approx(np.ones(200), abs=1e-5)
    routed = one_head.coarse(x).argmax(dim=1) == 1
    assert 20 < routed.sum().item() < 180  # both branches are exercised


def test_a_cascade_takes_any_expr_tables_and_needs_the_same_frames():
    coarse = table(
        "expr", np.array([[0.1, 0.2, 0.2, 0.1, 0.3, 0.0, 0.1, 0.0], [0.6, 0.1, 0.0, 0.0, 0.2, 0.0, 0.1, 0.0]])
    )
    # A negative net's probabilities outside the negative group do not count.
    negative = table("expr", np.array([[0.5, 0.1, 0.1, 0.3, 0.0, 0.0, 0.0, 0.0], [0.0] * 8]))
    hard = cascade_predictions(coarse, negative).select(pl.selectors.starts_with("probability_")).to_numpy()
    assert hard[0] == pytest.approx([0, 0.2, 0.2, 0.6, 0, 0, 0, 0], abs=1e-6)  # group 0.5 beats happiness 0.3
    assert hard[1] == pytest.approx([0.6 / 0.9, 0, 0, 0, 0.2 / 0.9, 0, 0.1 / 0.9, 0], abs=1e-6)
    soft = cascade_predictions(coarse, negative, "soft").select(pl.selectors.starts_with("probability_")).to_numpy()
    assert soft[0] == pytest.approx([0.1, 0.1, 0.1, 0.3, 0.3, 0, 0.1, 0], abs=1e-6)
    assert soft[1] == pytest.approx([0.6, 0.025, 0.025, 0.025, 0.2, 0.025, 0.1, 0], abs=1e-6)  # uniform: no belief
    with pytest.raises(ConfigError, match="negative net's predictions cover other frames"):
        cascade_predictions(coarse, negative.head(1))
