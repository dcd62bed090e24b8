"""ONNX export: a trained network as an ONNX graph, to serve it where
Python's numba stack is not installed (onnxruntime, or any ONNX runtime).

``to_onnx(model)`` takes a ``fastmlp.Model``, a fitted ``MLPClassifier`` or
a fitted ``MLPRegressor`` and builds the graph with the ``onnx`` package's
helpers (``pip install 'fastmlp[onnx]'``):

========  =======================================================================
input     ``X``: (N, n_features) in the model's own precision (float32 -> FLOAT,
          float64 -> DOUBLE)
layers    one entry of ``LAYER_OPS`` each: Linear -> MatMul (+ Add for the bias),
          ReLU -> Relu, Sigmoid -> Sigmoid, Tanh -> Tanh, Identity -> Identity,
          Softmax -> Softmax (axis -1)
outputs   classifiers, as scikit-learn's converted models: ``label`` (N,), the
          class labels (ArgMax of the probabilities, looked up in a constant of
          the classes with Gather, strings included) and ``probabilities``
          (N, n_classes); a sigmoid output gives the probabilities of both
          classes, [1 - p, p]. Multi-label classifiers: ``label`` (N, n_classes)
          of 0/1 (int64) and ``probabilities``. Anything else: ``variable``
          (N, n_outputs), the network's outputs.
metadata  ``metadata_props``: fastmlp_version, dtype, task, input_names,
          output_names, feature_names and, for classifiers, classes (the lists
          as JSON)
========  =======================================================================

A layer kind without an entry in ``LAYER_OPS`` cannot be exported and says
so; a new kind of layer (or of preprocessing step) is exported by adding
its entry there.

``register_skl2onnx()`` registers converters for the two estimators with
skl2onnx, so that a scikit-learn ``Pipeline`` holding one converts with
``skl2onnx.to_onnx``; it is called for you when skl2onnx is imported before
fastmlp's estimators.

>>> import numpy as np, fastmlp as fm
>>> model = fm.MLP([2, 4, 3], activation="tanh", output="softmax", seed=0)
>>> onx = fm.to_onnx(model, classes=["cat", "dog", "owl"])
>>> [o.name for o in onx.graph.output], [n.op_type for n in onx.graph.node]
(['label', 'probabilities'], ['MatMul', 'Add', 'Tanh', 'MatMul', 'Add', 'Softmax', 'Identity', 'ArgMax', 'Gather'])
"""

import json
import sys

import numpy as np

from .model import Model
from .validation import check_int, check_labels, check_names, check_path, missing_dependency

__all__ = ["to_onnx", "register_skl2onnx", "describe", "LAYER_OPS", "DEFAULT_OPSET", "MIN_OPSET"]

#: The opset written when none is given: every op used here is unchanged
#: since opset 13 or 14, and runtimes from onnxruntime 1.12 on run opset 17.
DEFAULT_OPSET = 17
#: Softmax over the last axis alone (its current meaning) needs opset 13.
MIN_OPSET = 13
INPUT_NAME = "X"


def _onnx():
    """The onnx package, or MissingDependency saying which extra to install."""
    try:
        import onnx
        from onnx import helper, numpy_helper  # noqa: F401
    except ImportError as exc:
        raise missing_dependency("ONNX export", "the onnx package", extra="onnx", cause=exc) from None
    return onnx


# -- layers -> ONNX ops ---------------------------------------------------------------------
# Each emitter gets the graph builder `g`, the layer and the name of its input
# tensor, adds its nodes and returns the name of its output tensor.

def _linear(g, layer, x):
    y = g.name("matmul")
    g.node("MatMul", [x, g.const("weight", layer.weight)], [y])
    if not layer.has_bias:
        return y
    out = g.name("linear")
    g.node("Add", [y, g.const("bias", layer.bias)], [out])
    return out


def _elementwise(op):
    def emit(g, layer, x):
        out = g.name(op.lower())
        g.node(op, [x], [out])
        return out
    emit.__doc__ = f"{op}, element-wise."
    return emit


def _softmax(g, layer, x):
    out = g.name("softmax")
    g.node("Softmax", [x], [out], axis=-1)
    return out


