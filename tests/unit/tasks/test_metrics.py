import numpy as np
import pytest
from sklearn.metrics import f1_score

from abawflow.tasks.metrics import ccc, macro_f1, mean_au_f1
from abawflow.tasks.specs import task_metrics


def test_ccc_hand_computed():
    # x mean 2, var 2/3; y mean 3, var 2/3; cov 2/3 -> 2*(2/3) / (2/3 + 2/3 + 1) = 4/7
    assert ccc([1, 2, 3], [2, 3, 4]) == pytest.approx(4 / 7)
    assert ccc([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert ccc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_ccc_uses_population_statistics():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    covariance = np.cov(x, y, ddof=0)[0, 1]
    expected = 2 * covariance / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
    assert ccc(x, y) == pytest.approx(expected)


def test_macro_f1_matches_scikit_learn_with_absent_classes():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 6, size=300)  # classes 6 and 7 never occur
    prediction = np.where(rng.random(300) < 0.6, truth, rng.integers(0, 8, size=300))
    expected = f1_score(truth, prediction, labels=list(range(8)), average="macro", zero_division=0)
    assert macro_f1(truth, prediction, 8) == pytest.approx(expected)


def test_mean_au_f1_matches_scikit_learn():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 2, size=(200, 12))
    prediction = rng.integers(0, 2, size=(200, 12))
    expected = np.mean([f1_score(truth[:, k], prediction[:, k], zero_division=0) for k in range(12)])
    assert mean_au_f1(truth, prediction) == pytest.approx(expected)


def test_task_metrics_scores():
    truth = np.array([[0.1, 0.2], [0.3, -0.1], [-0.5, 0.4]])
    scores = task_metrics("va", truth, truth)
    assert scores["score"] == pytest.approx(1.0)
    assert task_metrics("expr", np.arange(8), np.arange(8))["f1_macro"] == pytest.approx(1.0)
