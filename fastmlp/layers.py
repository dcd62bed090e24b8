"""Layer classes: thin Python objects that hold parameters and call kernels.

A layer's parameters become views into its Model's flat buffer once the layer
is part of a Model, so the fused engine and the layer objects always see the
same numbers. Weights are shaped (in_features, out_features); Linear computes
``x @ weight + bias``.

>>> import numpy as np, fastmlp as fm
>>> lin = fm.Linear(2, 2, bias=False, weight=np.array([[0.5, 2.3], [1.5, 3.0]]))
>>> model = fm.Model([lin], dtype=np.float64)
>>> model.forward(np.array([[1.0, 0.5]]))
array([[1.25, 3.8 ]])
"""

import weakref

import numpy as np

from . import kernels as K
from .validation import as_matrix, as_values, check_int, float_dtype_of


class Layer:
    """Base class. Subclasses set `kind` (a kernels layer-kind constant) and,
    for an element-wise function, `activation` (its name)."""

    kind = K.IDENTITY
    #: The name of the function the layer applies ("relu", ...), as MLP's
    #: activation and output take it and formulas write it; None for Linear.
    activation = None

    def __init__(self):
        self._out = None
        self._dtype = None
        self._model = None  # weakref to the Model whose buffers hold this layer's parameters

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_model"] = None  # a weakref does not pickle; a copy belongs to no model
        return state

    @property
    def name(self):
        """The class name ("ReLU", "Linear", ...), as model files record it."""
        return type(self).__name__

    def config(self):
        """The settings that rebuild this layer (used by model files)."""
        return {"type": self.name}

    # -- belonging to a model ----------------------------------------------
    @property
    def model(self):
        """The Model whose buffers hold this layer's parameters, or None while
        the layer belongs to no model (a layer belongs to one at most)."""
        ref = getattr(self, "_model", None)
        return None if ref is None else ref()

    def bind(self, model, weight_offset=-1, bias_offset=-1):
        """Make this layer part of `model` and compute in its dtype; a layer
        with parameters also makes them views into ``model.params`` (and its
        gradients into ``model.grads``) from the given offsets. Model calls
        this for each of its layers."""
        self._model = weakref.ref(model)
        self._dtype = model.dtype

    def initialise(self, rng, default_init):
        """Set the initial parameters from the Generator `rng` with the
        initialiser `default_init` unless the layer has its own (nothing to
        do for a layer without parameters)."""

    # -- computation ---------------------------------------------------------
    # forward/backward check their argument (a layer may be used on its own);
    # forward_unchecked/backward_unchecked are the same without the checks,
    # for Model, which validated X once at the top.
    def forward(self, x):
        """x (n, d) -> out (n, d); keeps the output for backward."""
        return self.forward_unchecked(self._check_x(x))

    def backward(self, dout):
        """dout (n, d) = d loss / d output -> d loss / d input (n, d)."""
        self._need_forward()
        return self.backward_unchecked(self._check_dout(dout))

    def _check_x(self, x, n_features=None):
        dtype = self._dtype or float_dtype_of(x)
        return as_matrix(x, "x", dtype, n_features=n_features, owner=repr(self))

    def _need_forward(self):
        if self._out is None:
            raise RuntimeError(f"{self.name}.backward() was called before forward(); "
                               f"run forward on a batch first.")

    def _check_dout(self, dout):
        dout = as_matrix(dout, "dout", self._out.dtype)
        if dout.shape != self._out.shape:
            raise ValueError(f"dout has shape {dout.shape}, but {self!r}'s last output "
                             f"has shape {self._out.shape}.")
        return dout

    def forward_unchecked(self, x):
        """forward for an x already checked (C-contiguous, of the layer's dtype and width)."""
        out = np.empty_like(x)
        K.activation_forward(self.kind, x, out)
        self._out = out
        return out

    def backward_unchecked(self, dout):
        """backward for a dout already checked (C-contiguous, of the last output's shape and dtype)."""
        dx = np.empty_like(dout)
        K.activation_backward(self.kind, self._out, dout, dx)
        return dx

    def __repr__(self):
        return f"{self.name}()"