#: Layer name (``Layer.name``) -> the function that adds its ONNX nodes. A
#: new kind is one more entry. The model's standardisation step, when it has
#: one, comes first (``_standardize``).
LAYER_OPS = {
    "Linear": _linear,
    "ReLU": _elementwise("Relu"),
    "Sigmoid": _elementwise("Sigmoid"),
    "Tanh": _elementwise("Tanh"),
    "Identity": _elementwise("Identity"),
    "Softmax": _softmax,
    "Exp": _elementwise("Exp"),
}


# -- what to export --------------------------------------------------------------------------

class _Spec:
    """Everything the graph needs: the network, its head and its names."""

    def __init__(self, model, task, classes, feature_names):
        self.model = model
        # "binary", "multiclass", "multilabel" (label and probabilities), or
        # "regression" (an MLPRegressor) and "outputs" (a Model without classes): variable.
        self.task = task
        self.classes = classes          # np.ndarray, or None
        self.feature_names = feature_names
        self.values = classes is None
        self.outputs = ["variable"] if self.values else ["label", "probabilities"]


def _check_exportable(model):
    missing = [layer.name for layer in model.layers if layer.name not in LAYER_OPS]
    if missing:
        raise ValueError(f"ONNX export has no op for the layer kind {missing[0]!r}; exportable kinds are "
                         f"{', '.join(LAYER_OPS)}.")


def _model_spec(model, classes, feature_names):
    n = model.n_features_in
    last = model.layers[-1].name
    if classes is None:
        classes = model.classes  # a classifier trained on labelled data knows its class names
    if classes is None:
        task = "outputs"
    elif last == "Softmax":
        classes = check_labels(classes, "classes", model.n_outputs)
        task = "multiclass"
    elif last == "Sigmoid" and model.n_outputs == 1:
        classes = check_labels(classes, "classes", 2)
        task = "binary"
    else:
        raise ValueError(f"The 'classes' parameter needs a model whose last layer is Softmax, or Sigmoid with "
                         f"one output; this one ends with {model.layers[-1]!r} with {model.n_outputs} "
                         f"output{'s' if model.n_outputs > 1 else ''}.")
    names = [f"x{i + 1}" for i in range(n)] if feature_names is None else \
        check_names(feature_names, "feature_names", n)
    return _Spec(model, task, classes, names)


def _estimator_spec(est, classes, feature_names):
    from sklearn.base import is_classifier
    from sklearn.utils.validation import check_is_fitted
    check_is_fitted(est)
    if classes is not None:
        raise ValueError("The 'classes' parameter applies to a fastmlp.Model only; an estimator exports "
                         "its own classes_.")
    model = est.model_
    n = model.n_features_in
    if feature_names is None:
        known = getattr(est, "feature_names_in_", None)
        feature_names = [str(v) for v in known] if known is not None else [f"x{i + 1}" for i in range(n)]
    names = check_names(feature_names, "feature_names", n)
    if not is_classifier(est):
        return _Spec(model, "regression", None, names)
    labels = np.asarray(est.classes_)
    if labels.dtype.kind == "O" and all(isinstance(v, str) for v in labels):
        labels = labels.astype(str)
    if est.out_activation_ == "softmax":
        task = "multiclass"
    elif est.n_outputs_ > 1:
        task = "multilabel"
    else:
        task = "binary"
        if len(labels) == 1:          # trained on one class: predict always gives it
            labels = np.concatenate([labels, labels])
    if labels.dtype.kind not in "iubfU":
        raise TypeError(f"ONNX export needs class labels that are integers, floats, booleans or strings; "
                        f"classes_ has dtype {labels.dtype}.")
    return _Spec(model, task, labels, names)


def _spec(obj, classes, feature_names):
    if isinstance(obj, Model):
        return _model_spec(obj, classes, feature_names)
    estimators = sys.modules.get("fastmlp.estimators")     # not loaded: obj cannot be an estimator
    if estimators is not None and isinstance(obj, (estimators.MLPClassifier, estimators.MLPRegressor)):
        return _estimator_spec(obj, classes, feature_names)
    raise TypeError(f"to_onnx exports a fastmlp.Model, MLPClassifier or MLPRegressor; "
                    f"got {type(obj).__name__}.")


