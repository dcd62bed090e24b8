"""Every bad input gets a clear ValueError/TypeError before any compiled code
runs, naming the argument, what was expected and what was given; every
acceptable input (lists, bools, ints, Fortran-ordered, read-only, strided) is
converted without compiling a new kernel specialisation.

The table runs with every compiled kernel replaced by a tripwire, so a case
only passes if the error is raised by the validation in front of the kernels.

Rows that need scikit-learn or pandas say so with require(): those packages
are in the `test` extra (pyproject.toml), so a missing one fails the row,
naming it, instead of skipping it.
"""

import importlib
import os
import warnings

import numpy as np
import pytest
import scipy.sparse

import fastmlp as fm
from fastmlp import bench, cli, engines
from fastmlp import kernels as K

# -- helpers ------------------------------------------------------------------------------------

def require(module):
    """Import `module`, a package of the `test` extra that a row needs. The
    extra installs it for every test run, so its absence is a broken test
    environment: the row fails, saying what to install, and is not skipped."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        problem = exc
    pytest.fail(f"this case needs {module}, which the test extra installs: pip install -e '.[test]' ({problem})",
                pytrace=False)


X4, Y4 = fm.datasets.xor()                        # (4, 2), (4, 1)
Y3 = np.array([0, 1, 2, 1])                      # class indices for a 3-class model


def binary(**kw):
    kw.setdefault("seed", 0)
    return fm.MLP([2, 4, 1], output="sigmoid", **kw)


def multi(**kw):
    kw.setdefault("seed", 0)
    return fm.MLP([2, 4, 3], output="softmax", **kw)


def counts(**kw):
    kw.setdefault("seed", 0)
    return fm.MLP([2, 4, 1], output="exp", **kw)


def X_with(*cells, value=np.nan):
    X = X4.copy()
    for cell in cells:
        X[cell] = value
    return X


def ro(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


# Entry points that take X: each must refuse bad X the same way.
X_ENTRIES = {
    "fit": lambda X: fm.Trainer(binary(), epochs=1, batch_size=4).fit(X, Y4),
    "predict": lambda X: binary().predict(X),
    "forward": lambda X: binary().forward(X),
    "loss_and_gradient": lambda X: binary().loss_and_gradient(X, Y4, "bce"),
}

# (id, bad X, exception, key words of the message)
X_CASES = [
    ("nan-and-inf", X_with((2, 1), (3, 0)), ValueError, ["X", "2 NaN or infinite values", "(2, 1)"]),
    ("one-inf", X_with((1, 0), value=np.inf), ValueError, ["X", "1 NaN or infinite value ", "(1, 0)"]),
    ("empty", np.zeros((0, 2)), ValueError, ["X", "empty", "(0, 2)"]),
    ("zero-features", np.zeros((4, 0)), ValueError, ["X", "0 features"]),
    ("3-d", np.zeros((4, 2, 1)), ValueError, ["2-D", "X", "3 dimensions", "(4, 2, 1)"]),
    ("1-d", np.zeros(4), ValueError, ["2-D", "X", "1-D", "reshape"]),
    ("scalar", 3.0, ValueError, ["2-D", "X", "0 dimensions"]),
    ("wrong-features", np.zeros((4, 3)), ValueError, ["X has 3 features", "expects 2"]),
    ("none", None, TypeError, ["X", "None"]),
    ("strings", X4.astype(str), TypeError, ["X", "numeric", "<U", "strings"]),
    ("object-with-string", np.array([[0, "a"], [1, 1], [0, 0], [1, 0]], dtype=object), TypeError,
     ["X", "numeric", "'a'", "str", "(0, 1)"]),
    ("object-with-none", np.array([[0, None], [1, 1], [0, 0], [1, 0]], dtype=object), TypeError,
     ["X", "numeric", "None", "(0, 1)"]),
    ("complex", X4.astype(complex), TypeError, ["X", "complex"]),
    ("datetime", np.zeros((4, 2), dtype="datetime64[s]"), TypeError, ["X", "numeric", "datetime64"]),
    ("ragged-list", [[0, 1], [1]], ValueError, ["X", "could not be converted"]),
]


def _sparse(X=X4, **kw):
    return scipy.sparse.csr_matrix(X, **kw)


def _bad_structure():
    m = scipy.sparse.csr_matrix(X4)
    m.indices[0] = 7          # a column index beyond the 2 columns
    return m


# Entry points that take a sparse X: each must refuse bad sparse X the same way.
SPARSE_ENTRIES = {
    "fit": lambda X: fm.Trainer(binary(), epochs=1, batch_size=4).fit(X, Y4),
    "predict": lambda X: binary().predict(X),
    "loss_and_gradient": lambda X: binary().loss_and_gradient(X, Y4, "bce"),
}

# (id, make bad sparse X, exception, key words)
SPARSE_CASES = [
    ("nan", lambda: _sparse(X_with((2, 1), (3, 0))), ValueError, ["X", "2 NaN or infinite values", "(2, 1)"]),
    ("wrong-features", lambda: _sparse(np.ones((4, 3))), ValueError, ["X has 3 features", "expects 2"]),
    ("empty", lambda: _sparse(np.zeros((0, 2))), ValueError, ["X", "empty", "(0, 2)"]),
    ("zero-features", lambda: _sparse(np.zeros((4, 0))), ValueError, ["X", "0 features"]),
    ("column-out-of-range", _bad_structure, ValueError, ["X", "sparse matrix", "column indices outside 0..1"]),
    ("complex", lambda: _sparse(X4.astype(complex)), TypeError, ["X", "complex"]),
]


# Entry points that take targets, with the name the messages use for them.
Y_ENTRIES = {
    "fit": ("y", lambda m, loss, y: fm.Trainer(m, loss=loss, epochs=1, batch_size=4).fit(X4, y)),
    "loss_and_gradient": ("y", lambda m, loss, y: m.loss_and_gradient(X4, y, loss)),
    "Loss.forward": ("target", lambda m, loss, y: fm.get_loss(loss).forward(
        np.full((4, m.n_outputs), 1.0 / m.n_outputs), y)),
    "Loss.backward": ("target", lambda m, loss, y: fm.get_loss(loss).backward(
        np.full((4, m.n_outputs), 1.0 / m.n_outputs), y)),
}

# (id, model builder, loss, bad y, exception, key words; {y} is the argument's name)
Y_CASES = [
    ("nan", binary, "mse", np.array([[0], [np.nan], [1], [0.0]]), ValueError,
     ["{y}", "1 NaN or infinite value", "(1, 0)"]),
    ("inf-1d", binary, "mse", np.array([0, 1, np.inf, -np.inf]), ValueError,
     ["{y}", "2 NaN or infinite values", "first at index 2"]),
    ("rows", binary, "mse", Y4[:3], ValueError, ["4 samples", "{y} has 3"]),
    ("outputs", binary, "mse", np.zeros((4, 2)), ValueError, ["{y} has 2 outputs", "has 1"]),
    ("1-d-for-3-outputs", multi, "mse", np.zeros(4), ValueError, ["{y} is 1-D", "3 outputs", "(4, 3)"]),
    ("3-d", binary, "mse", np.zeros((4, 1, 1)), ValueError, ["1-D or 2-D", "{y}", "(4, 1, 1)"]),
    ("strings", binary, "mse", Y4.astype(str), TypeError, ["{y}", "numeric", "strings"]),
    ("complex", binary, "mse", Y4.astype(complex), TypeError, ["{y}", "complex"]),
    ("none", binary, "mse", None, TypeError, ["{y}", "None"]),
    ("too-large-for-float32", lambda: binary(dtype=np.float32), "mse", np.array([0, 1, 1e39, 0]), ValueError,
     ["{y}", "too large for float32", "1e+39"]),
    ("bce-above-1", binary, "bce", Y4 * 2, ValueError, ["{y}", "bce", "[0, 1]", "to 2"]),
    ("bce-negative", binary, "bce", Y4 - 0.5, ValueError, ["{y}", "bce", "[0, 1]", "-0.5"]),
    ("ce-index-too-big", multi, "cross_entropy", np.array([0, 1, 3, 1]), ValueError,
     ["{y}", "class index 3", "position 2", "3 outputs", "[0, 2]"]),
    ("ce-index-negative", multi, "cross_entropy", np.array([0, -1, 2, 1]), ValueError,
     ["{y}", "class index -1", "[0, 2]"]),
    ("ce-index-not-integer", multi, "cross_entropy", np.array([0, 1.5, 2, 1]), ValueError,
     ["{y}", "integer class indices", "one-hot"]),
    ("ce-rows-not-summing-to-1", multi, "cross_entropy", np.ones((4, 3)), ValueError,
     ["{y}", "one-hot or probability rows", "row 0 sums to 3"]),
    ("ce-negative-probability", multi, "cross_entropy", np.array([[1.5, -0.5, 0]] * 4), ValueError,
     ["{y}", "negative value -0.5"]),
    ("ce-single-output", binary, "cross_entropy", Y4, ValueError,
     ["{y}", "sums to 0", "one output per class", "bce"]),
    ("poisson-negative", counts, "poisson", np.array([0, 2, -1.5, 1]), ValueError,
     ["{y}", "poisson", ">= 0", "counts", "-1.5", "row 2"]),
]


def _estimators():
    """fastmlp.estimators, which needs scikit-learn."""
    require("sklearn")
    return importlib.import_module("fastmlp.estimators")


def _estimator(kind, **kw):
    return getattr(_estimators(), kind)(max_iter=2, **kw)


# Entry points that take sample weights: each must refuse bad weights the same way.
SW_ENTRIES = {
    "fit": lambda sw: fm.Trainer(binary(), epochs=1, batch_size=4).fit(X4, Y4, sample_weight=sw),
    "loss_and_gradient": lambda sw: binary().loss_and_gradient(X4, Y4, "bce", sample_weight=sw),
    "MLPClassifier.fit": lambda sw: _estimator("MLPClassifier").fit(X4, [0, 1, 1, 0], sample_weight=sw),
    "MLPClassifier.partial_fit": lambda sw: _estimator("MLPClassifier").partial_fit(
        X4, [0, 1, 1, 0], sample_weight=sw, classes=[0, 1]),
    "MLPRegressor.fit": lambda sw: _estimator("MLPRegressor", solver="lbfgs").fit(X4, [0.5, 1, 1, 0],
                                                                                 sample_weight=sw),
}

# (id, bad sample_weight, exception, key words): scikit-learn's messages, and negative weights refused
SW_CASES = [
    ("negative", [1.0, -1.0, 2.0, 1.0], ValueError, ["Negative values", "sample_weight", "[1] = -1", ">= 0"]),
    ("nan", [1.0, np.nan, 1.0, 1.0], ValueError, ["Input sample_weight contains NaN", "index 1"]),
    ("inf", [np.inf, 1.0, 1.0, 1.0], ValueError, ["Input sample_weight contains infinity", "index 0"]),
    ("wrong-length", np.ones(3), ValueError, ["sample_weight.shape == (3,), expected (4,)!", "one weight per sample"]),
    ("all-zero", np.zeros(4), ValueError, ["Sample weights must contain at least one non-zero number"]),
    ("2-d", np.ones((4, 1)), ValueError, ["Sample weights must be 1D array or scalar, got 2D array",
                                          "length 4", "(4, 1)"]),
    ("scalar-negative", -2.0, ValueError, ["Negative values", "sample_weight"]),
    ("strings", np.array(["1", "2", "3", "4"]), TypeError, ["sample_weight", "numeric", "strings"]),
    ("bool", True, TypeError, ["sample_weight", "a number or a 1-D array"]),
    ("object-with-none", np.array([1, None, 1, 1], dtype=object), TypeError, ["sample_weight", "numeric", "None"]),
]


def _pd():
    return require("pandas")


def _named(columns=("a", "b")):
    """A model trained on a data frame with these column names."""
    m = binary()
    m.feature_names_in_ = np.array(columns, dtype=object)
    return m


def _hyper(**kw):
    return lambda: fm.Trainer(binary(), **kw)


def _chain():
    return fm.Model([fm.Linear(2, 8), fm.Linear(4, 1)])


def _set_weight(value):
    m = binary()
    m.layers[0].weight = value


# Everything else: (id, call, exception, key words)
OTHER_CASES = [
    # hyperparameters
    ("lr-zero", _hyper(lr=0), ValueError, ["'lr'", "finite float > 0", "Got 0"]),
    ("lr-negative", _hyper(lr=-0.1), ValueError, ["'lr'", "> 0", "Got -0.1."]),
    ("lr-nan", _hyper(lr=float("nan")), ValueError, ["'lr'", "finite", "nan"]),
    ("lr-inf", _hyper(lr=float("inf")), ValueError, ["'lr'", "finite", "inf"]),
    ("lr-string", _hyper(lr="0.1"), TypeError, ["'lr'", "real number", "'0.1'"]),
    ("lr-adam-negative", _hyper(lr=-1, optimizer="adam"), ValueError, ["'lr'", "> 0", "-1"]),
    ("batch-size-zero", _hyper(batch_size=0), ValueError, ["'batch_size'", ">= 1", "Got 0"]),
    ("batch-size-negative", _hyper(batch_size=-5), ValueError, ["'batch_size'", ">= 1", "-5"]),
    ("batch-size-fraction", _hyper(batch_size=2.5), TypeError, ["'batch_size'", "integer", "2.5"]),
    ("epochs-negative", _hyper(epochs=-1), ValueError, ["'epochs'", ">= 0", "-1"]),
    ("fit-epochs-negative", lambda: fm.Trainer(binary()).fit(X4, Y4, epochs=-3), ValueError,
     ["'epochs'", ">= 0", "-3"]),
    ("momentum-1", _hyper(momentum=1.0), ValueError, ["'momentum'", "< 1", "1.0"]),
    ("momentum-negative", _hyper(momentum=-0.5), ValueError, ["'momentum'", ">= 0", "-0.5"]),
    ("beta-1", _hyper(optimizer="adam", beta_1=1.0), ValueError, ["'beta_1'", "< 1"]),
    ("beta-2", _hyper(optimizer="adam", beta_2=-0.1), ValueError, ["'beta_2'", ">= 0"]),
    ("epsilon-zero", _hyper(optimizer="adam", epsilon=0), ValueError, ["'epsilon'", "> 0"]),
    ("alpha-negative", _hyper(alpha=-1e-4), ValueError, ["'alpha'", ">= 0", "-0.0001"]),
    ("target-loss-negative", _hyper(target_loss=-1), ValueError, ["'target_loss'", "> 0"]),
    ("print-every-zero", _hyper(print_every=0), ValueError, ["'print_every'", ">= 1"]),
    ("seed-string", _hyper(seed="abc"), TypeError, ["'seed'", "integer >= 0", "'abc'"]),
    ("seed-negative", _hyper(seed=-1), ValueError, ["'seed'", "integer >= 0", "-1"]),
    ("seed-float", _hyper(seed=1.5), TypeError, ["'seed'", "1.5"]),
    ("shuffle-string", _hyper(shuffle="no"), TypeError, ["'shuffle'", "True or False", "'no'"]),
    ("per-sample-string", _hyper(per_sample="yes"), ValueError, ["'per_sample'", "True, False or 'gradient'", "'yes'"]),
    ("per-sample-number", _hyper(per_sample=2), TypeError, ["'per_sample'", "True, False or 'gradient'"]),
    ("nesterov-string", _hyper(momentum=0.9, nesterov="yes"), TypeError, ["'nesterov'", "True or False"]),
    ("trainer-without-model", lambda: fm.Trainer("model"), TypeError, ["model", "fastmlp.Model", "str"]),
    # names: valid list and the closest suggestion
    ("loss-name", _hyper(loss="crossentropy"), ValueError,
     ["'loss'", "'mse', 'half_mse', 'bce', 'cross_entropy'", "'crossentropy'", "Did you mean 'cross_entropy'"]),
    ("loss-name-mae", _hyper(loss="mae"), ValueError, ["'loss'", "Got 'mae'", "Did you mean 'mse'"]),
    ("loss-not-a-string", _hyper(loss=3), ValueError, ["'loss'", "Got 3"]),
    ("optimizer-name", _hyper(optimizer="adamw"), ValueError,
     ["'optimizer'", "'sgd', 'adam'", "'adamw'", "Did you mean 'adam'"]),
    ("activation-name", lambda: fm.MLP([2, 3, 1], activation="rellu"), ValueError,
     ["'activation'", "'relu', 'sigmoid', 'tanh', 'identity'", "Did you mean 'relu'"]),
    ("output-name", lambda: fm.MLP([2, 3, 1], output="sigmod"), ValueError,
     ["'output'", "'softmax'", "Did you mean 'sigmoid'"]),
    ("init-name", lambda: fm.MLP([2, 3, 1], init="xavir"), ValueError,
     ["'init'", "'xavier', 'glorot', 'he'", "Did you mean 'xavier'"]),
    ("get-loss-name", lambda: fm.get_loss("hinge"), ValueError, ["'loss'", "'bce'", "'hinge'"]),
    ("loss-and-gradient-loss-name", lambda: binary().loss_and_gradient(X4, Y4, "msee"), ValueError,
     ["'loss'", "Did you mean 'mse'"]),
    ("dataset-name", lambda: fm.datasets.get("xorr"), ValueError,
     ["'dataset'", "'xor', 'line', 'celsius'", "Did you mean 'xor'"]),
    # architecture
    ("sizes-do-not-chain", _chain, ValueError,
     ["do not chain", "layers[1]", "Linear(4, 1)", "expects 4 inputs", "gives 8"]),
    ("softmax-not-last", lambda: fm.Model([fm.Linear(2, 8), fm.Softmax(), fm.Linear(8, 1)]), ValueError,
     ["Softmax must be the last layer", "position 1 of 3"]),
    ("first-layer-not-linear", lambda: fm.Model([fm.ReLU(), fm.Linear(2, 1)]), ValueError,
     ["first layer must be Linear", "ReLU()"]),
    ("no-layers", lambda: fm.Model([]), ValueError, ["at least one layer"]),
    ("not-a-layer", lambda: fm.Model([fm.Linear(2, 1), "relu"]), TypeError, ["layers[1]", "'relu'"]),
    ("layer-twice", lambda: (lambda r: fm.Model([fm.Linear(2, 2), r, fm.Linear(2, 2), r]))(fm.ReLU()),
     ValueError, ["same layer object appears twice"]),
    ("linear-zero-width", lambda: fm.Linear(0, 3), ValueError, ["'in_features'", ">= 1", "Got 0"]),
    ("linear-fractional-width", lambda: fm.Linear(2, 2.5), TypeError, ["'out_features'", "integer", "2.5"]),
    ("linear-weight-shape", lambda: fm.Linear(2, 3, weight=np.zeros((3, 2))), ValueError,
     ["weight must have shape (2, 3)", "got shape (3, 2)"]),
    ("linear-weight-strings", lambda: fm.Linear(2, 2, weight=[[1, "a"], [1, 2]]), TypeError,
     ["weight must be numeric", "strings"]),
    ("linear-bias-none", lambda: fm.Linear(2, 3, bias=None), TypeError, ["bias must be True, False or 3 initial values",
                                                                        "None"]),
    ("mlp-bias-string", lambda: fm.MLP([2, 1], bias="no"), TypeError, ["bias must be True, False or 1 initial value;",
                                                                      "'no'"]),
    ("mlp-sizes-int", lambda: fm.MLP(3), TypeError, ["sizes must be a list of layer widths", "got 3"]),
    ("adam-momentum", lambda: fm.Trainer(fm.MLP([2, 1]), optimizer="adam", momentum=0.9), ValueError,
     ["momentum and nesterov apply to optimizer='sgd' only", "momentum=0.9", "beta_1"]),
    ("predict-huge-int", lambda: fm.MLP([2, 1]).predict([[10**400, 0]]), ValueError,
     ["X holds a number too large for float64 at index (0, 0)"]),
    ("ce-index-huge", lambda: fm.MLP([2, 3], output="softmax").loss_and_gradient(np.zeros((2, 2)), [1e20, 0],
                                                                                  "cross_entropy"),
     ValueError, ["class index 1e+20 at position 0", "expected indices in [0, 2]"]),
    ("bce-on-identity", lambda: fm.Trainer(fm.MLP([2, 1]), loss="bce"), ValueError,
     ["loss='bce' needs probabilities in [0, 1]", "Sigmoid or Softmax", "Linear(2, 1)"]),
    ("linear-weight-nan", lambda: fm.Linear(1, 1, weight=[[np.nan]]), ValueError, ["weight", "NaN"]),
    ("linear-bias-shape", lambda: fm.Linear(2, 3, bias=[1.0, 2.0]), ValueError, ["bias", "(3,)"]),
    ("set-weight-nan", lambda: _set_weight(np.full((2, 4), np.nan)), ValueError,
     ["weight", "8 NaN or infinite values"]),
    ("set-weight-shape", lambda: _set_weight(np.zeros((4, 2))), ValueError, ["weight", "(2, 4)", "(4, 2)"]),
    ("set-weight-strings", lambda: _set_weight(np.full((2, 4), "1")), TypeError, ["weight", "numeric"]),
    ("mlp-one-size", lambda: fm.MLP([2]), ValueError, ["sizes", "at least", "[2]"]),
    ("mlp-zero-width", lambda: fm.MLP([2, 0, 1]), ValueError, ["'sizes[1]'", ">= 1", "Got 0"]),
    ("dtype-int", lambda: fm.MLP([2, 1], dtype=np.int32), TypeError, ["dtype", "float32 or float64", "int32"]),
    ("dtype-float16", lambda: fm.MLP([2, 1], dtype=np.float16), TypeError, ["float32 or float64", "float16"]),
    ("dtype-nonsense", lambda: fm.MLP([2, 1], dtype="banana"), TypeError, ["float32 or float64", "'banana'"]),
    ("model-seed", lambda: fm.MLP([2, 1], seed="x"), TypeError, ["'seed'", "'x'"]),
    ("init-argument", lambda: fm.init.get("normal", std=-1), ValueError, ["'std'", "> 0", "-1"]),
    ("xavier-factor", lambda: fm.init.Xavier(factor=0), ValueError, ["'factor'", "> 0", "0"]),
    ("xavier-uniform-bias", lambda: fm.init.Xavier(uniform_bias="yes"), TypeError, ["'uniform_bias'", "'yes'"]),
    # call order
    ("backward-before-forward", lambda: binary().backward(np.zeros((4, 1))), RuntimeError,
     ["backward()", "before forward()"]),
    ("layer-backward-before-forward", lambda: fm.ReLU().backward(np.zeros((4, 1))), RuntimeError,
     ["ReLU.backward()", "before forward()"]),
    ("linear-outside-model", lambda: fm.Linear(2, 1).forward(X4), RuntimeError, ["not part of a Model"]),
    # other library arguments
    ("alpha-in-loss-and-gradient", lambda: binary().loss_and_gradient(X4, Y4, "mse", alpha=-1), ValueError,
     ["'alpha'", ">= 0"]),
    ("per-sample-in-loss-and-gradient", lambda: binary().loss_and_gradient(X4, Y4, "mse", per_sample="no"),
     ValueError, ["'per_sample'", "'gradient'"]),
    ("loss-pred-nan", lambda: fm.get_loss("mse").forward(np.array([[np.nan]]), np.array([[1.0]])),
     ValueError, ["pred", "NaN"]),
    ("loss-shapes", lambda: fm.get_loss("mse").forward(np.zeros((3, 2)), np.zeros((3, 1))), ValueError,
     ["target has 1 outputs", "2"]),
    ("sparse-X-forward", lambda: binary().forward(_sparse()), TypeError,
     ["X", "sparse", "needs a dense array", "predict, Trainer.fit and loss_and_gradient take sparse X", "toarray"]),
    ("too-large-for-float32", lambda: binary(dtype=np.float32).predict(X_with((0, 1), value=1e300)),
     ValueError, ["X", "1 value too large for float32", "(0, 1)", "1e+300", "float64"]),
    ("datasets-n", lambda: fm.datasets.line(0), ValueError, ["'n'", ">= 1", "Got 0"]),
    ("datasets-n-type", lambda: fm.datasets.celsius("10"), TypeError, ["'n'", "integer"]),
    # class_weight and the poisson loss
    ("class-weight-string", _hyper(loss="bce", class_weight="balance"), ValueError,
     ["'class_weight'", "'balanced'", "Did you mean 'balanced'"]),
    ("class-weight-type", _hyper(loss="bce", class_weight=[1, 2]), TypeError,
     ["'class_weight'", "None, 'balanced' or a dict", "[1, 2]"]),
    ("class-weight-negative", _hyper(loss="bce", class_weight={0: -1.0}), ValueError,
     ["'class_weight[0]'", ">= 0", "-1.0"]),
    ("class-weight-key", _hyper(loss="bce", class_weight={"a": 1.0}), TypeError,
     ["class_weight keys must be class indices", "'a'"]),
    ("class-weight-regression", lambda: fm.Trainer(fm.MLP([2, 1]), loss="mse", class_weight="balanced"),
     ValueError, ["class_weight applies to", "'bce' and 'cross_entropy'", "'mse'"]),
    ("class-weight-unknown-class", lambda: fm.Trainer(multi(), loss="cross_entropy", class_weight={3: 2.0},
                                                      batch_size=4).fit(X4, Y3), ValueError,
     ["class_weight has the class 3", "0..2"]),
    ("class-weight-probability-rows", lambda: fm.Trainer(multi(), loss="cross_entropy", class_weight="balanced",
                                                         batch_size=4).fit(X4, np.full((4, 3), 1 / 3)),
     ValueError, ["class_weight needs class targets", "probability rows"]),
    ("class-weight-soft-bce", lambda: fm.Trainer(binary(), loss="bce", class_weight="balanced",
                                                 batch_size=4).fit(X4, Y4 * 0.5), ValueError,
     ["class_weight needs 0/1 targets"]),
    ("class-weight-times-weights-zero", lambda: fm.Trainer(binary(), loss="bce", class_weight={1: 0.0},
                                                           batch_size=4).fit(X4, Y4, sample_weight=Y4.ravel()),
     ValueError, ["at least one non-zero", "class weights"]),
    ("poisson-on-identity", lambda: fm.Trainer(fm.MLP([2, 1]), loss="poisson"), ValueError,
     ["loss='poisson' needs predicted means", "Exp", "output='exp'", "Linear(2, 1)"]),
    ("poisson-loss-and-gradient-on-sigmoid", lambda: binary().loss_and_gradient(X4, Y4, "poisson"), ValueError,
     ["loss='poisson'", "Exp", "Sigmoid()"]),
    ("poisson-negative-estimator", lambda: _estimator("MLPRegressor", loss="poisson").fit(X4, [0, 1, -2, 1]),
     ValueError, ["loss='poisson' needs targets y >= 0", "-2", "index 2"]),
    ("classifier-class-weight", lambda: _estimator("MLPClassifier", class_weight="even").fit(X4, [0, 1, 1, 0]),
     ValueError, ["class_weight", "'balanced'"]),
    # data frames
    ("frame-mixed-column-names", lambda: binary().predict(_pd().DataFrame(X4, columns=["a", 1])), TypeError,
     ["Feature names are only supported if all input features have string names", "['int', 'str']"]),
    ("frame-other-names", lambda: _named().predict(_pd().DataFrame(X4, columns=["a", "c"])), ValueError,
     ["feature names should match", "unseen at fit time: c", "missing: b"]),
    ("frame-other-order", lambda: _named().predict(_pd().DataFrame(X4, columns=["b", "a"])), ValueError,
     ["same order as they were in fit: a, b"]),
    ("frame-other-names-in-fit", lambda: fm.Trainer(_named(), batch_size=4).fit(
        _pd().DataFrame(X4, columns=["x", "y"]), Y4), ValueError, ["feature names should match", "x, y"]),
    ("categorical-y-missing", lambda: fm.Trainer(multi(), loss="cross_entropy", batch_size=4).fit(
        X4, _pd().Categorical(["a", "b", None, "c"])), ValueError,
     ["y is categorical with a missing value at position 2"]),
    # the Trainer's setters and run_epochs
    ("lr-setter", lambda: setattr(fm.Trainer(binary()), "lr", 0.0), ValueError, ["'lr'", "> 0", "Got 0.0"]),
    ("batch-size-setter", lambda: setattr(fm.Trainer(binary()), "batch_size", -2), ValueError,
     ["'batch_size'", ">= 1", "-2"]),
    ("run-epochs-epochs", lambda: fm.Trainer(binary()).run_epochs(X4, Y4, 0), ValueError, ["'epochs'", ">= 1"]),
    ("run-epochs-order-length", lambda: fm.Trainer(binary()).run_epochs(X4, Y4, 2, order=np.arange(5)), ValueError,
     ["order", "n=4", "epochs * n=8", "(5,)"]),
    ("run-epochs-order-index", lambda: fm.Trainer(binary()).run_epochs(X4, Y4, 1, order=np.array([0, 1, 4, 2])),
     ValueError, ["order[2] = 4", "0 to 3"]),
    ("run-epochs-order-dtype", lambda: fm.Trainer(binary()).run_epochs(X4, Y4, 1, order=np.zeros(4)), TypeError,
     ["order", "integer", "float64"]),
    # fastmlp bench's own workload
    ("bench-layers", lambda: bench.custom_workload([3, 4, 1]), ValueError, ["'layers'", "2 features", "[3, 4, 1]"]),
    ("bench-layers-type", lambda: bench.custom_workload("2,4,1"), TypeError, ["'layers'", "list of widths"]),
    ("bench-activation", lambda: bench.custom_workload(activation="gelu"), ValueError, ["'activation'", "'gelu'"]),
    ("bench-output", lambda: bench.custom_workload(output="exp"), ValueError, ["'output'", "'exp'"]),
    ("bench-loss-poisson", lambda: bench.custom_workload(loss="poisson"), ValueError, ["'loss'", "'poisson'"]),
    ("bench-loss", lambda: bench.custom_workload(loss="hinge"), ValueError, ["'loss'", "'hinge'"]),
    ("bench-lr", lambda: bench.custom_workload(lr=0), ValueError, ["'lr'", "> 0.0"]),
    ("bench-batch", lambda: bench.custom_workload(batch_size=1.5), TypeError, ["'batch_size'", "integer"]),
    ("bench-epochs", lambda: bench.custom_workload(epochs=0), ValueError, ["'epochs'", ">= 1", "Got 0"]),
    ("bench-dtype", lambda: bench.custom_workload(dtype="int8"), TypeError, ["float32 or float64", "int8"]),
    ("bench-data-and-dataset", lambda: bench.custom_workload(data="a.csv", dataset="xor"), ValueError,
     ["'data'", "'dataset'", "not both"]),
    # ONNX export
    ("onnx-model", lambda: fm.to_onnx("model.npz"), TypeError,
     ["fastmlp.Model, MLPClassifier or MLPRegressor", "got str"]),
    ("onnx-estimator-not-fitted", lambda: fm.MLPClassifier().to_onnx(), ValueError,
     ["MLPClassifier instance is not fitted yet"]),
    ("onnx-opset-low", lambda: fm.to_onnx(binary(), opset=12), ValueError, ["'opset'", ">= 13", "Got 12"]),
    ("onnx-opset-high", lambda: fm.to_onnx(binary(), opset=1000), ValueError, ["'opset'", "from 13 to", "1000"]),
    ("onnx-opset-type", lambda: fm.to_onnx(binary(), opset="17"), TypeError, ["'opset'", "integer", "'17'"]),
    ("onnx-path-type", lambda: fm.to_onnx(binary(), path=3), TypeError, ["'path'", "file path", "3"]),
    ("onnx-path-directory", lambda: fm.to_onnx(binary(), path=os.getcwd()), ValueError,
     ["'path'", "is a directory", "expected a file name"]),
    ("onnx-classes-count", lambda: fm.to_onnx(multi(), classes=["a", "b"]), ValueError,
     ["'classes'", "3 class labels", "got 2"]),
    ("onnx-classes-binary-count", lambda: fm.to_onnx(binary(), classes=[1]), ValueError,
     ["'classes'", "2 class labels", "got 1"]),
    ("onnx-classes-duplicates", lambda: fm.to_onnx(binary(), classes=[1, 1]), ValueError,
     ["'classes'", "distinct", "[1, 1]"]),
    ("onnx-classes-string", lambda: fm.to_onnx(binary(), classes="ab"), TypeError,
     ["'classes'", "list of class labels", "'ab'"]),
    ("onnx-classes-objects", lambda: fm.to_onnx(binary(), classes=[None, 1]), TypeError,
     ["'classes'", "integers, floats, booleans or strings", "object"]),
    ("onnx-classes-nan", lambda: fm.to_onnx(binary(), classes=[0.0, np.nan]), ValueError,
     ["'classes'", "finite", "nan"]),
    ("onnx-classes-nested", lambda: fm.to_onnx(multi(), classes=[[0, 1, 2]]), ValueError,
     ["'classes'", "flat list", "(1, 3)"]),
    ("onnx-classes-regression-output", lambda: fm.to_onnx(fm.MLP([2, 3, 1]), classes=[0, 1]), ValueError,
     ["'classes'", "Softmax, or Sigmoid with one output", "Linear(3, 1)"]),
    ("onnx-classes-multi-sigmoid", lambda: fm.to_onnx(fm.MLP([2, 3], output="sigmoid"), classes=[0, 1, 2]),
     ValueError, ["'classes'", "Sigmoid()", "3 outputs"]),
    ("onnx-feature-names-count", lambda: fm.to_onnx(binary(), feature_names=["a"]), ValueError,
     ["'feature_names'", "2 names", "got 1"]),
    ("onnx-feature-names-type", lambda: fm.to_onnx(binary(), feature_names=["a", 2]), TypeError,
     ["'feature_names'", "strings", "2 at position 1"]),
    ("onnx-feature-names-string", lambda: fm.to_onnx(binary(), feature_names="ab"), TypeError,
     ["'feature_names'", "list of 2 strings", "'ab'"]),
    # validation, early stopping, schedules, standardisation, class labels
    ("validation-split-1", _hyper(validation_split=1.0), ValueError, ["'validation_split'", "< 1", "Got 1.0"]),
    ("validation-split-negative", _hyper(validation_split=-0.2), ValueError, ["'validation_split'", "> 0", "-0.2"]),
    ("validation-split-string", _hyper(validation_split="0.2"), TypeError, ["'validation_split'", "real number"]),
    ("validation-split-too-small", lambda: fm.Trainer(binary(), validation_split=0.1, batch_size=4).fit(X4, Y4),
     ValueError, ["'validation_split'", "0.1 of 4 samples", "0 for validation", "at least one"]),
    ("validation-split-and-data", lambda: fm.Trainer(binary(), validation_split=0.5).fit(
        X4, Y4, validation_data=(X4, Y4)), ValueError, ["validation_data", "validation_split=0.5", "not both"]),
    ("validation-data-not-a-pair", lambda: fm.Trainer(binary()).fit(X4, Y4, validation_data=X4), TypeError,
     ["'validation_data'", "pair (X_val, y_val)", "array of dtype float64"]),
    ("validation-data-features", lambda: fm.Trainer(binary()).fit(X4, Y4, validation_data=(np.zeros((3, 3)), Y4[:3])),
     ValueError, ["validation_data[0] has 3 features", "expects 2"]),
    ("validation-data-rows", lambda: fm.Trainer(binary()).fit(X4, Y4, validation_data=(X4, Y4[:3])), ValueError,
     ["validation_data[1] has 3", "4 samples"]),
    ("validation-data-nan", lambda: fm.Trainer(binary()).fit(X4, Y4, validation_data=(X_with((0, 0)), Y4)),
     ValueError, ["validation_data[0]", "1 NaN or infinite value"]),
    ("validation-data-bce-range", lambda: fm.Trainer(binary(), loss="bce").fit(X4, Y4, validation_data=(X4, Y4 * 3)),
     ValueError, ["validation_data[1] for bce", "[0, 1]"]),
    ("validation-data-column-order", lambda: fm.Trainer(binary()).fit(
        _pd().DataFrame(X4, columns=["a", "b"]), Y4, validation_data=(_pd().DataFrame(X4, columns=["b", "a"]), Y4)),
     ValueError, ["feature names of validation_data[0]", "same order", "a, b"]),
    ("planned-engine-epochs", lambda: fm.Trainer(binary()).planned_engine(X4, Y4, epochs=0), ValueError,
     ["'epochs'", ">= 1", "Got 0"]),
    ("planned-engine-rows", lambda: fm.Trainer(binary(), validation_split=0.5).planned_engine(X4, Y4[:3]),
     ValueError, ["3", "4"]),
    ("early-stopping-string", _hyper(early_stopping="10"), TypeError,
     ["'early_stopping'", "patience (an integer >= 0) or an EarlyStopping", "'10'"]),
    ("early-stopping-bool", _hyper(early_stopping=True), TypeError, ["'early_stopping'", "True"]),
    ("early-stopping-negative", _hyper(early_stopping=-1), ValueError, ["'early_stopping'", ">= 0", "-1"]),
    ("early-stopping-config", _hyper(early_stopping={"patience": 3, "wait": 1}), ValueError,
     ["'early_stopping'", "EarlyStopping does not take", "'wait'"]),
    ("patience-negative", lambda: fm.EarlyStopping(patience=-2), ValueError, ["'patience'", ">= 0", "-2"]),
    ("patience-fraction", lambda: fm.EarlyStopping(patience=2.5), TypeError, ["'patience'", "integer", "2.5"]),
    ("min-delta-negative", lambda: fm.EarlyStopping(min_delta=-0.1), ValueError, ["'min_delta'", ">= 0", "-0.1"]),
    ("monitor-name", lambda: fm.EarlyStopping(monitor="val_acc"), ValueError,
     ["'monitor'", "'val_loss', 'val_accuracy', 'val_r2', 'loss'", "Did you mean 'val_accuracy'"]),
    ("restore-best-string", lambda: fm.EarlyStopping(restore_best="yes"), TypeError,
     ["'restore_best'", "True or False"]),
    ("monitor-without-validation", lambda: fm.Trainer(binary(), early_stopping=5, batch_size=4).fit(X4, Y4),
     ValueError, ["'early_stopping'", "monitors 'val_loss'", "no validation data", "validation_split=0.2",
                  "monitor 'loss'"]),
    ("monitor-of-another-task", lambda: fm.Trainer(binary(), batch_size=4, early_stopping=fm.EarlyStopping(
        monitor="val_r2")).fit(X4, Y4, validation_data=(X4, Y4)), ValueError,
     ["'early_stopping'", "monitors 'val_r2'", "binary model", "'val_accuracy'"]),
    ("plateau-without-validation", lambda: fm.Trainer(binary(), batch_size=4, lr_schedule="plateau").fit(X4, Y4),
     ValueError, ["'lr_schedule'", "monitors 'val_loss'", "no validation data"]),
    ("lr-schedule-name", _hyper(lr_schedule="cosin"), ValueError,
     ["'lr_schedule'", "'constant', 'step', 'cosine', 'plateau'", "Did you mean 'cosine'"]),
    ("lr-schedule-type", _hyper(lr_schedule=0.5), TypeError, ["'lr_schedule'", "schedule object", "0.5"]),
    ("engine-name", _hyper(engine="specialised"), ValueError,
     ["'engine'", "'auto', 'generic', 'specialized'", "Did you mean 'specialized'"]),
    ("engine-type", _hyper(engine=1), ValueError, ["'engine'", "'auto'"]),
    ("engine-specialized-sparse", lambda: fm.Trainer(binary(), batch_size=4, engine="specialized").fit(
        _sparse(X4), Y4), ValueError, ["engine='specialized'", "dense inputs only", "sparse"]),
    ("lr-schedule-config", _hyper(lr_schedule={"name": "step", "gamma": 0.1}), ValueError,
     ["'lr_schedule'", "StepDecay does not take", "'gamma'", "'factor'"]),
    ("step-size-zero", lambda: fm.StepDecay(step_size=0), ValueError, ["'step_size'", ">= 1", "Got 0"]),
    ("step-factor", lambda: fm.StepDecay(factor=1.5), ValueError, ["'factor'", "< 1", "1.5"]),
    ("cosine-epochs", lambda: fm.CosineDecay(epochs=0), ValueError, ["'epochs'", ">= 1"]),
    ("cosine-min-lr", lambda: fm.CosineDecay(min_lr=-1), ValueError, ["'min_lr'", ">= 0", "-1"]),
    ("cosine-min-lr-above-lr", lambda: fm.Trainer(binary(), lr=0.01, batch_size=4,
                                                  lr_schedule=fm.CosineDecay(min_lr=0.1)).fit(X4, Y4),
     ValueError, ["'min_lr'", "<= the learning rate (0.01)", "0.1"]),
    ("plateau-factor", lambda: fm.ReduceLROnPlateau(factor=0), ValueError, ["'factor'", "> 0", "Got 0"]),
    ("plateau-patience", lambda: fm.ReduceLROnPlateau(patience=-1), ValueError, ["'patience'", ">= 0"]),
    ("plateau-cooldown", lambda: fm.ReduceLROnPlateau(cooldown=1.5), TypeError, ["'cooldown'", "integer"]),
    ("plateau-monitor", lambda: fm.ReduceLROnPlateau(monitor="accuracy"), ValueError,
     ["'monitor'", "'val_accuracy'"]),
    ("standardize-string", _hyper(standardize="yes"), TypeError, ["'standardize'", "True or False", "'yes'"]),
    ("standardizer-scale-zero", lambda: fm.Standardizer([0.0, 1.0], [1.0, 0.0]), ValueError,
     ["scale must be > 0", "scale[1] is 0"]),
    ("standardizer-mean-only", lambda: fm.Standardizer([0.0, 1.0]), ValueError, ["both mean and scale"]),
    ("standardizer-nan", lambda: fm.Standardizer([np.nan], [1.0]), ValueError, ["mean", "NaN"]),
    ("standardizer-not-fitted", lambda: fm.Standardizer().transform(X4), ValueError, ["not fitted", "fit(X)"]),
    ("standardizer-type", lambda: setattr(binary(), "standardizer", "zscore"), TypeError,
     ["'standardizer'", "Standardizer", "str"]),
    ("standardizer-columns", lambda: setattr(binary(), "standardizer", fm.Standardizer().fit(np.zeros((3, 3)))),
     ValueError, ["'standardizer'", "fitted on 3 columns", "2 inputs"]),
    ("classes-count", lambda: setattr(multi(), "classes", ["a", "b"]), ValueError,
     ["classes must list 3 labels", "got 2"]),
    ("classes-duplicates", lambda: setattr(binary(), "classes", ["a", "a"]), ValueError, ["distinct", "'a'"]),
    ("classes-mixed", lambda: setattr(binary(), "classes", ["a", 1]), TypeError, ["all strings or all numbers"]),
    ("classes-string", lambda: setattr(binary(), "classes", "ab"), TypeError, ["classes must be a list", "'ab'"]),
    ("classes-on-a-regressor", lambda: setattr(fm.MLP([2, 1]), "classes", ["a", "b"]), ValueError,
     ["'classes' parameter applies to classifiers", "Linear(2, 1)"]),
    ("predict-labels-of-a-regressor", lambda: fm.MLP([2, 1]).predict_labels(X4), ValueError,
     ["predict_labels needs a classifier", "Linear(2, 1)"]),
    ("predict-labels-bad-X", lambda: binary().predict_labels(np.zeros((2, 3))), ValueError,
     ["X has 3 features", "expects 2"]),
]


def _write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)
    return path


# Data files: (id, writer(tmp_path) -> path, load kwargs, key words); all raise DataError (a ValueError).
FILE_CASES = [
    ("missing", lambda d: os.path.join(d, "nope.csv"), {}, ["nope.csv", "no such file"]),
    ("non-numeric", lambda d: _write(os.path.join(d, "a.csv"), "a,b\n1,x\n"), {},
     ["non-numeric", "'x'", "row 2", "column 'b'"]),
    ("nan", lambda d: _write(os.path.join(d, "a.csv"), "a,b\n1,2\nnan,3\n"), {},
     ["NaN or infinite", "row 3", "column 'a'"]),
    ("ragged", lambda d: _write(os.path.join(d, "a.csv"), "a,b\n1,2\n3\n"), {}, ["row 3", "1 cells", "header has 2"]),
    ("header-only", lambda d: _write(os.path.join(d, "a.csv"), "a,b\n"), {}, ["header row", "data row"]),
    ("empty", lambda d: _write(os.path.join(d, "a.csv"), ""), {}, ["a.csv", "header row", "data row"]),
    ("not-utf8", lambda d: _write(os.path.join(d, "a.csv"), b"a,b\n\xff\xfe,1\n", "wb"), {}, ["UTF-8"]),
    ("one-column", lambda d: _write(os.path.join(d, "a.csv"), "a\n1\n2\n"), {}, ["feature column", "target"]),
    ("unknown-target", lambda d: _write(os.path.join(d, "a.csv"), "a,b\n1,2\n"), {"target": "c"},
     ["no column named 'c'", "a, b"]),
    ("target-index", lambda d: _write(os.path.join(d, "a.csv"), "a,b\n1,2\n"), {"target": 5},
     ["index 5", "out of range"]),
    ("npy-3d", lambda d: (np.save(os.path.join(d, "a.npy"), np.zeros((2, 2, 2))), os.path.join(d, "a.npy"))[1],
     {}, ["2-D", "(2, 2, 2)"]),
    ("npy-objects", lambda d: (np.save(os.path.join(d, "a.npy"), np.array([[1, "x"]], dtype=object)),
                               os.path.join(d, "a.npy"))[1], {}, ["a.npy"]),
    ("npy-strings", lambda d: (np.save(os.path.join(d, "a.npy"), np.array([["1", "x"]])),
                               os.path.join(d, "a.npy"))[1], {}, ["dtype", "expected numbers"]),
    ("npz-keys", lambda d: (np.savez(os.path.join(d, "a.npz"), a=np.zeros((2, 2)), b=np.zeros(2)),
                            os.path.join(d, "a.npz"))[1], {}, ["'X' and 'y'"]),
    ("garbage-npy", lambda d: _write(os.path.join(d, "a.npy"), b"\x93NUMPY garbage", "wb"), {}, ["not a readable"]),
]


# -- the tripwire: no compiled code may run while validating ------------------------------------

@pytest.fixture
def tripwire(monkeypatch):
    """Replace every compiled kernel, and every Python entry to the compiled
    per-loss functions (kernels.ENTRIES), by a function that fails the test
    if called."""
    def make(name):
        def tripped(*args, **kwargs):
            raise AssertionError(f"compiled kernel {name} was called before validation finished")
        return tripped
    for name in dir(K):
        if hasattr(getattr(K, name), "signatures") or name in K.ENTRIES:
            monkeypatch.setattr(K, name, make(name))
    monkeypatch.setattr(engines, "specialized", make("specialized engine"))


# (id, a call that runs compiled code, the kernel it reaches first, or None for any)
TRIPWIRE_CASES = [
    ("predict", lambda: binary().predict(X4), "predict_into"),
    ("Trainer.fit", lambda: fm.Trainer(binary(), batch_size=4, epochs=1).fit(X4, Y4), "train_epochs"),
    ("MLPClassifier.fit", lambda: _estimator("MLPClassifier").fit(X4, [0, 1, 1, 0]), None),
    ("cli-train", lambda: cli.main(["train", "--quiet", "--epochs", "1"]), None),
]


@pytest.mark.parametrize("case_id,call,kernel", TRIPWIRE_CASES, ids=[c[0] for c in TRIPWIRE_CASES])
def test_the_tripwire_trips(tripwire, case_id, call, kernel):
    with pytest.raises(AssertionError, match=f"compiled kernel {kernel or ''}"):
        call()


def assert_message(excinfo, words):
    msg = str(excinfo.value)
    for w in words:
        assert w.lower() in msg.lower(), f"{w!r} not in message: {msg}"


def assert_refused(entry, value, exc, words):
    """entry(value) raises exc, whose message holds the key words."""
    with pytest.raises(exc) as excinfo:
        entry(value)
    assert_message(excinfo, words)


@pytest.mark.parametrize("entry", list(X_ENTRIES))
@pytest.mark.parametrize("case_id,X,exc,words", X_CASES, ids=[c[0] for c in X_CASES])
def test_bad_X(tripwire, entry, case_id, X, exc, words):
    assert_refused(X_ENTRIES[entry], X, exc, words)


@pytest.mark.parametrize("entry", list(Y_ENTRIES))
@pytest.mark.parametrize("case_id,build,loss,y,exc,words", Y_CASES, ids=[c[0] for c in Y_CASES])
def test_bad_y(tripwire, entry, case_id, build, loss, y, exc, words):
    name, call = Y_ENTRIES[entry]
    if entry.startswith("Loss.") and case_id == "too-large-for-float32":
        pytest.skip("a Loss takes its dtype from pred (float64 here)")
    with pytest.raises(exc) as excinfo:
        call(build(), loss, y)
    assert_message(excinfo, [w.format(y=name) for w in words])


@pytest.mark.parametrize("entry", list(SPARSE_ENTRIES))
@pytest.mark.parametrize("case_id,make,exc,words", [c for c in SPARSE_CASES if c[2] is not None],
                         ids=[c[0] for c in SPARSE_CASES if c[2] is not None])
def test_bad_sparse_X(tripwire, entry, case_id, make, exc, words):
    assert_refused(SPARSE_ENTRIES[entry], make(), exc, words)


def test_sparse_X_too_large_for_float32(tripwire):
    with pytest.raises(ValueError) as excinfo:
        binary(dtype=np.float32).predict(_sparse(X_with((0, 1), value=1e300)))
    assert_message(excinfo, ["X", "1 value too large for float32", "(0, 1)", "1e+300", "float64"])


@pytest.mark.parametrize("entry", list(SW_ENTRIES))
@pytest.mark.parametrize("case_id,sw,exc,words", SW_CASES, ids=[c[0] for c in SW_CASES])
def test_bad_sample_weight(tripwire, entry, case_id, sw, exc, words):
    assert_refused(SW_ENTRIES[entry], sw, exc, words)


@pytest.mark.parametrize("case_id,call,exc,words", OTHER_CASES, ids=[c[0] for c in OTHER_CASES])
def test_bad_argument(tripwire, case_id, call, exc, words):
    with pytest.raises(exc) as excinfo:
        call()
    assert_message(excinfo, words)


@pytest.mark.parametrize("case_id,make,kwargs,words", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_bad_data_file(tripwire, tmp_path, case_id, make, kwargs, words):
    path = make(str(tmp_path))
    with pytest.raises(fm.datasets.DataError) as excinfo:
        fm.datasets.load(path, **kwargs)
    assert isinstance(excinfo.value, ValueError)
    assert_message(excinfo, words)


# The same files through load_labelled (a text target allowed), and files only it refuses.
LABELLED_FILE_CASES = [c for c in FILE_CASES if c[0] != "non-numeric"] + [
    ("text-feature", lambda d: _write(os.path.join(d, "a.csv"), "color,t\nred,x\nblue,y\n"), {},
     ["non-numeric value 'red' in row 2, column 'color'"]),
    ("mixed-labels", lambda d: _write(os.path.join(d, "a.csv"), "a,t\n1,x\n2,3\n"), {},
     ["column 't' mixes numbers and text", "'x' in row 2"]),
]


@pytest.mark.parametrize("case_id,make,kwargs,words", LABELLED_FILE_CASES, ids=[c[0] for c in LABELLED_FILE_CASES])
def test_bad_labelled_data_file(tripwire, tmp_path, case_id, make, kwargs, words):
    path = make(str(tmp_path))
    with pytest.raises(fm.datasets.DataError) as excinfo:
        fm.datasets.load_labelled(path, **kwargs)
    assert_message(excinfo, words)


def test_every_error_is_a_value_or_type_error():
    """The table's exception types are what callers can catch generically."""
    for case in X_CASES + [c[:1] + c[3:] for c in Y_CASES] + SW_CASES:
        assert case[-2] in (ValueError, TypeError)
    for case in OTHER_CASES:
        assert case[2] in (ValueError, TypeError, RuntimeError)
        if case[2] is RuntimeError:
            assert "before forward" in " ".join(case[3]) or "not part of a Model" in case[3][0]


