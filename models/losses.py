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


@register("loss", "negative_cross_entropy")
class NegativeCrossEntropy:
    """EXPR's negative net (paper 004, Sec. 3.2): cross-entropy over anger, disgust, fear and sadness on the
    frames labelled one of them; other frames do not count (0 where a batch has none)."""

    def __call__(self, outputs, targets, mask):
        from models.temporal import NEGATIVE_EXPRESSIONS

        negative = torch.as_tensor(NEGATIVE_EXPRESSIONS, device=outputs.device)
        classes = targets[mask, 0].long()
        chosen = (classes[:, None] == negative).any(dim=1)
        if not chosen.any():
            return outputs.sum() * 0.0
        scores = outputs[mask][chosen][:, negative]
        return F.cross_entropy(scores, (classes[chosen, None] == negative).long().argmax(dim=1))


@register("loss", "bce_with_logits")
class BinaryCrossEntropy:
    """AU: binary cross-entropy with logits, averaged over AUs and frames."""

    def __call__(self, outputs, targets, mask):
        return F.binary_cross_entropy_with_logits(outputs[mask], targets[mask])


@register("loss", "intensity_mse_ce")
class IntensityMSEPlusTopClass:
    """ERI (paper 002, Eq. 8): alpha * MSE of the sigmoid intensities + beta * cross-entropy of the raw outputs
    against the emotion of highest intensity (each sample's labels peak at exactly 1.0)."""

    def __init__(self, alpha=1.0, beta=0.01):
        self.alpha, self.beta = alpha, beta

    def __call__(self, outputs, targets, mask):
        outputs, targets = outputs[mask], targets[mask]
        regression = F.mse_loss(torch.sigmoid(outputs), targets)
        return self.alpha * regression + self.beta * F.cross_entropy(outputs, targets.argmax(dim=-1))


@register("loss", "sigmoid_mse")
class SigmoidMeanSquaredError:
    """Intensities in [0, 1] (EMI): mean squared error of the sigmoid outputs."""

    def __call__(self, outputs, targets, mask):
        return F.mse_loss(torch.sigmoid(outputs[mask]), targets[mask])


@register("loss", "mse")
class MeanSquaredError:
    """VA: mean squared error on tanh-bounded outputs (paper 000, Eq. 5)."""

    def __call__(self, outputs, targets, mask):
        return F.mse_loss(torch.tanh(outputs[mask]), targets[mask])


@register("loss", "ccc")
class ConcordanceLoss:
    """VA: 1 - CCC on tanh-bounded outputs, averaged over valence and arousal."""

    def __call__(self, outputs, targets, mask):
        return ccc_loss(torch.tanh(outputs[mask]), targets[mask])


@register("loss", "focal")
class FocalLoss:
    """EXPR: -alpha_t (1 - p_t)^gamma log p_t (paper 002, Eq. 9); ``alpha`` is one number or one per class."""

    def __init__(self, gamma=2.0, alpha=None):
        if not 0 <= gamma <= 5:
            raise ValueError(f"focal loss: gamma must be in [0, 5] (paper 002), got {gamma}")
        self.gamma = gamma
        self.alpha = alpha

    def __call__(self, outputs, targets, mask):
        log_probabilities = F.log_softmax(outputs[mask], dim=-1)
        classes = targets[mask, 0].long()
        log_p = log_probabilities.gather(1, classes[:, None])[:, 0]
        loss = -((1 - log_p.exp()) ** self.gamma) * log_p
        if self.alpha is not None:
            alpha = torch.as_tensor(self.alpha, dtype=loss.dtype, device=loss.device)
            loss = loss * (alpha[classes] if alpha.ndim else alpha)
        return loss.mean()


@register("loss", "weighted_asymmetric")
class WeightedAsymmetricLoss:
    """AU: -w_i [p log p^ + (1 - p) p^ log(1 - p^)] (paper 000, Eq. 7).

    The negative term is scaled by the predicted probability, so confident negatives cost little.
    ``w_i`` comes from the training occurrence rate of AU i: inverse rates, normalised to mean 1
    (rare AUs weigh more). ``fit`` sets them from the training labels unless ``weights`` is given.
    """

    def __init__(self, weights=None):
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)

    def fit(self, targets):
        """``targets``: (frames, AUs) 0/1 labels of the annotated training frames."""
        rates = torch.as_tensor(targets, dtype=torch.float32).mean(0).clamp_min(1e-3)
        inverse = 1.0 / rates
        self.weights = inverse / inverse.mean()
        return self

    def __call__(self, outputs, targets, mask):
        probabilities = torch.sigmoid(outputs[mask]).clamp(1e-6, 1 - 1e-6)
        target = targets[mask]
        terms = target * probabilities.log() + (1 - target) * probabilities * (1 - probabilities).log()
        weights = torch.ones(terms.shape[1]) if self.weights is None else self.weights
        return -(terms * weights.to(terms.device)).mean()


def create_loss(name, **options):
    return create("loss", name, **options)
