"""The learner's tools: a trained network as one formula, and one step of
backpropagation traced number by number.

``formula(model)`` writes the network out the way the tutorials unroll it:
each Linear layer is a "macro" of multiplications and additions, so it expands
into its weighted sum over the previous values, wrapped in the activation
functions:

>>> import numpy as np, fastmlp as fm
>>> model = fm.Model([fm.Linear(2, 1, weight=[[0.5], [-1.25]], bias=[0.1]), fm.Sigmoid()])
>>> print(fm.formula(model))
y = sigmoid(0.5*x1 - 1.25*x2 + 0.1)

``trace(model, x, y, loss, lr)`` runs one gradient-descent step on a copy of
the model with the library's own kernels (``Layer.forward``/``backward``,
``get_loss``, ``kernels.sgd_update``) and keeps every intermediate value, as
the hand-worked examples show them (forward values, loss, each gradient from
the output back to the input, each weight before and after):

>>> lin1 = fm.Linear(2, 2, bias=False, weight=[[0.5, 2.3], [1.5, 3.0]])
>>> lin2 = fm.Linear(2, 1, bias=False, weight=[[1.0], [1.0]])
>>> t = fm.trace(fm.Model([lin1, lin2]), [1, 0.5], [4], loss="half_mse", lr=0.1)
>>> round(t.loss_value, 6), t.weights["w5"]["after"]
(0.55125, 0.86875)
"""

import keyword
import math
import re

import numpy as np

from . import kernels as K
from .layers import Linear, Softmax
from .losses import get_loss
from .tasks import default_loss
from .validation import check_float, check_int

# The functions a formula may use, with their definitions for readers.
FUNCTION_DEFINITIONS = {
    "relu": "relu(v) = max(v, 0)",
    "sigmoid": "sigmoid(v) = 1 / (1 + exp(-v))",
    "tanh": "tanh(v) = (exp(v) - exp(-v)) / (exp(v) + exp(-v))",
    "exp": "exp(v) = e**v",
}

# Python implementations over the math module, to evaluate a printed formula
# (for readers and tests; the library never computes with these).
FUNCTIONS = {
    "relu": lambda v: max(v, 0.0),
    "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v)),
    "tanh": math.tanh,
    "exp": math.exp,
}


# -- formula --------------------------------------------------------------------------

def identifiers(names, n=None, taken=()):
    """Turn names (e.g. CSV column names) into distinct Python identifiers
    that do not clash with the formula's functions: "sepal length" ->
    "sepal_length", "2nd" -> "_2nd". Names in `taken` (already used, e.g.
    the inputs) are avoided the same way: "z1" -> "z1_"."""
    if names is None:
        names = [f"x{i + 1}" for i in range(n)]
    taken = set(taken)
    out = []
    for raw in names:
        name = re.sub(r"\W", "_", str(raw).strip()) or "x"
        if name[0].isdigit():
            name = "_" + name
        while keyword.iskeyword(name) or name in FUNCTIONS or name == "math" or name in taken:
            name += "_"
        base, k = name, 2
        while name in out or name in taken:
            name = f"{base}_{k}"
            k += 1
        out.append(name)
    return out


def _number(value, precision):
    return repr(float(value)) if precision is None else format(float(value), f".{precision}g")


def _weighted_sum(terms, bias, precision):
    """'0.5*x1 - 1.25*x2 + 0.1' from [(weight, expression, is_sum)] and a bias (None or
    exactly 0: left out)."""
    parts = []
    for w, expr, is_sum in terms:
        text = _number(abs(w), precision) + "*" + (f"({expr})" if is_sum else expr)
        parts.append(("-" if np.signbit(w) else "+", text))
    if bias is not None and bias != 0:
        parts.append(("-" if np.signbit(bias) else "+", _number(abs(bias), precision)))
    first_sign, first = parts[0]
    text = ("-" if first_sign == "-" else "") + first
    for sign, part in parts[1:]:
        text += f" {sign} {part}"
    return text


