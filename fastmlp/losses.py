"""Loss functions on model outputs.

``mse`` is the mean of squared errors over all elements and ``half_mse`` half
of it (scikit-learn's and the hand-worked tutorials' convention); ``bce`` is
binary cross-entropy averaged over all elements, on probabilities;
``cross_entropy`` sums over classes and averages over samples, on class
probabilities, with one-hot, probability or integer-index targets;
``poisson`` is the Poisson deviance term ``mu - y log(mu) + y log(y) - y``
of predicted means mu (scikit-learn's ``loss="poisson"``), averaged over all
elements, for targets y >= 0 (counts, rates).

When the model ends in Sigmoid (bce), Softmax (cross_entropy) or Exp
(poisson), training computes the loss from the logits and uses the fused
gradient (p - y), so saturated outputs never give NaN or inf.

>>> import numpy as np, fastmlp as fm
>>> loss = fm.get_loss("half_mse")
>>> loss.forward(np.array([[5.05]]), np.array([[4.0]]))
0.55125
"""

import numpy as np

from . import kernels as K
from .validation import as_matrix, as_targets, check_choice, float_dtype_of

NAMES = ("mse", "half_mse", "bce", "cross_entropy", "poisson")


def per_sample_mode(per_sample):
    """The engine's code (kernels.PER_ELEMENT, SUM_OVER_OUTPUTS or
    SUM_GRADIENT_OVER_OUTPUTS) for a checked per_sample: False, True or
    "gradient"."""
    if per_sample == "gradient":
        return K.SUM_GRADIENT_OVER_OUTPUTS
    return K.SUM_OVER_OUTPUTS if per_sample else K.PER_ELEMENT


def clip_epsilon(dtype):
    """The bound c of the probabilities computed in `dtype` wherever a log or
    a division by them could blow up: bce clips p to [c, 1 - c],
    cross_entropy and poisson clip p or mu below at c. 1e-7 for float32
    (Keras' epsilon: 1 - c still rounds below 1 in float32) and 1e-15 for
    float64. Only losses on probabilities use it; the fused forms on logits
    (Sigmoid+bce, Softmax+cross_entropy, Exp+poisson) never clip.

    The one home of this choice: the engine gets it through Loss, the numpy
    reference (fastmlp.reference) and the log-loss metric import it."""
    return 1e-7 if np.dtype(dtype) == np.float32 else 1e-15


def weight_total(sample_weight, n_rows):
    """What a batch's gradient and L2 penalty are divided by (scikit-learn's
    convention): the sum of its sample weights, or its number of rows when
    unweighted (sample_weight None, or empty as the engine takes it)."""
    if sample_weight is None or len(sample_weight) == 0:
        return n_rows
    return float(np.sum(sample_weight))


def l2_penalty(weight_matrices, alpha, total):
    """scikit-learn's L2 term of a batch: alpha / 2 * sum ||W||^2 over the
    weight matrices (biases are not penalised) / total, the batch's
    weight_total. Summed as scikit-learn sums it (one dot product per
    flattened matrix), so that the estimators report its numbers. The
    compiled engine adds the same term to its loss (kernels.backward_views)."""
    squares = 0.0
    for w in weight_matrices:
        flat = np.ravel(w)
        squares += float(np.dot(flat, flat))
    return 0.5 * alpha * squares / total
_KINDS = {"mse": K.MSE, "half_mse": K.HALF_MSE, "bce": K.BCE, "cross_entropy": K.CROSS_ENTROPY,
          "poisson": K.POISSON}
ALIASES = {"binary_crossentropy": "bce", "log_loss": "bce", "categorical_crossentropy": "cross_entropy",
           "ce": "cross_entropy", "squared_error": "half_mse"}


class Loss:
    """A loss by name: ``forward(pred, target) -> float`` and
    ``backward(pred, target) -> d loss / d pred``."""

    def __init__(self, name):
        name = ALIASES.get(name, name) if isinstance(name, str) else name
        self.name = check_choice(name, "loss", NAMES)
        self.kind = _KINDS[self.name]

    def check_model(self, model):
        """Raise ValueError when the model's outputs cannot be this loss's
        predictions: bce and cross_entropy need a Sigmoid or Softmax last layer
        (on any other output they take logs of numbers outside [0, 1], and
        training runs on without learning)."""
        if self.name in ("bce", "cross_entropy") and model.output_kind not in (K.SIGMOID, K.SOFTMAX):
            fix = "output='softmax'" if self.name == "cross_entropy" else "output='sigmoid'"
            raise ValueError(f"loss={self.name!r} needs probabilities in [0, 1], so the model's last layer must be "
                             f"Sigmoid or Softmax; it is {model.layers[-1]!r}. Build the model with {fix} "
                             f"(fm.MLP) or use loss='mse'.")
        if self.name == "poisson" and model.output_kind != K.EXP:
            raise ValueError(f"loss='poisson' needs predicted means exp(z) > 0, so the model's last layer must be "
                             f"Exp (the log link); it is {model.layers[-1]!r}. Build the model with "
                             f"output='exp' (fm.MLP) or use loss='mse'.")

    def _arrays(self, pred, target):
        pred = as_matrix(pred, "pred", float_dtype_of(pred))
        target = as_targets(target, "target", pred.dtype.type, pred.shape[0], pred.shape[1], loss=self.name)
        return pred, target

    def forward(self, pred, target):
        """Loss of predictions pred (n, k) against target (n, k) (or (n,) for one output)."""
        pred, target = self._arrays(pred, target)
        return float(K.loss_forward(self.kind, pred, target, clip_epsilon(pred.dtype)))

    __call__ = forward

    def backward(self, pred, target):
        """d loss / d pred, shape (n, k)."""
        pred, target = self._arrays(pred, target)
        dpred = np.empty_like(pred)
        K.loss_backward(self.kind, pred, target, clip_epsilon(pred.dtype), dpred)
        return dpred

    def __repr__(self):
        return f"get_loss({self.name!r})"


def get_loss(name):
    """Return the Loss for a name ("mse", "half_mse", "bce", "cross_entropy", "poisson");
    a Loss is returned as it is."""
    if isinstance(name, Loss):
        return name
    return Loss(name)