def _tensor_type(onnx, dtype):
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _label_array(spec):
    """The classes as the constant the labels are gathered from (strings as objects)."""
    labels = spec.classes
    if labels.dtype.kind == "U":
        return labels.astype(object)
    if labels.dtype.kind in "iu":
        return labels.astype(np.int64)
    return labels


def _label_type(onnx, spec):
    if spec.task == "multilabel":
        return onnx.TensorProto.INT64
    kind = spec.classes.dtype.kind
    if kind == "U":
        return onnx.TensorProto.STRING
    if kind in "iu":
        return onnx.TensorProto.INT64
    return _tensor_type(onnx, spec.classes.dtype)


# -- the graph ---------------------------------------------------------------------------------

def _standardize(g, standardizer, x, dtype):
    """The model's preprocessing step, (x - mean) / scale, as Sub and Div by
    constants in the model's dtype; x itself for a model without one."""
    if standardizer is None:
        return x
    centred, scaled = g.name("centred"), g.name("standardized")
    g.node("Sub", [x, g.const("mean", standardizer.mean_.astype(dtype).reshape(1, -1))], [centred])
    g.node("Div", [centred, g.const("scale", standardizer.scale_.astype(dtype).reshape(1, -1))], [scaled])
    return scaled


def _emit(g, spec, x, outputs):
    """Add the network and its head to builder `g`: `x` names the input in the
    model's dtype, `outputs` the tensors to write (spec.outputs' order)."""
    y = _standardize(g, spec.model.standardizer, x, spec.model.dtype)
    for layer in spec.model.layers:
        y = LAYER_OPS[layer.name](g, layer, y)
    if spec.values:
        g.node("Identity", [y], [outputs[0]])
        return
    label, proba = outputs
    if spec.task == "binary":
        one = g.const("one", np.ones((1, 1), dtype=spec.model.dtype))
        negative = g.name("negative")
        g.node("Sub", [one, y], [negative])
        g.node("Concat", [negative, y], [proba], axis=1)
    else:
        g.node("Identity", [y], [proba])
    if spec.task == "multilabel":
        above = g.name("above_half")
        g.node("Greater", [proba, g.const("half", np.full((1, 1), 0.5, dtype=spec.model.dtype))], [above])
        g.node("Cast", [above], [label], to=g.onnx.TensorProto.INT64)
        return
    index = g.name("class_index")
    g.node("ArgMax", [proba], [index], axis=1, keepdims=0)
    g.node("Gather", [g.const("classes", _label_array(spec)), index], [label], axis=0)