class ReLU(Layer):
    """max(x, 0), element-wise."""
    kind, activation = K.RELU, "relu"


class Sigmoid(Layer):
    """1 / (1 + exp(-x)), element-wise, computed so it never overflows."""
    kind, activation = K.SIGMOID, "sigmoid"


class Tanh(Layer):
    """tanh(x), element-wise."""
    kind, activation = K.TANH, "tanh"


class Identity(Layer):
    """x, unchanged (a regression output)."""
    kind, activation = K.IDENTITY, "identity"


class Softmax(Layer):
    """Row-wise softmax; must be the last layer of a model."""
    kind, activation = K.SOFTMAX, "softmax"


class Exp(Layer):
    """exp(x), element-wise: the output of a Poisson regression (log link),
    whose outputs are the predicted means."""
    kind, activation = K.EXP, "exp"


# The activation layers by name, and the names MLP takes between Linear
# layers (activation=) and after the last one (output=).
ACTIVATIONS = {cls.activation: cls for cls in (ReLU, Sigmoid, Tanh, Identity, Softmax, Exp)}
HIDDEN_ACTIVATIONS = ("relu", "sigmoid", "tanh", "identity")
OUTPUT_ACTIVATIONS = ("identity", "sigmoid", "softmax", "relu", "tanh", "exp")


