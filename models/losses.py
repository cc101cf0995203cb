"""Task losses, registered by name. Each takes raw model outputs (frames, outputs), targets and a frame mask."""

import torch
import torch.nn.functional as F

from models.registry import create, register


def ccc_loss(prediction, target):
    """1 - CCC per column, averaged (population statistics, as the challenge metric)."""
    mean_p, mean_t = prediction.mean(0), target.mean(0)
    var_p, var_t = prediction.var(0, unbiased=False), target.var(0, unbiased=False)
    covariance = ((prediction - mean_p) * (target - mean_t)).mean(0)
    ccc = 2 * covariance / (var_p + var_t + (mean_p - mean_t) ** 2 + 1e-8)
    return (1 - ccc).mean()


@register("loss", "ccc_mse")
class CCCPlusMSE:
    """VA: (1 - CCC) + ``mse_weight`` * MSE on tanh-bounded outputs (paper 000, Eq. 5)."""

    def __init__(self, mse_weight=1.0):
        self.mse_weight = mse_weight

    def __call__(self, outputs, targets, mask):
        prediction, target = torch.tanh(outputs[mask]), targets[mask]
        return ccc_loss(prediction, target) + self.mse_weight * F.mse_loss(prediction, target)


@register("loss", "cross_entropy")
class CrossEntropy:
    """EXPR: cross-entropy over the 8 classes (paper 000, Eq. 6)."""

    def __call__(self, outputs, targets, mask):
        return F.cross_entropy(outputs[mask], targets[mask, 0].long())


@register("loss", "bce_with_logits")
class BinaryCrossEntropy:
    """AU: binary cross-entropy with logits, averaged over AUs and frames."""

    def __call__(self, outputs, targets, mask):
        return F.binary_cross_entropy_with_logits(outputs[mask], targets[mask])


def create_loss(name, **options):
    return create("loss", name, **options)
