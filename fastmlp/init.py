"""Weight initialisers.

Each initialiser fills a Linear layer's weight (d_in, d_out) and bias (d_out,)
from a numpy random generator (a Generator, or the RandomState of
scikit-learn's estimators), weights first, so the same seed always gives the
same weights.

>>> import fastmlp as fm
>>> fm.init.get("normal", std=0.1)
Normal(std=0.1, mean=0.0)
"""

import numpy as np

from .validation import check_bool, check_choice, check_float

NAMES = ("xavier", "glorot", "he", "normal", "uniform", "zeros")


class Initializer:
    """Base class: `weights(rng, d_in, d_out)` and `bias(rng, d_in, d_out)`
    return float64 arrays of shapes (d_in, d_out) and (d_out,)."""

    def weights(self, rng, d_in, d_out):
        raise NotImplementedError

    def bias(self, rng, d_in, d_out):
        return np.zeros(d_out)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Xavier(Initializer):
    """Glorot uniform: weights from U(-a, a) with a = gain * sqrt(factor / (d_in + d_out)).

    The defaults (factor 6, zero biases) are Glorot and Bengio's, as PyTorch's
    ``xavier_uniform_`` and Keras' ``GlorotUniform``. With uniform_bias=True
    the biases are drawn from the same U(-a, a), right after the layer's
    weights. ``Xavier.sklearn(...)`` is scikit-learn's MLP initialisation.
    """

    def __init__(self, gain=1.0, factor=6.0, uniform_bias=False):
        self.gain = check_float(gain, "gain", low=0)
        self.factor = check_float(factor, "factor", low=0)
        self.uniform_bias = check_bool(uniform_bias, "uniform_bias")

    @classmethod
    def sklearn(cls, logistic=False):
        """scikit-learn's initialisation of MLPClassifier and MLPRegressor
        (their ``_init_coef``): weights, then biases, of each layer from
        U(-a, a) with a = sqrt(6 / (d_in + d_out)), or sqrt(2 / (d_in + d_out))
        when the hidden activation is the logistic sigmoid. Drawn from the
        estimator's RandomState, the numbers are scikit-learn's."""
        return cls(factor=2.0 if check_bool(logistic, "logistic") else 6.0, uniform_bias=True)

    def bound(self, d_in, d_out):
        """a: the weights (and uniform biases) lie in [-a, a)."""
        return self.gain * np.sqrt(self.factor / (d_in + d_out))

    def weights(self, rng, d_in, d_out):
        a = self.bound(d_in, d_out)
        return rng.uniform(-a, a, size=(d_in, d_out))

    def bias(self, rng, d_in, d_out):
        if not self.uniform_bias:
            return super().bias(rng, d_in, d_out)
        a = self.bound(d_in, d_out)
        return rng.uniform(-a, a, size=d_out)


class He(Initializer):
    """He (Kaiming) normal: N(0, 2 / d_in), as PyTorch's kaiming_normal_; zero biases."""

    def weights(self, rng, d_in, d_out):
        return rng.normal(0.0, np.sqrt(2.0 / d_in), size=(d_in, d_out))


class Normal(Initializer):
    """N(mean, std) for weights and biases alike, as in the hand-written tutorials."""

    def __init__(self, std=0.01, mean=0.0):
        self.std = check_float(std, "std", low=0)
        self.mean = check_float(mean, "mean")

    def weights(self, rng, d_in, d_out):
        return rng.normal(self.mean, self.std, size=(d_in, d_out))

    def bias(self, rng, d_in, d_out):
        return rng.normal(self.mean, self.std, size=d_out)


class Uniform(Initializer):
    """U(low, high) for weights and biases alike."""

    def __init__(self, low=-0.05, high=0.05):
        self.low = check_float(low, "low")
        self.high = check_float(high, "high")
        if self.high <= self.low:
            raise ValueError(f"Uniform needs low < high. Got low={low!r}, high={high!r}.")

    def weights(self, rng, d_in, d_out):
        return rng.uniform(self.low, self.high, size=(d_in, d_out))

    def bias(self, rng, d_in, d_out):
        return rng.uniform(self.low, self.high, size=d_out)


class Zeros(Initializer):
    """All zeros (useful for tests; a hidden layer started at zero cannot break symmetry)."""

    def weights(self, rng, d_in, d_out):
        return np.zeros((d_in, d_out))


def get(init="xavier", **kwargs):
    """Return an Initializer for a name ("xavier", "he", "normal", "uniform",
    "zeros"), passing keyword arguments such as std= or low=/high=; an
    Initializer instance is returned as it is."""
    if isinstance(init, Initializer):
        if kwargs:
            raise ValueError("Initializer arguments cannot be given with an Initializer instance.")
        return init
    name = check_choice(init, "init", NAMES)
    cls = {"xavier": Xavier, "glorot": Xavier, "he": He, "normal": Normal,
           "uniform": Uniform, "zeros": Zeros}[name]
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise TypeError(f"Bad arguments for init={name!r}: {exc}") from None
