"""Model: a stack of layers over one flat parameter buffer.

All parameters live in ``model.params`` (one contiguous float32 or float64
array) and all gradients in ``model.grads``; every layer's ``weight``,
``bias``, ``grad_weight`` and ``grad_bias`` is a view into them. The int64
``model.layout`` table tells the compiled kernels where each layer's
parameters are, so one compiled engine serves models of any depth.
``model.grads`` holds the gradient of the last ``loss_and_gradient`` or
``backward`` call; training uses it as its scratch buffer, and after a
plain-SGD fit it holds no complete gradient (each Linear layer's weights are
updated inside its weight product, which never writes the gradient).

Two optional parts map raw data to and from the network: ``standardizer``
(a ``fastmlp.preprocessing.Standardizer`` applied to the inputs by predict,
forward and loss_and_gradient) and ``classes`` (the labels of a classifier's
classes, which ``predict_labels`` returns). Both are saved with the model.
"""

import warnings

import numpy as np

from . import kernels as K
from .init import get as get_init
from .layers import ACTIVATIONS, HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, Layer, Linear, Softmax, layer_from_config
from .losses import clip_epsilon, get_loss, per_sample_mode
from .validation import (SparseRows, as_matrix, as_sample_weight, as_targets, check_choice,
                         check_classes, check_dtype, check_feature_names, check_float, check_int, check_per_sample,
                         check_seed, feature_names_of)

PREDICT_BLOCK = 512


def input_arrays(X, dtype):
    """The kernels' input arguments (X, indptr, indices, data) for a checked
    input: a dense X with None for the CSR arrays, or None for X with the CSR
    arrays of SparseRows (the kernels compile only the code of the kind they
    are given)."""
    if isinstance(X, SparseRows):
        return None, X.indptr, X.indices, X.data
    return X, None, None, None


def engine_weights(W):
    """The kernels' sample weights: W (n,) float64, or None for an unweighted
    call (W None or empty, the Python side's form of 'no weights')."""
    return None if W is None or W.shape[0] == 0 else W