def formula(model, names=None, precision=4, output_names=None):
    """The model written as formulas over named inputs, one line per output:
    ``y = sigmoid(0.53*relu(1.2*x1 - 0.8*x2 + 0.1) + ... - 0.4)``.

    names : input names (default the model's feature_names_in_ when it was
        trained on a data frame, else x1, x2, ...); turned into identifiers.
    precision : significant digits of each weight, or None for the exact
        (round-trip) value of every parameter.
    output_names : names of the outputs (default y, or y1, y2, ...).

    The input names are kept (as identifiers); an output or logit name that
    would clash with them gets a "_" appended (inputs z1, z2 -> logits z1_, z2_).

    A model with a standardizer is written over its raw inputs, in the units
    of the data columns: the standardisation is folded into the first layer's
    weights and biases (``Standardizer.fold_into``).

    A softmax output is written as one logit per class (z1 = ..., z2 = ...)
    followed by ``y1 = exp(z1) / (exp(z1) + exp(z2) + ...)``. The text is
    valid Python given the functions in ``FUNCTIONS`` (relu, sigmoid, tanh,
    exp); with ``precision=None`` evaluating it reproduces ``model.predict`` up
    to floating-point rounding.
    """
    if precision is not None:
        precision = check_int(precision, "precision", low=1)
    if names is None and getattr(model, "feature_names_in_", None) is not None:
        names = list(model.feature_names_in_)
    if model.standardizer is not None:
        model = model.standardizer.fold_into(model)
    names = identifiers(names, model.n_features_in)
    if len(names) != model.n_features_in:
        raise ValueError(f"names has {len(names)} entries, but the model has {model.n_features_in} inputs.")
    k = model.n_outputs
    if output_names is None:
        output_names = ["y"] if k == 1 else [f"y{j + 1}" for j in range(k)]
    output_names = identifiers(output_names, taken=names)     # the inputs keep their names
    if len(output_names) != k:
        raise ValueError(f"output_names has {len(output_names)} entries, but the model has {k} outputs.")

    exprs = [(n, False) for n in names]          # (text, is a bare sum that needs brackets)
    softmax = False
    for layer in model.layers:
        if isinstance(layer, Linear):
            W = layer.weight
            b = layer.bias
            sums = [_weighted_sum([(W[i, j], e, s) for i, (e, s) in enumerate(exprs)],
                                  None if b is None else b[j], precision) for j in range(W.shape[1])]
            # A sum (or a negative term) gets brackets when it is multiplied by the next layer.
            exprs = [(text, W.shape[0] > 1 or (b is not None and b[j] != 0) or text.startswith("-"))
                     for j, text in enumerate(sums)]
        elif isinstance(layer, Softmax):
            softmax = True
        elif layer.activation in FUNCTIONS:
            exprs = [(f"{layer.activation}({e})", False) for e, _ in exprs]
        # Identity: unchanged.
    if not softmax:
        return "\n".join(f"{name} = {e}" for name, (e, _) in zip(output_names, exprs))
    logits = identifiers([f"z{j + 1}" for j in range(k)], taken=names + output_names)
    lines = [f"{z} = {e}" for z, (e, _) in zip(logits, exprs)]
    total = " + ".join(f"exp({z})" for z in logits)
    lines += [f"{name} = exp({z}) / ({total})" for name, z in zip(output_names, logits)]
    return "\n".join(lines)


def functions_used(text):
    """Definitions of the functions that appear in a formula, for a legend."""
    return [d for name, d in FUNCTION_DEFINITIONS.items() if re.search(rf"\b{name}\(", text)]


def evaluate(text, inputs):
    """Evaluate formula text with Python's math: `inputs` maps input names to
    numbers; returns the dict of every name assigned (outputs included)."""
    env = dict(FUNCTIONS)
    env.update(inputs)
    for line in text.splitlines():
        name, expr = line.split(" = ", 1)
        env[name.strip()] = eval(expr, {"__builtins__": {"max": max}}, env)  # noqa: S307 (our own text)
    return env


# -- trace ----------------------------------------------------------------------------

def _as_rows(value):
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = arr.reshape(1, -1)
    return arr