class Linear(Layer):
    """Fully connected layer: ``out = x @ weight + bias``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool or array-like
        True (default) for a bias initialised by the model's initialiser, False
        for none, or the exact initial values (shape (out_features,)).
    weight : array-like, optional
        Exact initial weights, shape (in_features, out_features).
    init : str or fastmlp.init.Initializer, optional
        Overrides the model's initialiser for this layer.
    """

    kind = K.LINEAR

    def __init__(self, in_features, out_features, bias=True, weight=None, init=None):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", low=1)
        self.out_features = check_int(out_features, "out_features", low=1)
        self.init = init
        self._init_weight = None
        self._init_bias = None
        if weight is not None:
            self._init_weight = as_values(weight, "weight", (self.in_features, self.out_features))
        if isinstance(bias, (bool, np.bool_)):
            self.has_bias = bool(bias)
        elif bias is None or isinstance(bias, str):
            values = "1 initial value" if self.out_features == 1 else f"{self.out_features} initial values"
            raise TypeError(f"bias must be True, False or {values}; got {bias!r}.")
        else:
            self.has_bias = True
            self._init_bias = as_values(bias, "bias", (self.out_features,))
        self._w = self._b = self._gw = self._gb = None
        self._x = None

    @property
    def n_params(self):
        return self.in_features * self.out_features + (self.out_features if self.has_bias else 0)

    def config(self):
        return {"type": "Linear", "in_features": self.in_features,
                "out_features": self.out_features, "bias": self.has_bias}

    # -- binding to a model's flat buffers ---------------------------------
    def bind(self, model, weight_offset=-1, bias_offset=-1):
        """Make the weights (and bias) views into ``model.params`` from
        `weight_offset` (and `bias_offset`), their gradients views into
        ``model.grads``; see Layer.bind."""
        super().bind(model)
        params, grads = model.params, model.grads
        shape = (self.in_features, self.out_features)
        size = shape[0] * shape[1]
        self._w = params[weight_offset:weight_offset + size].reshape(shape)
        self._gw = grads[weight_offset:weight_offset + size].reshape(shape)
        if self.has_bias:
            self._b = params[bias_offset:bias_offset + self.out_features]
            self._gb = grads[bias_offset:bias_offset + self.out_features]
        else:
            self._b = self._gb = params[:0]

    def initialise(self, rng, default_init):
        """Set the weights and bias: the exact values given to the
        constructor, else drawn from `rng` (a numpy Generator or RandomState),
        weights first, by the layer's own initialiser or `default_init` (a
        name or a fastmlp.init.Initializer)."""
        from . import init as initmod
        self._need_bound()
        init = initmod.get(self.init if self.init is not None else default_init)
        if self._init_weight is not None:
            self._w[...] = self._init_weight
        else:
            self._w[...] = init.weights(rng, self.in_features, self.out_features)
        if self.has_bias:
            if self._init_bias is not None:
                self._b[...] = self._init_bias
            else:
                self._b[...] = init.bias(rng, self.in_features, self.out_features)

    def _need_bound(self):
        if self._w is None:
            raise RuntimeError("This Linear layer is not part of a Model yet; build fm.Model([...]) first.")

    @property
    def weight(self):
        """(in_features, out_features) view into the model's parameters."""
        if self._w is None:
            return self._init_weight
        return self._w

    @weight.setter
    def weight(self, value):
        self._need_bound()
        self._w[...] = as_values(value, "weight", self._w.shape, self._w.dtype)

    @property
    def bias(self):
        """(out_features,) view into the model's parameters, or None without bias."""
        if not self.has_bias:
            return None
        return self._init_bias if self._b is None else self._b

    @bias.setter
    def bias(self, value):
        self._need_bound()
        if not self.has_bias:
            raise ValueError("This Linear layer was built with bias=False.")
        self._b[...] = as_values(value, "bias", self._b.shape, self._b.dtype)

    @property
    def grad_weight(self):
        """d loss / d weight from the last backward(), (in_features, out_features)."""
        return self._gw

    @property
    def grad_bias(self):
        """d loss / d bias from the last backward(), (out_features,), or None without bias."""
        return self._gb if self.has_bias else None

    # -- computation --------------------------------------------------------
    def forward(self, x):
        """x (n, in_features) -> (n, out_features); keeps x for backward."""
        self._need_bound()
        return self.forward_unchecked(self._check_x(x, self.in_features))

    def _need_forward(self):
        if self._x is None:
            raise RuntimeError("Linear.backward() was called before forward(); run forward on a batch first.")

    def _check_dout(self, dout):
        dout = as_matrix(dout, "dout", self._dtype)
        if dout.shape != (self._x.shape[0], self.out_features):
            raise ValueError(f"dout has shape {dout.shape}, but {self!r}'s last output has shape "
                             f"{(self._x.shape[0], self.out_features)}.")
        return dout

    def forward_unchecked(self, x):
        """forward for an x already checked (C-contiguous, of the layer's dtype and width)."""
        out = np.empty((x.shape[0], self.out_features), dtype=self._dtype)
        K.linear_forward(x, self._w, self._b, self.has_bias, out)
        self._x = x
        return out

    def backward_unchecked(self, dout):
        """dout (n, out_features) -> dx (n, in_features), already checked; fills
        grad_weight and grad_bias."""
        dx = np.empty_like(self._x)
        K.linear_backward(self._x, self._w, dout, self.has_bias, self._gw, self._gb, True, dx)
        return dx

    def __repr__(self):
        extra = "" if self.has_bias else ", bias=False"
        return f"Linear({self.in_features}, {self.out_features}{extra})"


# Layer classes by the name Layer.config() records.
LAYER_TYPES = {"Linear": Linear, **{cls.__name__: cls for cls in ACTIVATIONS.values()}}


def layer_from_config(cfg):
    """Rebuild a layer from `Layer.config()`; raises ValueError for anything unknown."""
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise ValueError(f"a layer entry must be an object with a 'type'; got {cfg!r}")
    cls = LAYER_TYPES.get(cfg["type"])
    if cls is None:
        raise ValueError(f"unknown layer type {cfg['type']!r}")
    if cls is Linear:
        return Linear(cfg["in_features"], cfg["out_features"], bias=bool(cfg.get("bias", True)))
    return cls()