class _Builder:
    """Collects the nodes and initializers of a standalone graph."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.nodes, self.initializers = [], []
        self._taken = set()

    def name(self, hint):
        name, i = hint, 0
        while name in self._taken:
            i += 1
            name = f"{hint}_{i}"
        self._taken.add(name)
        return name

    def const(self, hint, array):
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, outputs, **attrs):
        self.nodes.append(self.onnx.helper.make_node(op, inputs, outputs, name=self.name(op), **attrs))


def _build(onnx, spec, opset):
    from . import __version__
    helper = onnx.helper
    model = spec.model
    dtype = np.dtype(model.dtype)
    g = _Builder(onnx)
    for reserved in [INPUT_NAME] + spec.outputs:
        g.name(reserved)
    _emit(g, spec, INPUT_NAME, spec.outputs)

    features = ", ".join(spec.feature_names)
    inputs = [helper.make_tensor_value_info(INPUT_NAME, _tensor_type(onnx, dtype), [None, model.n_features_in],
                                            doc_string=f"features: {features}")]
    if spec.values:
        outputs = [helper.make_tensor_value_info("variable", _tensor_type(onnx, dtype), [None, model.n_outputs],
                                                 doc_string="the network's outputs")]
    else:
        n_classes = len(spec.classes)
        label_shape = [None, n_classes] if spec.task == "multilabel" else [None]
        outputs = [helper.make_tensor_value_info("label", _label_type(onnx, spec), label_shape,
                                                 doc_string="predicted class labels"),
                   helper.make_tensor_value_info("probabilities", _tensor_type(onnx, dtype), [None, n_classes],
                                                 doc_string="class probabilities, in the order of classes")]
    graph = helper.make_graph(g.nodes, "fastmlp", inputs, outputs, initializer=g.initializers,
                              doc_string=repr(model))
    opsets = [helper.make_opsetid("", opset)]
    onx = helper.make_model(graph, opset_imports=opsets, producer_name="fastmlp", producer_version=__version__,
                            ir_version=helper.find_min_ir_version_for(opsets),
                            doc_string=f"{model!r} exported by fastmlp {__version__}")
    meta = {
        "fastmlp_version": __version__,
        "dtype": dtype.name,
        "task": spec.task,
        "input_names": json.dumps([INPUT_NAME]),
        "output_names": json.dumps(spec.outputs),
        "feature_names": json.dumps(spec.feature_names),
    }
    if spec.classes is not None:
        meta["classes"] = json.dumps(spec.classes.tolist())
    helper.set_model_props(onx, meta)
    onnx.checker.check_model(onx, full_check=True)
    return onx


def to_onnx(model, path=None, opset=None, *, classes=None, feature_names=None):
    """The ONNX graph of a trained network, as an ``onnx.ModelProto``; also
    written to `path` when given.

    Parameters
    ----------
    model : fastmlp.Model, or a fitted fastmlp.MLPClassifier / MLPRegressor
    path : str or os.PathLike, optional
        Where to write the ``.onnx`` file.
    opset : int, optional
        The ONNX opset, from 13 to the newest the installed onnx knows
        (default: ``DEFAULT_OPSET``, 17).
    classes : list, optional
        For a Model ending in Softmax (one label per output) or in Sigmoid
        with one output (two labels, negative first): export it as a
        classifier, with ``label`` and ``probabilities`` outputs.
        Estimators export their own ``classes_``.
    feature_names : list of str, optional
        Recorded in the metadata (default: the estimator's
        ``feature_names_in_``, else x1, x2, ...).

    Run it with onnxruntime::

        import onnxruntime as ort
        session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
        label, probabilities = session.run(None, {"X": X})   # X in the model's dtype

    Needs the ``onnx`` extra: ``pip install 'fastmlp[onnx]'``.

    >>> import numpy as np, fastmlp as fm
    >>> onx = fm.to_onnx(fm.MLP([3, 2], dtype=np.float32, seed=0))
    >>> onx.graph.input[0].name, [o.name for o in onx.graph.output]
    ('X', ['variable'])
    """
    spec = _spec(model, classes, feature_names)
    if opset is not None:
        opset = check_int(opset, "opset", low=MIN_OPSET)
    if path is not None:
        path = check_path(path, "path")
    _check_exportable(spec.model)
    onnx = _onnx()
    newest = onnx.defs.onnx_opset_version()
    opset = DEFAULT_OPSET if opset is None else check_int(opset, "opset", low=MIN_OPSET, high=newest)
    onx = _build(onnx, spec, opset)
    if path is not None:
        onnx.save_model(onx, path)
    return onx


def describe(values):
    """One line per input or output of an ONNX graph: name, element type and
    shape, e.g. ``["X float64 (N, 2)"]`` for ``describe(onx.graph.input)``."""
    onnx = _onnx()
    lines = []
    for v in values:
        t = v.type.tensor_type
        dims = [d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "N") for d in t.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        shape = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
        lines.append(f"{v.name} {'string' if dtype.kind == 'O' else dtype.name} {shape}")
    return lines


# -- skl2onnx ----------------------------------------------------------------------------------

class _SklBuilder:
    """Adds nodes to a skl2onnx conversion, with names unique in its scope."""

    def __init__(self, onnx, scope, container):
        self.onnx, self.scope, self.container = onnx, scope, container

    def name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def const(self, hint, array):
        name = self.name(hint)
        array = np.asarray(array)
        if array.dtype.kind == "O":
            self.container.add_initializer(name, self.onnx.TensorProto.STRING, list(array.shape),
                                           [str(v).encode("utf-8") for v in array.ravel()])
        else:
            tensor = self.onnx.numpy_helper.from_array(array, name)
            self.container.add_initializer(name, tensor.data_type, list(array.shape), tensor)
        return name

    def node(self, op, inputs, outputs, **attrs):
        self.container.add_node(op, inputs, outputs, name=self.scope.get_unique_operator_name(op), **attrs)


def _skl_spec(scope, est):
    spec = _estimator_spec(est, None, None)
    _check_exportable(spec.model)
    if spec.classes is not None and spec.task != "multilabel" and scope.get_options(est, {"nocl": False})["nocl"]:
        spec.classes = np.arange(len(spec.classes), dtype=np.int64)     # skl2onnx's nocl: class indices
    if spec.classes is not None and spec.classes.dtype.kind in "fb":
        # skl2onnx carries numeric labels as int64 (its ZipMap needs them so); a
        # classifier's float labels are whole numbers (scikit-learn refuses others).
        spec.classes = spec.classes.astype(np.int64)
    return spec


def _skl_float_type(operator):
    """skl2onnx's convention: a pipeline computes in double when its input is
    double, else in float; the scores leave the estimator in that type."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    return DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType) else FloatTensorType