def _prefix(names):
    """The vector name behind element names: ["h1", "h2"] -> "h", ["h2_1"] -> "h2"."""
    first = names[0]
    if len(names) == 1:
        return first
    return first[:-1].rstrip("_") if first.endswith("1") else first


def _element_names(prefix, m):
    if m == 1:
        return [prefix]
    sep = "_" if prefix[-1].isdigit() else ""
    return [f"{prefix}{sep}{j + 1}" for j in range(m)]


def _value_names(model, input_names):
    """Names of every layer's output: the tutorials' x -> h -> y (with a, z
    for activations and the last pre-activation)."""
    layers = model.layers
    n_linear = sum(isinstance(l, Linear) for l in layers)
    last_linear = max(i for i, l in enumerate(layers) if isinstance(l, Linear))
    names, l_index = [], 0
    for i, layer in enumerate(layers):
        width = int(model.layout[i, K.L_OUT])
        if i == len(layers) - 1:
            prefix = "y"
        elif isinstance(layer, Linear):
            l_index += 1
            if i == last_linear:
                prefix = "z"
            else:
                prefix = "h" if n_linear == 2 else f"h{l_index}"
        else:
            prefix = "a" if n_linear == 2 else f"a{l_index}"
        names.append(_element_names(prefix, width))
    return [list(input_names)] + names