def test_dout_of_the_wrong_shape():
    m = binary()
    m.forward(X4)
    with pytest.raises(ValueError, match=r"dout has shape \(4, 2\), but the last forward\(\) produced \(4, 1\)"):
        m.backward(np.zeros((4, 2)))


# -- batch_size larger than the data: clipped with a warning (as scikit-learn does) --------------

def test_batch_size_larger_than_data_is_clipped_with_a_warning():
    m1, m2 = binary(), binary()
    with pytest.warns(UserWarning, match=r"batch_size=32 is larger than the 4 samples; clipping it to 4"):
        h1 = fm.Trainer(m1, lr=0.5, batch_size=32, epochs=5, seed=0).fit(X4, Y4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h2 = fm.Trainer(m2, lr=0.5, batch_size=4, epochs=5, seed=0).fit(X4, Y4)
    np.testing.assert_array_equal(h1.loss, h2.loss)
    np.testing.assert_array_equal(m1.params, m2.params)


def test_predict_warns_instead_of_returning_silent_inf():
    m = fm.MLP([2, 3, 1], dtype=np.float32, seed=0)
    m.layers[0].weight = np.full((2, 3), 10.0)
    with pytest.warns(RuntimeWarning, match=r"predict produced 2 NaN or infinite output values.*float32"):
        out = m.predict(np.full((2, 2), 3e37))
    assert not np.isfinite(out).any()


# -- accepted inputs: converted, equal results, and never a new compiled specialisation ----------

def _variants(A):
    """The same numbers as A in every layout and type the library accepts."""
    big = np.zeros((A.shape[0] * 2, A.shape[1] + 1))
    big[::2, 1:] = A
    return {
        "list": A.tolist(),
        "tuple": tuple(map(tuple, A.tolist())),
        "fortran": np.asfortranarray(A),
        "read-only": ro(A),
        "strided": big[::2, 1:],
        "float32": A.astype(np.float32),
        "big-endian": A.astype(">f8"),
        "int32": A.astype(np.int32),
        "int64": A.astype(np.int64),
        "uint8": A.astype(np.uint8),
        "bool": A.astype(bool),
        "object-numbers": A.astype(object),
    }


def _signature_counts():
    return {name: len(getattr(K, name).signatures) for name in dir(K)
            if hasattr(getattr(K, name), "signatures")}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_converted_inputs_give_the_same_results_and_compile_nothing(dtype):
    X, y = fm.datasets.xor()          # 0/1 values: exact in every variant
    loss = fm.get_loss("bce")

    def run(Xv, yv):
        m = binary(dtype=dtype)
        t = fm.Trainer(m, loss="bce", lr=0.5, batch_size=2, epochs=3, seed=1)
        h = t.fit(Xv, yv)
        out = m.predict(Xv)
        f = m.forward(Xv)
        dx = m.backward(np.ones_like(f))
        lg = m.loss_and_gradient(Xv, yv, "bce")
        return [h.loss, m.params.copy(), out, f, dx, np.array([lg]), m.grads.copy(),
                np.array([loss.forward(out, yv)]), loss.backward(out, yv)]

    expected = run(X, y)                  # warm-up: compiles (or loads) once per dtype
    before = _signature_counts()
    xs, ys = _variants(X), _variants(y)
    ys["1-d"] = y.ravel()
    ys["1-d-strided"] = np.repeat(y.ravel(), 2)[::2]
    for key in xs:
        got = run(xs[key], y)
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(a, b, err_msg=f"X as {key}")
    for key in ys:
        got = run(X, ys[key])
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(a, b, err_msg=f"y as {key}")
    # numpy scalars for the settings are normalised too
    m = binary(dtype=dtype)
    fm.Trainer(m, loss="bce", lr=np.float32(0.5), batch_size=np.int32(2), epochs=np.int64(2),
               seed=np.int64(1), alpha=np.float16(0.01), momentum=np.float32(0.5),
               nesterov=np.bool_(True), shuffle=np.bool_(True)).fit(X, y)
    fm.Trainer(m, loss="bce", lr=1, batch_size=2.0, epochs=2, alpha=0, optimizer="adam",
               beta_1=np.float32(0.8)).fit(X, y)
    m.loss_and_gradient(X, y, "bce", alpha=np.float32(0.1), per_sample=np.bool_(True))
    after = _signature_counts()
    grown = {k: (before[k], after[k]) for k in after if after[k] != before[k]}
    assert not grown, f"new compiled specialisations: {grown}"


def test_inputs_are_not_modified():
    X = np.asfortranarray(fm.datasets.line(20, seed=0)[0])
    y = fm.datasets.line(20, seed=0)[1]
    X0, y0 = X.copy(), y.copy()
    m = fm.MLP([2, 3, 1], output="sigmoid", seed=0)
    fm.Trainer(m, loss="bce", lr=0.1, batch_size=5, epochs=2, seed=0).fit(X, y)
    m.predict(X)
    m.loss_and_gradient(X, y, "bce")
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert X.flags.f_contiguous


def test_integer_and_boolean_class_targets_mean_one_hot_rows():
    m = multi()
    onehot = np.eye(3)[Y3]
    a = m.loss_and_gradient(X4, onehot, "cross_entropy")
    for labels in (Y3, Y3.astype(np.int8), Y3.astype(float), Y3.tolist()):
        assert m.loss_and_gradient(X4, labels, "cross_entropy") == a
    m2 = fm.MLP([2, 4, 2], output="softmax", seed=0)
    b = m2.loss_and_gradient(X4, np.eye(2)[[0, 1, 1, 0]], "cross_entropy")
    assert m2.loss_and_gradient(X4, np.array([False, True, True, False]), "cross_entropy") == b


def test_probability_targets_within_rounding_are_accepted():
    m = multi(dtype=np.float32)
    p = np.random.default_rng(0).dirichlet(np.ones(3), size=4)      # rows sum to 1 up to rounding
    assert np.isfinite(m.loss_and_gradient(X4, p, "cross_entropy"))
    assert np.isfinite(m.loss_and_gradient(X4, p.astype(np.float32), "cross_entropy"))


# -- estimators and CLI --------------------------------------------------------------------------

ESTIMATOR_CASES = [
    # (id, fit X, fit y, exception, key words)
    ("nan", X_with((1, 1)), [0, 1, 1, 0], ValueError, ["NaN"]),
    ("3-d", np.zeros((4, 2, 1)), [0, 1, 1, 0], ValueError, ["2"]),
    ("rows", X4, [0, 1, 1], ValueError, ["4", "3"]),
    # scikit-learn converts numeric strings ("0.5") for its MLPs; the estimators may too, but never "a"
    ("strings", np.array([["a", "b"]] * 4), [0, 1, 1, 0], (TypeError, ValueError), []),
    ("complex", X4.astype(complex), [0, 1, 1, 0], (TypeError, ValueError), ["complex"]),
    ("empty", np.zeros((0, 2)), [], ValueError, []),
]


@pytest.mark.parametrize("case_id,X,y,exc,words", ESTIMATOR_CASES, ids=[c[0] for c in ESTIMATOR_CASES])
@pytest.mark.parametrize("kind", ["MLPClassifier", "MLPRegressor"])
def test_estimators_refuse_bad_input(tripwire, kind, case_id, X, y, exc, words):
    cls = getattr(_estimators(), kind)
    with pytest.raises(exc) as excinfo:
        cls(max_iter=2).fit(X, np.asarray(y))
    assert_message(excinfo, words)


@pytest.mark.parametrize("kind", ["MLPClassifier", "MLPRegressor"])
def test_estimators_predict_before_fit_is_not_fitted_error(kind):
    cls = getattr(_estimators(), kind)
    with pytest.raises(ValueError) as excinfo:       # scikit-learn's or fastmlp's NotFittedError
        cls().predict(X4)
    assert type(excinfo.value).__name__ == "NotFittedError"
    assert isinstance(excinfo.value, AttributeError)
    assert_message(excinfo, [f"This {kind} instance is not fitted yet", "fit"])


@pytest.mark.parametrize("kind", ["MLPClassifier", "MLPRegressor"])
@pytest.mark.parametrize("param,value,exc,word", [
    ("learning_rate_init", -0.1, ValueError, "learning_rate_init"),
    ("batch_size", 0, ValueError, "batch_size"),
    ("max_iter", -1, ValueError, "max_iter"),
    ("activation", "rellu", ValueError, "activation"),
    ("solver", "adamw", ValueError, "solver"),
    ("engine", "fast", ValueError, "engine"),
])
def test_estimators_refuse_bad_hyperparameters(tripwire, kind, param, value, exc, word):
    cls = getattr(_estimators(), kind)
    assert param in cls().get_params()
    with pytest.raises(exc) as excinfo:
        cls(**{param: value}).fit(X4, np.array([0, 1, 1, 0]))
    assert_message(excinfo, [word])


def _csv(text):
    def make(d):
        return _write(os.path.join(d, "data.csv"), text)
    return make


def _model_file(d):
    path = os.path.join(d, "m.npz")
    binary().save(path)
    return path


# (id, argv with {d} for a temporary directory, files to create, key words of the one-line error)
CLI_CASES = [
    ("lr-negative", "train --lr -0.1", None, ["'lr'", "> 0", "-0.1"]),
    ("lr-nan", "train --lr nan", None, ["'lr'", "finite"]),
    ("batch-size-zero", "train --batch-size 0", None, ["'batch_size'", ">= 1"]),
    ("epochs-negative", "train --epochs -1", None, ["'epochs'", ">= 0"]),
    ("momentum", "train --momentum 1.5", None, ["'momentum'", "< 1"]),
    ("seed", "train --seed -1", None, ["'seed'", ">= 0"]),
    ("loss-name", "train --loss mae", None, ["--loss", "'mae'", "'mse'"]),
    ("optimizer-name", "train --optimizer adamw", None, ["--optimizer", "'adamw'", "'adam'"]),
    ("dtype", "train --dtype float16", None, ["--dtype", "'float16'", "'float32'"]),
    ("missing-file", "train --data {d}/nope.csv", None, ["nope.csv", "no such file"]),
    ("nan-in-file", "train --data {d}/data.csv", _csv("a,b\n1,2\nnan,3\n"), ["data.csv", "NaN", "row 3"]),
    ("non-numeric-file", "train --data {d}/data.csv", _csv("a,b\n1,x\n"), ["non-numeric", "'x'"]),
    ("layers-do-not-fit", "train --layers 3,8,1", None, ["3", "2 features"]),
    ("cross-entropy-one-output", "train --loss cross_entropy --output sigmoid", None,
     ["cross_entropy", "one output per class"]),
    ("not-a-model-file", "predict {d}/data.csv --data {d}/data.csv", _csv("a,b\n1,2\n"), ["data.csv"]),
    ("export-opset-low", "export {d}/m.npz --opset 12", _model_file, ["'opset'", ">= 13", "12"]),
    ("export-opset-text", "export {d}/m.npz --opset seventeen", _model_file, ["--opset", "'seventeen'"]),
    ("export-output-directory", "export {d}/m.npz -o {d}", _model_file, ["--output", "is a directory"]),
    ("export-output-nowhere", "export {d}/m.npz -o {d}/no/such/m.onnx", _model_file,
     ["--output", "does not exist"]),
    ("export-not-a-model-file", "export {d}/data.csv", _csv("a,b\n1,2\n"), ["data.csv", "not a fastmlp model"]),
    ("export-missing-model", "export {d}/nope.npz", None, ["nope.npz", "no such file"]),
    ("validation-1", "train --validation 1", None, ["'validation_split'", "< 1", "Got 1.0"]),
    ("validation-negative", "train --validation -0.2", None, ["'validation_split'", "> 0"]),
    ("validation-text", "train --validation some", None, ["--validation", "invalid float value: 'some'"]),
    ("validation-too-small", "train --validation 0.01", None,
     ["'validation_split'", "of 4 samples", "0 for validation"]),
    ("validation-both", "train --data {d}/data.csv --validation 0.2 --validation-data {d}/data.csv",
     _csv("a,b\n1,2\n"), ["--validation-data", "not allowed with argument --validation"]),
    ("validation-data-with-dataset", "train --validation-data {d}/data.csv", _csv("a,b\n1,2\n"),
     ["--validation-data goes with --data"]),
    ("validation-data-missing", "train --data {d}/data.csv --validation-data {d}/nope.csv", _csv("a,b\n1,0\n2,1\n"),
     ["--validation-data", "nope.csv", "no such file"]),
    ("validation-data-columns", "train --data {d}/data.csv --validation-data {d}/other.csv",
     lambda d: (_csv("a,b\n1,0\n2,1\n")(d), _write(os.path.join(d, "other.csv"), "a,c\n1,0\n")),
     ["--validation-data", "other.csv has no column 'b'", "training used the columns a", "the file has a, c"]),
    ("validation-data-unknown-label", "train --data {d}/data.csv --validation-data {d}/other.csv",
     lambda d: (_csv("a,b\n1,cat\n2,dog\n")(d), _write(os.path.join(d, "other.csv"), "a,b\n1,cow\n")),
     ["other.csv", "the label 'cow' (row 2)", "not one of the model's classes (cat, dog)"]),
    ("validation-data-class-out-of-range", "train --data {d}/data.csv --validation-data {d}/other.csv",
     lambda d: (_csv("a,b\n1,0\n2,1\n3,2\n")(d), _write(os.path.join(d, "other.csv"), "a,b\n1,7\n")),
     ["--validation-data", "value 7 in row 2", "classes are 0..2"]),
    ("early-stopping-negative", "train --validation 0.5 --early-stopping -1", None, ["'early_stopping'", ">= 0"]),
    ("early-stopping-text", "train --early-stopping soon", None, ["--early-stopping", "invalid int value"]),
    ("early-stopping-without-validation", "train --early-stopping 5", None,
     ["--early-stopping 5 watches the validation loss", "--validation 0.2"]),
    ("engine-name", "train --engine fast", None, ["--engine", "invalid choice: 'fast'", "'specialized'"]),
    ("lr-schedule-name", "train --lr-schedule cosin", None, ["--lr-schedule", "invalid choice: 'cosin'", "'cosine'"]),
    ("one-text-label", "train --data {d}/data.csv", _csv("a,b\n1,x\n2,x\n"),
     ["the target 'b' holds the non-numeric value 'x' in every row", "at least two different values"]),
    ("text-labels-regression", "train --data {d}/data.csv --output identity", _csv("a,b\n1,cat\n2,dog\n"),
     ["the target 'b' holds the text class labels 'cat', 'dog'", "sigmoid or softmax output"]),
    ("evaluate-without-target", "evaluate {d}/m.npz --data {d}/x.csv",
     lambda d: (fm.MLP([1, 1]).save(os.path.join(d, "m.npz")), _write(os.path.join(d, "x.csv"), "x1\n1\n")),
     ["x.csv has no target to score against", "--target COLUMN"]),
    ("evaluate-bad-class", "evaluate {d}/m.npz --data {d}/x.csv",
     lambda d: (fm.MLP([1, 1], output="sigmoid").save(os.path.join(d, "m.npz")),
                _write(os.path.join(d, "x.csv"), "x1,y\n1,0\n2,3\n")),
     ["x.csv", "the target has the value 3 (row 3)", "classes are 0..1"]),
    ("evaluate-missing-model", "evaluate {d}/nope.npz --dataset xor", None, ["nope.npz", "no such file"]),
    ("evaluate-needs-data", "evaluate {d}/nope.npz", None, ["one of the arguments --data --dataset is required"]),
    ("poisson-output", "train --loss poisson --output sigmoid", None, ["--loss poisson needs --output exp"]),
    ("poisson-negative-target", "train --data {d}/data.csv --loss poisson", _csv("a,b\n1,2\n2,-1\n3,4\n"),
     ["poisson", ">= 0", "-1"]),
]


@pytest.mark.parametrize("case_id,argv,make,words", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_refuses_bad_input_with_one_line_and_exit_code_2(tripwire, tmp_path, capsys, case_id, argv, make, words):
    if make is not None:
        make(str(tmp_path))
    try:
        code = cli.main(argv.format(d=tmp_path).split() + ["--quiet"] * argv.startswith("train"))
    except SystemExit as exc:          # argparse
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("fastmlp: error:")
    for w in words:
        assert w.lower() in err.lower(), f"{w!r} not in {err!r}"


# -- files: the checks every file path goes through --------------------------------------------

from fastmlp import validation as V  # noqa: E402


def test_existing_file_returns_the_path_as_a_string(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a,b\n1,2\n")
    assert V.existing_file(path) == str(path)


def test_existing_file_names_the_option_and_says_what_is_wrong(tmp_path, monkeypatch):
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError) as excinfo:
        V.existing_file(missing, "--data")
    assert str(excinfo.value) == f"--data {missing}: no such file."
    with pytest.raises(ValueError) as excinfo:
        V.existing_file(tmp_path, expected="a .csv file")
    assert str(excinfo.value) == f"{tmp_path} is a directory; expected a .csv file."
    locked = tmp_path / "locked.csv"
    locked.write_text("a\n1\n")
    access = os.access             # as if not readable (chmod does not stop root)
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked) else access(p, mode))
    with pytest.raises(fm.datasets.DataError) as excinfo:
        V.existing_file(locked, error=fm.datasets.DataError)
    assert str(excinfo.value) == f"{locked}: cannot be read: Permission denied."


