import numpy as np
import polars as pl
import pytest

from abawflow.ensembles import average_predictions
from abawflow.errors import ConfigError
from abawflow.submission import prediction_table


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