class Trace:
    """One gradient-descent step, every number kept.

    Attributes
    ----------
    loss, lr : the loss name and learning rate
    x, target : the inputs (n, d) the network sees and the targets (n, k), float64
    x_raw, standardize : the inputs as given and the model's standardizer
        ({"mean": [...], "scale": [...]}), or None without one (x_raw is x then)
    names : names of the values: names[0] the inputs, names[i + 1] the
        outputs of layer i (x1, x2 -> h1, h2 -> y as in the tutorials)
    layers : per layer a dict with "layer" (its repr), "input", "output",
        "grad_output" (dE/d output), "grad_input" (dE/d input), and for Linear
        layers "weight", "bias", "grad_weight", "grad_bias", "weight_after",
        "bias_after" (arrays; biases None without bias)
    prediction, loss_value, grad_prediction : the forward result, E and dE/dy
    prediction_after, loss_after : after the update
    model_after : the copy of the model the step was taken on, after it (its
        layers are the traced ones, in order)
    weights : {"w1": {"layer", "index": (i, j), "before", "grad", "after"}, ...}
        numbered as in the tutorials: layer by layer, for each output unit its
        weights from each input in turn; biases as b1, b2, ...
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def as_dict(self):
        """Plain JSON-able data."""
        def conv(v):
            if isinstance(v, np.ndarray):
                return v.tolist()
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [conv(x) for x in v]
            if isinstance(v, np.generic):
                return v.item()
            return v
        keys = ("loss", "lr", "x", "x_raw", "standardize", "target", "names", "layers", "prediction", "loss_value",
                "grad_prediction", "prediction_after", "loss_after", "weights")
        return {k: conv(getattr(self, k)) for k in keys}

    def render(self, precision=6):
        return _render(self, precision)

    __str__ = render

    def __repr__(self):
        return (f"<Trace loss={self.loss} lr={self.lr:g} E={self.loss_value:.6g} -> "
                f"{self.loss_after:.6g}, {len(self.weights)} parameters>")


def trace(model, x, y, loss=None, lr=0.1, names=None):
    """One step of plain gradient descent on (x, y), traced.

    model : a Model (left unchanged: the step is taken on a copy)
    x : one sample (d,) or a batch (n, d); y : its target(s)
    loss : a loss name (default: bce after Sigmoid, cross_entropy after
        Softmax, poisson after Exp, else half_mse, the tutorials' E = 1/2 (y - t)^2)
    lr : the learning rate of the step
    names : names of the inputs (default x1, x2, ...)

    Returns a :class:`Trace`; ``print(trace(...))`` shows it as the
    hand-worked examples do.
    """
    default = default_loss(model.layers[-1].activation, regression="half_mse")
    lossobj = get_loss(default if loss is None else loss)
    lossobj.check_model(model)
    lr = check_float(lr, "lr", low=0)
    work = model.copy()
    work.feature_names_in_ = None                    # x is given as numbers, in the model's order
    X = work.check_input(_as_rows(x), "x")
    # A standardizer is the model's first step: x in raw units, the network sees (x - mean) / scale.
    standardizer, work.standardizer = work.standardizer, None
    x_raw = X.astype(np.float64)
    if standardizer is not None:
        X = standardizer.transform(X, work.dtype)
    target_in = np.asarray(y)
    if lossobj.name == "cross_entropy" and work.n_outputs > 1 and target_in.ndim <= 1 \
            and target_in.size == X.shape[0]:
        target_in = target_in.reshape(-1)            # class indices
    elif target_in.ndim < 2:
        target_in = target_in.reshape(X.shape[0], -1)
    T = work.check_target(target_in, X.shape[0], loss=lossobj.name, name="y")

    # Forward, layer by layer (exactly Model.forward's loop), keeping each value.
    records, out = [], X
    for layer in work.layers:
        rec = {"layer": repr(layer), "input": out}
        if isinstance(layer, Linear):
            rec["weight"] = layer.weight.copy()
            rec["bias"] = None if layer.bias is None else layer.bias.copy()
        out = layer.forward(out)
        rec["output"] = out
        records.append(rec)
    prediction = out
    loss_value = lossobj.forward(prediction, T)
    grad = lossobj.backward(prediction, T)
    grad_prediction = grad

    # Backward, from the output to the input (Model.backward's loop).
    for layer, rec in zip(reversed(work.layers), reversed(records)):
        rec["grad_output"] = grad
        if not isinstance(layer, (Linear, Softmax)):
            # The local derivative of an element-wise activation, from its own kernel.
            rec["local_grad"] = layer.backward(np.ones_like(grad))
        grad = layer.backward(grad)
        rec["grad_input"] = grad
        if isinstance(layer, Linear):
            rec["grad_weight"] = layer.grad_weight.copy()
            rec["grad_bias"] = None if layer.grad_bias is None else layer.grad_bias.copy()

    # The update, by the engine's own kernel, then the new forward pass.
    K.sgd_update(work.params, work.grads, float(lr))
    weights, w_k, b_k = {}, 0, 0
    for i, (layer, rec) in enumerate(zip(work.layers, records)):
        if not isinstance(layer, Linear):
            continue
        rec["weight_after"] = layer.weight.copy()
        rec["bias_after"] = None if layer.bias is None else layer.bias.copy()
        for j in range(layer.out_features):
            for a in range(layer.in_features):
                w_k += 1
                weights[f"w{w_k}"] = {"layer": i, "index": (a, j), "before": float(rec["weight"][a, j]),
                                      "grad": float(rec["grad_weight"][a, j]),
                                      "after": float(rec["weight_after"][a, j])}
        if layer.bias is not None:
            for j in range(layer.out_features):
                b_k += 1
                weights[f"b{b_k}"] = {"layer": i, "index": (j,), "before": float(rec["bias"][j]),
                                      "grad": float(rec["grad_bias"][j]), "after": float(rec["bias_after"][j])}
    prediction_after = work.predict(X)
    loss_after = lossobj.forward(prediction_after, T)
    input_names = identifiers(names, model.n_features_in)
    return Trace(loss=lossobj.name, lr=lr, x=X.astype(np.float64), x_raw=x_raw,
                 standardize=None if standardizer is None else standardizer.config(), target=T.astype(np.float64),
                 names=_value_names(model, input_names), layers=records, prediction=prediction,
                 loss_value=loss_value, grad_prediction=grad_prediction, prediction_after=prediction_after,
                 loss_after=loss_after, weights=weights, model_after=work)


# -- rendering ----------------------------------------------------------------------

LOSS_FORMULAS = {
    "mse": "E = mean over outputs and samples of (y - t)^2",
    "half_mse": "E = 1/2 * (y - t)^2, averaged over outputs and samples",
    "bce": "E = -(t*log(y) + (1 - t)*log(1 - y)), averaged over outputs and samples",
    "cross_entropy": "E = -sum over classes of t*log(y), averaged over samples",
    "poisson": "E = y - t*log(y) + t*log(t) - t, averaged over outputs and samples",
}

DETAIL_WIDTH = 8       # layers up to this many inputs and outputs have every number written out


def _render(t, precision):
    def f(v):
        return format(float(v) + 0.0, f".{precision}g")      # + 0.0: no "-0"

    def p(v):
        """A number as a factor or term: negative ones in brackets."""
        text = f(v)
        return f"({text})" if text.startswith("-") else text

    def vec(a):
        """An array on one line, long ones shortened with '...'."""
        text = np.array2string(np.asarray(a, dtype=np.float64) + 0.0, precision=precision, separator=", ",
                               floatmode="maxprec", threshold=24, edgeitems=3, max_line_width=1 << 20)
        return re.sub(r"\s+", " ", text)

    n = t.x.shape[0]
    scalar = n == 1

    def detail(i):
        return scalar and len(t.names[i]) <= DETAIL_WIDTH and len(t.names[i + 1]) <= DETAIL_WIDTH

    def row(a):
        return vec(a[0] if scalar else a)

    lines = [f"One step of gradient descent: loss {t.loss}, learning rate {f(t.lr)}, "
             f"{n} sample{'s' if n > 1 else ''}",
             "network: " + " -> ".join(r["layer"] for r in t.layers), ""]
    # Weight names per layer position.
    wname, bname = {}, {}
    for key, w in t.weights.items():
        (wname if key[0] == "w" else bname)[(w["layer"],) + tuple(w["index"])] = key

    lines.append("Forward pass")
    xin = t.names[0]
    if t.standardize is not None:
        lines.append("  standardize (the model's first step, learned from its training data): "
                     "x = (raw x - mean) / scale")
        mean, scale = t.standardize["mean"], t.standardize["scale"]
        if scalar and len(xin) <= DETAIL_WIDTH:
            lines += [f"  {nm} = ({f(r)} - {p(m)}) / {f(sc)} = {f(v)}"
                      for nm, r, m, sc, v in zip(xin, t.x_raw[0], mean, scale, t.x[0])]
        else:
            lines.append(f"  raw x = {row(t.x_raw)}")
            lines.append(f"  x = {row(t.x)}")
    elif scalar and len(xin) <= DETAIL_WIDTH:
        lines += [f"  {nm} = {f(v)}" for nm, v in zip(xin, t.x[0])]
    else:
        lines.append(f"  x = {row(t.x)}")
    layers = t.model_after.layers
    for i, (layer, rec) in enumerate(zip(layers, t.layers)):
        ins, outs = t.names[i], t.names[i + 1]
        lines.append(f"  {rec['layer']}:")
        if not detail(i):
            lines.append(f"    {_prefix(outs)} = {row(rec['output'])}")
            continue
        for j, nm in enumerate(outs):
            value = f(rec["output"][0, j])
            if isinstance(layer, Linear):
                sym = [f"{wname[(i, a, j)]}*{ins[a]}" for a in range(len(ins))]
                num = [f"{p(rec['weight'][a, j])}*{p(rec['input'][0, a])}" for a in range(len(ins))]
                if rec["bias"] is not None:
                    sym.append(bname[(i, j)])
                    num.append(p(rec["bias"][j]))
                lines.append(f"    {nm} = {' + '.join(sym)} = {' + '.join(num)} = {value}")
            elif isinstance(layer, Softmax):
                lines.append(f"    {nm} = exp({ins[j]}) / sum of exp({', '.join(ins)}) = {value}")
            else:
                fn = layer.activation
                lines.append(f"    {nm} = {fn}({ins[j]}) = {fn}({f(rec['input'][0, j])}) = {value}")
    target_names = ["t"] if t.target.shape[1] == 1 else [f"t{j + 1}" for j in range(t.target.shape[1])]
    if scalar:
        tgt = ", ".join(f"{nm} = {f(v)}" for nm, v in zip(target_names, t.target[0]))
    else:
        tgt = f"t = {row(t.target)}"
    lines += [f"  loss {t.loss}: {LOSS_FORMULAS[t.loss]}", f"    target {tgt}", f"    E = {f(t.loss_value)}", ""]

    lines.append("Backward pass (chain rule, from the output back to the input)")
    outs = t.names[-1]
    if scalar and len(outs) <= DETAIL_WIDTH:
        lines += [f"  dE/d{nm} = {f(v)}" for nm, v in zip(outs, t.grad_prediction[0])]
    else:
        lines.append(f"  dE/dy = {row(t.grad_prediction)}")
    for i in range(len(t.layers) - 1, -1, -1):
        layer, rec = layers[i], t.layers[i]
        ins, outs = t.names[i], t.names[i + 1]
        lines.append(f"  {rec['layer']}:")
        first = i == 0
        if not detail(i):
            if isinstance(layer, Linear):
                lines.append(f"    dE/dW = {vec(rec['grad_weight'])}")
                if rec["grad_bias"] is not None:
                    lines.append(f"    dE/db = {vec(rec['grad_bias'])}")
            if not first:
                lines.append(f"    dE/d{_prefix(ins)} = {row(rec['grad_input'])}")
            continue
        if isinstance(layer, Linear):
            for j, on in enumerate(outs):
                g = p(rec["grad_output"][0, j])
                for a, inn in enumerate(ins):
                    lines.append(f"    dE/d{wname[(i, a, j)]} = dE/d{on} * {inn} = {g}*{p(rec['input'][0, a])} "
                                 f"= {f(rec['grad_weight'][a, j])}")
                if rec["bias"] is not None:
                    lines.append(f"    dE/d{bname[(i, j)]} = dE/d{on} = {f(rec['grad_bias'][j])}")
            if not first:
                for a, inn in enumerate(ins):
                    sym = " + ".join(f"dE/d{on} * {wname[(i, a, j)]}" for j, on in enumerate(outs))
                    num = " + ".join(f"{p(rec['grad_output'][0, j])}*{p(rec['weight'][a, j])}"
                                     for j in range(len(outs)))
                    lines.append(f"    dE/d{inn} = {sym} = {num} = {f(rec['grad_input'][0, a])}")
        elif not isinstance(layer, Softmax):       # an element-wise activation
            if first:
                continue
            fn = layer.activation
            for j, (inn, on) in enumerate(zip(ins, outs)):
                lines.append(f"    dE/d{inn} = dE/d{on} * {fn}'({inn}) = {p(rec['grad_output'][0, j])}*"
                             f"{p(rec['local_grad'][0, j])} = {f(rec['grad_input'][0, j])}")
        elif not first:
            for j, inn in enumerate(ins):
                lines.append(f"    dE/d{inn} = {f(rec['grad_input'][0, j])}")
    lines.append("")

    lines.append(f"Update: w <- w - lr * dE/dw   (lr = {f(t.lr)})")
    by_layer = {}
    for key, w in t.weights.items():
        by_layer.setdefault(w["layer"], []).append((key, w))
    l_index = 0
    for i, (layer, rec) in enumerate(zip(layers, t.layers)):
        if not isinstance(layer, Linear):
            continue
        l_index += 1
        if detail(i):
            for key, w in by_layer[i]:
                lines.append(f"  {key}: {f(w['before'])} - {f(t.lr)}*{p(w['grad'])} = {f(w['after'])}")
        else:
            lines.append(f"  W{l_index} ({rec['layer']}) after the step = {vec(rec['weight_after'])}")
            if rec["bias_after"] is not None:
                lines.append(f"  b{l_index} after the step = {vec(rec['bias_after'])}")
    lines.append("")
    if scalar and len(t.names[-1]) <= DETAIL_WIDTH:
        after = ", ".join(f"{nm} = {f(v)}" for nm, v in zip(t.names[-1], t.prediction_after[0]))
    else:
        after = f"y = {row(t.prediction_after)}"
    lines.append(f"After the step: {after}, E = {f(t.loss_after)} (was {f(t.loss_value)})")
    return "\n".join(lines)