def test_data_files_and_model_files_share_the_file_check(tmp_path):
    with pytest.raises(fm.datasets.DataError, match=r": no such file\.$"):
        fm.datasets.load(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match=r"nope\.npz: no such file\.$"):
        fm.load(tmp_path / "nope.npz")
    with pytest.raises(fm.ModelFileError) as excinfo:
        fm.load(tmp_path)
    assert str(excinfo.value) == f"{tmp_path} is a directory; expected a fastmlp model file."


def test_writable_file(tmp_path, monkeypatch):
    assert V.writable_file(tmp_path / "m.npz", "--save") == str(tmp_path / "m.npz")
    assert V.writable_file(tmp_path / "plot", "--plot", default_suffix=".png") == str(tmp_path / "plot.png")
    with pytest.raises(ValueError) as excinfo:
        V.writable_file(tmp_path, "--save")
    assert str(excinfo.value) == f"--save {tmp_path} is a directory; expected a file name."
    with pytest.raises(ValueError) as excinfo:
        V.writable_file(tmp_path / "no" / "m.npz", "--save")
    assert str(excinfo.value) == f"--save {tmp_path / 'no' / 'm.npz'}: the directory {tmp_path / 'no'} does not exist."
    existing = tmp_path / "old.png"
    existing.write_bytes(b"")
    access = os.access             # as if not writable (chmod does not stop root)
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(existing) else access(p, mode))
    assert V.writable_file(existing, "--save") == str(existing)       # replaced, not opened
    with pytest.raises(ValueError) as excinfo:
        V.writable_file(existing, "--plot", in_place=True)
    assert str(excinfo.value) == f"--plot {existing}: the file exists and is not writable."


def test_check_file_type():
    assert V.check_file_type("out.PNG", "--plot", ("png", "svg")) == "out.PNG"
    with pytest.raises(ValueError) as excinfo:
        V.check_file_type("out.txt", "--plot", ("png", "svg"), what="images")
    assert str(excinfo.value) == "--plot out.txt: cannot write images of type '.txt'; expected one of .png, .svg."


def test_missing_dependency_says_what_to_run():
    error = V.missing_dependency("plotting", "matplotlib", extra="plot")
    assert isinstance(error, ImportError) and isinstance(error, fm.MissingDependency)
    assert str(error) == "plotting needs matplotlib; install it with pip install 'fastmlp[plot]'."
    error = V.missing_dependency("register_skl2onnx", "skl2onnx", cause="No module named 'skl2onnx'")
    assert str(error) == ("register_skl2onnx needs skl2onnx (No module named 'skl2onnx'); install it with "
                          "pip install skl2onnx.")
    from fastmlp import plot
    assert plot.MissingDependency is fm.MissingDependency is V.MissingDependency


def test_dtype_names():
    assert V.DTYPE_NAMES == ("float32", "float64")
    assert [V.check_dtype(name) for name in V.DTYPE_NAMES] == [np.float32, np.float64]