class Model:
    """A feed-forward network, with an optional input standardizer and class labels.

    Parameters
    ----------
    layers : list of Layer
        The first layer must be Linear (it fixes the number of input features);
        a Softmax may only be last.
    dtype : float32 or float64
    seed : int or None
        Seeds the initialiser: the same seed gives the same weights.
    init : str or Initializer
        Default initialiser for Linear layers without explicit weights
        ("xavier", "he", "normal", "uniform", "zeros").

    Example
    -------
    >>> import numpy as np, fastmlp as fm
    >>> model = fm.Model([fm.Linear(2, 8), fm.ReLU(), fm.Linear(8, 1), fm.Sigmoid()],
    ...                  dtype=np.float32, seed=0)
    >>> model.predict(np.zeros((3, 2))).shape
    (3, 1)
    >>> model.classes = ["no", "yes"]
    >>> model.predict_labels(np.zeros((2, 2))).tolist()
    ['yes', 'yes']
    """

    # Class-level defaults: models pickled before these existed load without them.
    _standardizer = None
    _classes = None

    def __init__(self, layers, dtype=np.float64, seed=None, init="xavier"):
        self.dtype = check_dtype(dtype)
        layers = list(layers) if not isinstance(layers, Layer) else [layers]
        if not layers:
            raise ValueError("A Model needs at least one layer.")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a fastmlp layer (Linear, ReLU, ...); got {layer!r}.")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("The same layer object appears twice; create a new layer for each position.")
        for i, layer in enumerate(layers):
            # A layer's parameters are views into its model's buffer: shared by
            # two models, each would silently compute with the other's weights.
            if layer.model is not None:
                raise ValueError(f"layers[{i}] ({layer!r}) already belongs to another Model; create new layers "
                                 f"for this one, or use model.copy() for an independent copy.")
        if not isinstance(layers[0], Linear):
            raise ValueError(f"The first layer must be Linear (it fixes the number of input features); "
                             f"got {layers[0]!r}.")
        for i, layer in enumerate(layers[:-1]):
            if isinstance(layer, Softmax):
                raise ValueError(f"Softmax must be the last layer; it is at position {i} of {len(layers)}.")
        self.init = get_init(init)
        self.seed = check_seed(seed)
        self.layers = layers
        # The column names of the data frame the model was trained on (set by
        # Trainer.fit and kept in model files); None when trained on arrays.
        self.feature_names_in_ = None

        rows = []
        offset = 0
        width = layers[0].in_features
        for i, layer in enumerate(layers):
            if isinstance(layer, Linear):
                if layer.in_features != width:
                    raise ValueError(f"Layer sizes do not chain: layers[{i}] is {layer!r}, which expects "
                                     f"{layer.in_features} inputs, but the previous layer gives {width}.")
                w_off = offset
                offset += layer.in_features * layer.out_features
                b_off = -1
                if layer.has_bias:
                    b_off = offset
                    offset += layer.out_features
                rows.append((K.LINEAR, width, layer.out_features, w_off, b_off))
                width = layer.out_features
            else:
                rows.append((layer.kind, width, width, -1, -1))
        self.layout = np.array(rows, dtype=np.int64).reshape(-1, K.LAYOUT_COLS)
        self.params = np.zeros(offset, dtype=self.dtype)
        self.grads = np.zeros(offset, dtype=self.dtype)
        self._bind_layers(np.random.default_rng(seed))

    def _bind_layers(self, rng=None):
        """Make every layer's parameters views into the flat buffers and, given
        a Generator, initialise them in layer order."""
        for layer, row in zip(self.layers, self.layout):
            layer.bind(self, int(row[K.L_W]), int(row[K.L_B]))
            if rng is not None:
                layer.initialise(rng, self.init)

    # -- shape information ---------------------------------------------------
    @property
    def n_features_in(self):
        return int(self.layout[0, K.L_IN])

    @property
    def n_outputs(self):
        return int(self.layout[-1, K.L_OUT])

    @property
    def n_params(self):
        return int(self.params.size)

    @property
    def sizes(self):
        """Widths of the input and of every Linear output, e.g. [2, 8, 1]."""
        return [self.n_features_in] + [l.out_features for l in self.layers if isinstance(l, Linear)]

    @property
    def output_kind(self):
        """Kind of the last layer (a kernels constant)."""
        return int(self.layout[-1, K.L_KIND])

    # -- preprocessing and labels ------------------------------------------------
    @property
    def standardizer(self):
        """None, or the fitted Standardizer applied to every input X before the
        first layer (see fastmlp.preprocessing)."""
        return self._standardizer

    @standardizer.setter
    def standardizer(self, value):
        from .preprocessing import Standardizer
        if value is not None:
            if not isinstance(value, Standardizer):
                raise TypeError(f"The 'standardizer' parameter must be None or a fastmlp Standardizer. "
                                f"Got {type(value).__name__}.")
            if not value.fitted:
                raise ValueError("The 'standardizer' parameter must be fitted (Standardizer().fit(X)).")
            if value.n_features_in != self.n_features_in:
                raise ValueError(f"The 'standardizer' parameter was fitted on {value.n_features_in} columns, "
                                 f"but the model has {self.n_features_in} inputs.")
        self._standardizer = value

    @property
    def n_classes(self):
        """2 for a Sigmoid with one output, k for a Softmax with k, else None."""
        if self.output_kind == K.SOFTMAX:
            return self.n_outputs
        if self.output_kind == K.SIGMOID and self.n_outputs == 1:
            return 2
        return None

    @property
    def classes(self):
        """None, or a list with the label of each class ("setosa", ...) that
        predict_labels returns; for a Sigmoid output, [negative, positive]."""
        return self._classes

    @classes.setter
    def classes(self, value):
        if value is not None and self.n_classes is None:
            raise ValueError(f"The 'classes' parameter applies to classifiers (a Softmax, or a Sigmoid with one "
                             f"output); this model ends in {self.layers[-1]!r}.")
        self._classes = check_classes(value, self.n_classes)

    def _network_input(self, X, name="X", accept_sparse=False):
        """X checked, then standardized when the model has a standardizer."""
        X = self.check_input(X, name, accept_sparse=accept_sparse)
        if self._standardizer is not None:
            if isinstance(X, SparseRows):
                raise ValueError(f"{name} is sparse, but this model standardizes its inputs, and centring them "
                                 "would make a sparse X dense; give a dense array, or train without "
                                 "standardize.")
            X = self._standardizer.transform(X, self.dtype)
        return X

    # -- computation -----------------------------------------------------------
    def check_input(self, X, name="X", accept_sparse=False):
        """Validate X for this model and return it normalised for the kernels;
        with accept_sparse, a scipy sparse X becomes validation.SparseRows."""
        return as_matrix(X, name, self.dtype, n_features=self.n_features_in, accept_sparse=accept_sparse)

    def check_feature_names(self, X, reset=False, name="X"):
        """Check a data frame's column names against feature_names_in_ as
        scikit-learn does (other names or another order: ValueError; names
        on one side only: a warning); name is the argument X came as.
        reset=True (training) records them when the model has none yet."""
        if reset and self.feature_names_in_ is None:
            self.feature_names_in_ = feature_names_of(X)
            return
        check_feature_names(self.feature_names_in_, X, name=name)

    def check_target(self, y, n_rows, loss=None, name="y"):
        """Validate targets for this model and loss; returns (n_rows, n_outputs)."""
        return as_targets(y, name, self.dtype, n_rows, self.n_outputs, loss=loss)

    def predict(self, X):
        """Outputs for X (n, n_features_in) -> (n, n_outputs), inference only:
        nothing is kept for backward. X may be a scipy sparse matrix: the
        first layer then reads its rows in place, never densified."""
        self.check_feature_names(X)
        return self._predict(X)

    def predict_positional(self, X):
        """predict without the check of a frame's column names: for callers
        that have put the columns in the model's order themselves (the
        command line matches them by name, plots evaluate grids)."""
        return self._predict(X)

    def _predict(self, X):
        X = self._network_input(X, accept_sparse=True)
        out = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
        Xd, indptr, indices, data = input_arrays(X, self.dtype)
        K.predict_into(self.params, self.layout, Xd, indptr, indices, data, out, PREDICT_BLOCK)
        if not np.isfinite(out).all():  # finite inputs, yet an overflow inside: say so
            bad = int((~np.isfinite(out)).sum())
            values = X.data if isinstance(X, SparseRows) else X
            largest = float(np.abs(values).max()) if values.size else 0.0
            warnings.warn(f"predict produced {bad} NaN or infinite output value{'s' if bad > 1 else ''}: "
                          f"an activation overflowed {np.dtype(self.dtype).name} (largest |X| is "
                          f"{largest:.3g}). Scale the inputs or use float64.",
                          RuntimeWarning, stacklevel=3)
        return out

    __call__ = predict

    def predict_labels(self, X):
        """The predicted class of each row of X: an array of the model's
        ``classes`` when it has them, else class indices (0/1 for a Sigmoid
        output, the most probable of k for a Softmax)."""
        from .tasks import predicted_labels
        k = self.n_classes
        if k is None:
            raise ValueError(f"predict_labels needs a classifier (a Softmax, or a Sigmoid with one output); this "
                             f"model ends in {self.layers[-1]!r}. Use predict for its values.")
        indices = predicted_labels("multiclass" if self.output_kind == K.SOFTMAX else "binary", self.predict(X))
        return indices if self._classes is None else np.asarray(self._classes)[indices]

    def forward(self, X):
        """Outputs for X, layer by layer, keeping what backward() needs."""
        self.check_feature_names(X)
        out = self._network_input(X)
        for layer in self.layers:
            out = layer.forward_unchecked(out)
        self._last_rows = out.shape[0]
        return out

    def backward(self, dout):
        """Back-propagate dout = d loss / d output (n, n_outputs) through the
        last forward(); fills every layer's grad_weight and grad_bias and
        returns d loss / d X."""
        if getattr(self, "_last_rows", None) is None:
            raise RuntimeError("Model.backward() was called before forward(); run forward(X) first.")
        dout = as_matrix(dout, "dout", self.dtype)
        if dout.shape != (self._last_rows, self.n_outputs):
            raise ValueError(f"dout has shape {dout.shape}, but the last forward() produced "
                             f"({self._last_rows}, {self.n_outputs}).")
        for layer in reversed(self.layers):
            dout = layer.backward_unchecked(dout)
        if self._standardizer is not None:     # d x_std / d x = 1 / scale
            dout = np.ascontiguousarray(dout / self._standardizer.scale_, dtype=self.dtype)
        return dout

    def loss_and_gradient(self, X, y, loss="mse", alpha=0.0, per_sample=False, sample_weight=None):
        """Full-batch loss (float) of the model on (X, y), with its gradient
        written into ``model.grads``. Uses the same compiled path as training,
        including the fused Sigmoid+bce, Softmax+cross-entropy and Exp+poisson
        forms. per_sample=True sums mse/half_mse/bce/poisson over outputs
        (scikit-learn); "gradient" sums in the gradient only and returns the
        loss averaged over outputs (see Trainer). sample_weight (None, a number or one weight >= 0 per
        sample) makes the loss the weighted average and divides the gradient
        and the penalty by the weight sum, as scikit-learn does. X may be a
        scipy sparse matrix."""
        lossobj = get_loss(loss)
        lossobj.check_model(self)
        self.check_feature_names(X)
        X = self._network_input(X, accept_sparse=True)
        Y = self.check_target(y, X.shape[0], loss=lossobj.name)
        alpha = check_float(alpha, "alpha", low=0, low_inclusive=True)
        per_sample = per_sample_mode(check_per_sample(per_sample))
        W = as_sample_weight(sample_weight, X.shape[0])
        W = None if W is None or np.all(W == 1.0) else W
        Xd, indptr, indices, data = input_arrays(X, self.dtype)
        return float(K.loss_and_gradient(self.params, self.grads, self.layout, lossobj.kind, Xd, indptr, indices,
                                         data, Y, W, clip_epsilon(self.dtype), alpha, per_sample))

    # -- pickling: rebuild the layer views into the flat buffers ---------------
    def __getstate__(self):
        state = self.__dict__.copy()
        state["layers"] = [l.config() for l in self.layers]
        state.pop("_last_rows", None)
        return state

    def __setstate__(self, state):
        configs = state.pop("layers")
        # joblib may hand back read-only memory maps; the kernels write in place.
        for key in ("params", "grads"):
            state[key] = np.require(state[key], requirements=["C", "W", "A"])
        state.setdefault("feature_names_in_", None)
        self.__dict__.update(state)
        self.layers = [layer_from_config(c) for c in configs]
        self._bind_layers()

    # -- utilities ---------------------------------------------------------------
    def copy(self):
        """An independent model with the same layers and parameters."""
        clone = Model([layer_from_config(l.config()) for l in self.layers], dtype=self.dtype,
                      init="zeros")
        clone.params[...] = self.params
        clone.init = self.init
        clone.seed = self.seed
        if self._standardizer is not None:
            clone._standardizer = type(self._standardizer)(self._standardizer.mean_, self._standardizer.scale_)
        clone._classes = None if self._classes is None else list(self._classes)
        clone.feature_names_in_ = None if self.feature_names_in_ is None else self.feature_names_in_.copy()
        return clone

    def summary(self):
        """A table of the layers, their output widths and parameter counts."""
        lines = [f"Model ({np.dtype(self.dtype).name}, {self.n_params} parameters)"]
        if self._standardizer is not None:
            lines.append(f"      standardizes its {self.n_features_in} inputs first")
        for i, (layer, row) in enumerate(zip(self.layers, self.layout)):
            count = layer.n_params if isinstance(layer, Linear) else 0
            lines.append(f"  {i:>2}  {layer!r:<24} -> {int(row[K.L_OUT]):>5}   {count:>8} params")
        return "\n".join(lines)

    def __repr__(self):
        inner = ", ".join(repr(l) for l in self.layers)
        return f"Model([{inner}], dtype={np.dtype(self.dtype).name})"

    def save(self, path, trainer=None, history=None):
        """Write the model to a .npz file with no pickled data (see fastmlp.modelfile)."""
        # fastmlp.modelfile builds on this module (it reads models into Model
        # objects), so it is imported when a model is saved, not with this module.
        from .modelfile import save
        save(self, path, trainer=trainer, history=history)


def MLP(sizes, activation="relu", output="identity", dtype=np.float64, seed=None, init="xavier", bias=True):
    """Build a Model from layer widths: ``MLP([2, 8, 1], activation="relu",
    output="sigmoid")`` is Linear(2, 8), ReLU, Linear(8, 1), Sigmoid.

    activation: "relu", "sigmoid", "tanh" or "identity" between Linear layers;
    output: "identity", "sigmoid", "softmax", "relu", "tanh" or "exp" (a
    Poisson regression's log link) after the last one.
    """
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"sizes must be a list of layer widths, e.g. [2, 8, 1]; got {sizes!r}.")
    sizes = [check_int(s, f"sizes[{i}]", low=1) for i, s in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least the input and output widths, e.g. [2, 8, 1]; got {sizes}.")
    activation = check_choice(activation, "activation", HIDDEN_ACTIVATIONS)
    output = check_choice(output, "output", OUTPUT_ACTIVATIONS)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(Linear(sizes[i], sizes[i + 1], bias=bias))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    if output != "identity":
        layers.append(ACTIVATIONS[output]())
    return Model(layers, dtype=dtype, seed=seed, init=init)
