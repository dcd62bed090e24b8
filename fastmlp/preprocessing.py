"""Preprocessing that belongs to a model: standardisation of the inputs and
the class labels of the outputs.

A :class:`Standardizer` learns each input column's mean and scale from the
training rows and maps raw inputs to ``(x - mean) / scale``. Attached to a
model (``model.standardizer``), it is applied by ``predict``, ``forward`` and
``loss_and_gradient``, saved in the model file, and shown by ``formula`` (in
the raw units of the columns) and ``trace``; a ``Trainer(standardize=True)``
fits one on the training split. :func:`encode_labels` turns class labels of
any kind (e.g. the strings of a CSV's target column) into class indices, the
classes in sorted order as scikit-learn's LabelEncoder does.

>>> import numpy as np
>>> from fastmlp.preprocessing import Standardizer, encode_labels
>>> s = Standardizer().fit(np.array([[1.0, 10.0], [3.0, 10.0]]))
>>> s.mean_.tolist(), s.scale_.tolist()
([2.0, 10.0], [1.0, 1.0])
>>> s.transform(np.array([[3.0, 12.0]])).tolist()
[[1.0, 2.0]]
>>> indices, classes = encode_labels(["virginica", "setosa", "virginica"])
>>> indices.tolist(), classes
([1, 0, 1], ['setosa', 'virginica'])
"""

import numbers

import numpy as np

from .validation import as_matrix, as_values, check_finite, describe


class Standardizer:
    """Per-column standardisation ``(x - mean_) / scale_``, as scikit-learn's
    StandardScaler: mean_ and scale_ (the population standard deviation; 1
    for a constant column, which is then only centred) are float64 arrays
    learned by :meth:`fit`, or given."""

    def __init__(self, mean=None, scale=None):
        if (mean is None) != (scale is None):
            raise ValueError("Standardizer needs both mean and scale, or neither (then call fit).")
        self.mean_ = self.scale_ = None
        if mean is not None:
            self.mean_ = as_values(mean, "mean", (np.size(mean),)).astype(np.float64)
            self.scale_ = as_values(scale, "scale", self.mean_.shape).astype(np.float64)
            if self.mean_.size == 0:
                raise ValueError("Standardizer mean and scale must hold at least one value.")
            if np.any(self.scale_ <= 0):
                i = int(np.argmax(self.scale_ <= 0))
                raise ValueError(f"Standardizer scale must be > 0 for every column; scale[{i}] is "
                                 f"{self.scale_[i]:g}.")

    @property
    def fitted(self):
        return self.mean_ is not None

    @property
    def n_features_in(self):
        return None if self.mean_ is None else int(self.mean_.size)

    def fit(self, X):
        """Learn mean_ and scale_ from the rows of X (n, d); returns self."""
        X = as_matrix(X, "X", np.float64)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        # A constant column (or one whose spread is lost in rounding) is only centred.
        tiny = std <= 10 * np.finfo(np.float64).eps * np.maximum(np.abs(self.mean_), 1.0)
        self.scale_ = np.where(tiny, 1.0, std)
        return self

    def transform(self, X, dtype=np.float64):
        """(X - mean_) / scale_ as a C-contiguous array of `dtype`. Computed in
        float64 and rounded once, so training and prediction see the same numbers."""
        if self.mean_ is None:
            raise ValueError("This Standardizer is not fitted yet; call fit(X) first.")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.mean_.size:
            raise ValueError(f"X has shape {X.shape}, but the Standardizer was fitted on "
                             f"{self.mean_.size} columns.")
        out = np.ascontiguousarray((X - self.mean_) / self.scale_, dtype=dtype)
        check_finite(out, "the standardized X")
        return out

    def inverse_transform(self, Z):
        """Raw units from standardized values: Z * scale_ + mean_ (float64)."""
        return np.asarray(Z, dtype=np.float64) * self.scale_ + self.mean_

    def config(self):
        """JSON form: {"mean": [...], "scale": [...]}."""
        return {"mean": self.mean_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_config(cls, cfg):
        if not isinstance(cfg, dict) or set(cfg) != {"mean", "scale"}:
            raise ValueError(f"a standardizer must be an object with exactly 'mean' and 'scale'; got "
                             f"{describe(cfg)}.")
        for key in ("mean", "scale"):
            values = cfg[key]
            if not isinstance(values, list) or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                                       for v in values):
                raise ValueError(f"the standardizer's {key} must be a list of numbers; got {describe(values)}.")
        if len(cfg["mean"]) != len(cfg["scale"]):
            raise ValueError(f"the standardizer has {len(cfg['mean'])} means but {len(cfg['scale'])} scales.")
        return cls(cfg["mean"], cfg["scale"])

    def fold_into(self, model):
        """A copy of `model` (without a standardizer) whose first Linear layer
        takes raw inputs: W' = W / scale, b' = b - (mean / scale) @ W. It
        computes the same function up to rounding; ``formula`` writes it in
        the raw units of the columns this way."""
        from .layers import Linear, layer_from_config
        from .model import Model
        if self.n_features_in != model.n_features_in:
            raise ValueError(f"the Standardizer has {self.n_features_in} columns, but the model has "
                             f"{model.n_features_in} inputs.")
        configs = [layer.config() for layer in model.layers]
        configs[0] = dict(configs[0], bias=True)
        folded = Model([layer_from_config(c) for c in configs], dtype=model.dtype, init="zeros")
        for src, dst in zip(model.layers, folded.layers):
            if isinstance(src, Linear):
                dst.weight[...] = src.weight
                if src.bias is not None:
                    dst.bias[...] = src.bias
        first, W = folded.layers[0], model.layers[0].weight.astype(np.float64)
        bias = np.zeros(W.shape[1]) if model.layers[0].bias is None else model.layers[0].bias.astype(np.float64)
        first.weight[...] = W / self.scale_[:, None]
        first.bias[...] = bias - (self.mean_ / self.scale_) @ W
        folded.classes = model.classes
        return folded

    def __eq__(self, other):
        return (isinstance(other, Standardizer) and self.fitted == other.fitted
                and (not self.fitted or (np.array_equal(self.mean_, other.mean_)
                                         and np.array_equal(self.scale_, other.scale_))))

    def __repr__(self):
        if not self.fitted:
            return "Standardizer()"
        return f"Standardizer(<{self.mean_.size} columns>)"


def encode_labels(values, name="y"):
    """Class indices for labels of any kind, and the classes in sorted order:
    ``encode_labels(["b", "a", "b"]) -> ([1, 0, 1], ["a", "b"])``. The classes
    come back as a list of Python strings or numbers (JSON-serialisable)."""
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one column of class labels; got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; at least one label is required.")
    if arr.dtype.kind == "O":
        kinds = {type(v) for v in arr.tolist()}
        if not (kinds <= {str} or all(issubclass(k, numbers.Real) and not issubclass(k, bool) for k in kinds)):
            raise TypeError(f"{name} must hold class labels that are all strings or all numbers; got "
                            f"{', '.join(sorted(k.__name__ for k in kinds))}.")
        arr = arr.astype(str) if kinds <= {str} else arr.astype(np.float64)
    if arr.dtype.kind == "f":
        check_finite(arr, name)
    classes, indices = np.unique(arr, return_inverse=True)
    return indices.astype(np.int64), classes.tolist()