def _skl_shape(operator):
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType
    onnx = _onnx()
    spec = _skl_spec(operator.scope_inst, operator.raw_operator)
    n = operator.inputs[0].get_first_dimension()
    scores = _skl_float_type(operator)
    if spec.values:
        operator.outputs[0].type = scores([n, spec.model.n_outputs])
        return
    shape = [n, len(spec.classes)] if spec.task == "multilabel" else [n]
    string = _label_type(onnx, spec) == onnx.TensorProto.STRING
    operator.outputs[0].type = StringTensorType(shape) if string else Int64TensorType(shape)
    operator.outputs[1].type = scores([n, len(spec.classes)])


def _skl_convert(scope, operator, container):
    from skl2onnx.common.data_types import DoubleTensorType
    onnx = _onnx()
    opset = container.target_opset
    if opset is not None and opset < MIN_OPSET:
        raise ValueError(f"fastmlp's estimators export to ONNX opset {MIN_OPSET} or later; "
                         f"skl2onnx was asked for opset {opset}.")
    spec = _skl_spec(scope, operator.raw_operator)
    g = _SklBuilder(onnx, scope, container)
    own = _tensor_type(onnx, spec.model.dtype)
    pipeline = onnx.TensorProto.DOUBLE if _skl_float_type(operator) is DoubleTensorType else onnx.TensorProto.FLOAT
    # The network computes in the estimator's own precision; input and scores
    # are cast from and to the pipeline's.
    x = g.name("cast_input")
    g.node("Cast", [operator.inputs[0].full_name], [x], to=own)
    outputs = [v.full_name for v in operator.outputs]
    scores = outputs[-1]
    if own != pipeline:
        outputs[-1] = g.name("own_precision")
    _emit(g, spec, x, outputs)
    if own != pipeline:
        g.node("Cast", [outputs[-1]], [scores], to=pipeline)


def register_skl2onnx():
    """Register converters for ``fastmlp.MLPClassifier`` and ``MLPRegressor``
    with skl2onnx, so that ``skl2onnx.to_onnx`` converts them, alone or inside
    a scikit-learn ``Pipeline``. Calling it again changes nothing. It is
    called for you when skl2onnx is imported before fastmlp's estimators.

    The network computes in the estimator's own precision; its input and
    scores are cast from and to the pipeline's (float, or double for a
    double input, as skl2onnx does). Classifiers take skl2onnx's ``zipmap``
    and ``nocl`` options as scikit-learn's do.

    >>> import fastmlp as fm, skl2onnx                       # doctest: +SKIP
    >>> fm.register_skl2onnx()                               # doctest: +SKIP
    >>> onx = skl2onnx.to_onnx(pipeline, X[:1].astype("float32"), options={"zipmap": False})  # doctest: +SKIP
    """
    try:
        from skl2onnx import update_registered_converter
    except ImportError as exc:
        raise missing_dependency("register_skl2onnx", "skl2onnx", cause=exc) from None
    from .estimators import MLPClassifier, MLPRegressor
    update_registered_converter(MLPClassifier, "FastmlpMLPClassifier", _skl_shape, _skl_convert,
                                options={"zipmap": [True, False, "columns"], "nocl": [False, True]})
    update_registered_converter(MLPRegressor, "FastmlpMLPRegressor", _skl_shape, _skl_convert)
