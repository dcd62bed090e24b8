"""fastmlp.MLPClassifier / MLPRegressor against scikit-learn's: the estimator
checks, the same numbers (weights to 1e-10 in float64), the same attributes
and warnings, and the meta-estimators they must work in."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn import neural_network as sknn  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastmlp as fm  # noqa: E402

TOL = 1e-10


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # see conftest.py


# ---------------------------------------------------------------------------
# Data and helpers
# ---------------------------------------------------------------------------

def data(kind, n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    if kind == "binary":
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
    elif kind == "multiclass":
        y = np.digitize(X[:, 0] - X[:, 2], [-0.6, 0.6])
    elif kind == "multilabel":
        y = np.c_[X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5].astype(int)
    elif kind == "regression":
        y = 2 * X[:, 0] - X[:, 1] + 0.5
    elif kind == "multioutput":
        y = np.c_[2 * X[:, 0] - X[:, 1], X[:, 2] * X[:, 3], X[:, 1]]
    else:
        raise ValueError(kind)
    return X, y


def pair(kind, **params):
    """(scikit-learn estimator, fastmlp estimator) with the same parameters."""
    if kind in ("regression", "multioutput"):
        return sknn.MLPRegressor(**params), fm.MLPRegressor(**params)
    return sknn.MLPClassifier(**params), fm.MLPClassifier(**params)


def weights(est):
    return [np.asarray(a) for a in est.coefs_ + est.intercepts_]


def assert_same_weights(sk, ours, tol=TOL):
    a, b = weights(sk), weights(ours)
    assert [x.shape for x in a] == [x.shape for x in b]
    for x, y in zip(a, b):
        np.testing.assert_allclose(y, x, rtol=0, atol=tol)


def partial_fit(est, X, y, kind):
    if kind in ("binary", "multiclass"):
        return est.partial_fit(X, y, classes=np.unique(y))
    return est.partial_fit(X, y)


# ---------------------------------------------------------------------------
# Must show 1: scikit-learn's estimator checks; the one expected failure is scikit-learn's own
# ---------------------------------------------------------------------------

def _expected_failures(estimator):
    """Checks that scikit-learn's own MLP fails with the same parameters."""
    if estimator.get_params().get("batch_size") == 16:
        # Minibatches of repeated rows are not the weighted minibatches (scikit-learn
        # runs this check on its MLPRegressor with full batches only).
        reason = ("minibatch SGD: repeated rows fall into other batches than their weights (scikit-learn's "
                  "MLPRegressor with these parameters fails it too)")
        return {"check_sample_weight_equivalence_on_dense_data": reason,
                "check_sample_weight_equivalence_on_sparse_data": reason}
    return {}


@parametrize_with_checks([
    fm.MLPClassifier(max_iter=100, random_state=0),
    fm.MLPRegressor(max_iter=100, random_state=0),
    fm.MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50, random_state=0),
    fm.MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e-3, batch_size=16, max_iter=50,
                    random_state=0),
], expected_failed_checks=_expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="Got `batch_size` less than 1 or larger than sample size")
        check(estimator)


def test_import_fastmlp_does_not_import_sklearn():
    code = ("import sys, fastmlp; assert 'sklearn' not in sys.modules; "
            "c = fastmlp.MLPClassifier; assert 'sklearn' in sys.modules; print(c.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "MLPClassifier"
    assert {"MLPClassifier", "MLPRegressor"} <= set(fm.__all__)


# ---------------------------------------------------------------------------
# Must show 2: the same numbers as scikit-learn
# ---------------------------------------------------------------------------

SOLVERS = {
    "sgd": dict(solver="sgd", momentum=0.0, learning_rate_init=0.1),
    "momentum": dict(solver="sgd", momentum=0.9, nesterovs_momentum=False, learning_rate_init=0.05),
    "nesterov": dict(solver="sgd", momentum=0.9, nesterovs_momentum=True, learning_rate_init=0.05),
    "adam": dict(solver="adam", learning_rate_init=0.01),
    "sgd_alpha": dict(solver="sgd", momentum=0.5, learning_rate_init=0.1, alpha=0.3),
    "adam_alpha": dict(solver="adam", learning_rate_init=0.01, alpha=0.3),
}
KINDS = ["binary", "multiclass", "regression", "multioutput"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("solver", list(SOLVERS))
def test_same_weights_as_sklearn_after_setting_coefs(kind, solver):
    """Set the same coefs_/intercepts_ in both, then partial_fit: one step
    (a full batch), then several steps (minibatches of 16, three epochs)."""
    X, y = data(kind)
    params = dict(hidden_layer_sizes=(5, 3), activation="tanh", shuffle=False, random_state=0,
                  batch_size=len(X), **SOLVERS[solver])
    sk, ours = pair(kind, **params)
    partial_fit(sk, X, y, kind)  # initialises both, and one step of the optimizer's state
    partial_fit(ours, X, y, kind)
    assert_same_weights(sk, ours)

    rng = np.random.default_rng(1)
    new = [rng.normal(scale=0.7, size=w.shape) for w in weights(sk)]
    half = len(new) // 2
    sk.coefs_, sk.intercepts_ = [w.copy() for w in new[:half]], [w.copy() for w in new[half:]]
    ours.coefs_, ours.intercepts_ = [w.copy() for w in new[:half]], [w.copy() for w in new[half:]]
    np.testing.assert_array_equal(ours.coefs_[0], new[0])

    partial_fit(sk, X, y, kind)  # one step from the given weights
    partial_fit(ours, X, y, kind)
    assert_same_weights(sk, ours)
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-12)

    sk.set_params(batch_size=16)
    ours.set_params(batch_size=16)
    for _ in range(3):  # 4 minibatches per epoch, the last one of 12 samples
        partial_fit(sk, X, y, kind)
        partial_fit(ours, X, y, kind)
    assert_same_weights(sk, ours)
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-10)
    assert ours.t_ == sk.t_ == 5 * len(X)
    assert ours.n_iter_ == sk.n_iter_ == 1
    if kind in ("binary", "multiclass"):
        np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=0, atol=TOL)
        np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    else:
        np.testing.assert_allclose(ours.predict(X), sk.predict(X), rtol=0, atol=TOL)


def test_replacing_one_array_or_editing_in_place_reaches_the_model():
    X, y = data("binary")
    sk, ours = pair("binary", hidden_layer_sizes=(4,), solver="sgd", shuffle=False, random_state=0)
    partial_fit(sk, X, y, "binary")
    partial_fit(ours, X, y, "binary")
    ours.coefs_[0] = sk.coefs_[0] * 0 + 0.25  # replace one array
    sk.coefs_[0] = sk.coefs_[0] * 0 + 0.25
    ours.intercepts_[1] += 0.5  # edit in place
    sk.intercepts_[1] += 0.5
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match=r"coefs_\[0\] has shape \(3, 4\), but the network expects \(4, 4\)"):
        ours.coefs_[0] = np.zeros((3, 4))
        ours.predict(X)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_predict_proba_matches_for_the_same_weights(kind):
    X, y = data(kind)
    sk, ours = pair(kind, hidden_layer_sizes=(6,), activation="logistic", solver="lbfgs", max_iter=3,
                    random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        ours.fit(X, y)
    rng = np.random.default_rng(5)
    new = [rng.normal(scale=2.0, size=w.shape) for w in weights(sk)]
    for est in (sk, ours):
        est.coefs_, est.intercepts_ = [w.copy() for w in new[:2]], [w.copy() for w in new[2:]]
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=0, atol=1e-14)
    np.testing.assert_allclose(ours.predict_log_proba(X), sk.predict_log_proba(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))


FITS = {
    # name: (kind, params) - whole fits with scikit-learn's own shuffling and stopping rules
    "sgd_invscaling": ("binary", dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.2,
                                      power_t=0.3, momentum=0.5, batch_size=16, max_iter=15)),
    "sgd_adaptive": ("multiclass", dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.3,
                                        batch_size=20, max_iter=40, tol=0.05, n_iter_no_change=2)),
    "sgd_adaptive_no_shuffle": ("regression", dict(solver="sgd", learning_rate="adaptive", shuffle=False,
                                                   learning_rate_init=0.01, batch_size=8, max_iter=40,
                                                   tol=0.01, n_iter_no_change=3)),
    "adam_tol_stop": ("multioutput", dict(solver="adam", learning_rate_init=0.05, batch_size=16, max_iter=60,
                                          tol=1e-2, n_iter_no_change=4)),
    "adam_tol_stop_no_shuffle": ("binary", dict(solver="adam", shuffle=False, learning_rate_init=0.05,
                                                batch_size=16, max_iter=60, tol=1e-2, n_iter_no_change=4)),
    "adam_early_stopping": ("binary", dict(solver="adam", early_stopping=True, validation_fraction=0.2,
                                           learning_rate_init=0.05, batch_size=16, max_iter=40,
                                           n_iter_no_change=3)),
    "adam_early_stopping_multiclass": ("multiclass", dict(solver="adam", early_stopping=True,
                                                          learning_rate_init=0.02, batch_size=16, max_iter=40,
                                                          n_iter_no_change=3, tol=0.01)),
    "sgd_early_stopping_multilabel": ("multilabel", dict(solver="sgd", early_stopping=True, validation_fraction=0.25,
                                                         learning_rate_init=0.1, batch_size=8, max_iter=40,
                                                         n_iter_no_change=4)),
    "sgd_early_stopping_regression": ("regression", dict(solver="sgd", early_stopping=True, learning_rate_init=0.01,
                                                         batch_size=10, max_iter=30, n_iter_no_change=2)),
    "sgd_early_stopping": ("multioutput", dict(solver="sgd", early_stopping=True, learning_rate_init=0.02,
                                               batch_size=10, max_iter=30, n_iter_no_change=2)),
    "lbfgs": ("multiclass", dict(solver="lbfgs", max_iter=8)),
    "lbfgs_multioutput": ("multioutput", dict(solver="lbfgs", max_iter=8, alpha=0.1)),
}


@pytest.mark.parametrize("name", list(FITS))
def test_whole_fit_same_as_sklearn(name):
    """Same random_state: same initial weights, same shuffles and validation
    split, same stopping epoch, same loss curve and weights."""
    kind, params = FITS[name]
    X, y = data(kind, n=80)
    sk, ours = pair(kind, hidden_layer_sizes=(6, 4), random_state=3, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        ours.fit(X, y)
    assert_same_weights(sk, ours, tol=1e-9)
    assert ours.n_iter_ == sk.n_iter_
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-9)
    if params["solver"] == "lbfgs":
        assert not hasattr(ours, "loss_curve_")
        return
    assert ours.t_ == sk.t_
    np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-9)
    if params["solver"] == "sgd":  # the schedules ended at the same learning rate
        assert ours._trainer.optimizer.lr == pytest.approx(sk._optimizer.learning_rate, rel=1e-12)
    if params.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, sk.validation_scores_, rtol=1e-9)
        assert ours.best_validation_score_ == pytest.approx(sk.best_validation_score_, rel=1e-9)
        assert ours.best_loss_ is None and sk.best_loss_ is None
    else:
        assert ours.best_loss_ == pytest.approx(sk.best_loss_, rel=1e-9)
        assert ours.validation_scores_ is None and ours.best_validation_score_ is None


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sklearn_initialisation_draws_sklearns_numbers(activation, dtype):
    """fm.init.Xavier.sklearn, drawn from a RandomState layer by layer, gives
    the very numbers of scikit-learn's _init_coef from the same state."""
    sizes = [4, 7, 3, 2]
    sk = sknn.MLPClassifier(activation=activation)
    sk._random_state = np.random.RandomState(5)
    want = [sk._init_coef(a, b, dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    model = fm.MLP(sizes, dtype=dtype, init="zeros")
    rng = np.random.RandomState(5)
    init = fm.init.Xavier.sklearn(logistic=activation == "logistic")
    linear = [layer for layer in model.layers if isinstance(layer, fm.Linear)]
    for layer in linear:
        layer.initialise(rng, init)
    for layer, (coef, intercept) in zip(linear, want):
        np.testing.assert_array_equal(layer.weight, coef)
        np.testing.assert_array_equal(layer.bias, intercept)
    assert rng.randint(1 << 30) == sk._random_state.randint(1 << 30)   # the same number of draws


def test_shuffle_draws_are_sklearns():
    """The estimator reproduces sklearn.utils.shuffle's draws without calling it."""
    from sklearn.utils import shuffle
    a, b = np.random.RandomState(7), np.random.RandomState(7)
    idx_a = idx_b = np.arange(50)
    for _ in range(3):
        idx_a = shuffle(idx_a, random_state=a)
        perm = np.arange(50)
        b.shuffle(perm)
        idx_b = idx_b[perm]
        np.testing.assert_array_equal(idx_a, idx_b)


# ---------------------------------------------------------------------------
# Attributes, warnings, errors
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression", "multioutput"])
def test_fitted_attributes_like_sklearn(kind):
    X, y = data(kind)
    sk, ours = pair(kind, hidden_layer_sizes=(5,), solver="sgd", max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        ours.fit(X, y)
    public = {a for a in vars(sk) if a.endswith("_") and not a.startswith("_")}
    assert public <= set(vars(ours))
    for name in ("n_layers_", "n_outputs_", "out_activation_", "n_iter_", "t_", "n_features_in_"):
        assert getattr(ours, name) == getattr(sk, name), name
    if kind not in ("regression", "multioutput"):
        np.testing.assert_array_equal(ours.classes_, sk.classes_)
        assert ours.predict_proba(X).shape == sk.predict_proba(X).shape
    assert ours.predict(X).shape == sk.predict(X).shape
    assert ours.predict(X).dtype == sk.predict(X).dtype
    assert ours.score(X, y) == pytest.approx(sk.score(X, y), abs=1e-9)
    assert [c.dtype for c in ours.coefs_] == [c.dtype for c in sk.coefs_]


def test_multilabel_same_as_sklearn():
    X, y = data("multilabel")
    sk, ours = pair("multilabel", hidden_layer_sizes=(7,), solver="adam", learning_rate_init=0.05,
                    max_iter=10, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        ours.fit(X, y)
    assert ours.out_activation_ == "logistic"
    assert_same_weights(sk, ours)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))


def test_string_labels_and_feature_names():
    X, y = data("multiclass")
    labels = np.array(["cat", "dog", "eel"])[y]
    clf = fm.MLPClassifier((8,), solver="lbfgs", random_state=0).fit(X, labels)
    assert clf.classes_.tolist() == ["cat", "dog", "eel"]
    assert set(clf.predict(X)) <= {"cat", "dog", "eel"}
    assert clf.score(X, labels) > 0.9


def test_convergence_warning_when_max_iter_reached():
    X, y = data("binary")
    with pytest.warns(ConvergenceWarning, match=r"Stochastic Optimizer: Maximum iterations \(3\) reached"):
        fm.MLPClassifier((4,), solver="sgd", max_iter=3, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        fm.MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=2, random_state=0).fit(*data("regression"))
    with warnings.catch_warnings():  # partial_fit never warns
        warnings.simplefilter("error")
        fm.MLPClassifier((4,), max_iter=1, random_state=0).partial_fit(X, y, classes=[0, 1])


def test_verbose_output_matches_sklearn(capsys):
    X, y = data("binary")
    params = dict(hidden_layer_sizes=(4,), solver="sgd", learning_rate="adaptive", max_iter=12, tol=0.5,
                  n_iter_no_change=2, verbose=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sknn.MLPClassifier(**params).fit(X, y)
        expected = capsys.readouterr().out
        fm.MLPClassifier(**params).fit(X, y)
        got = capsys.readouterr().out
    assert "Setting learning rate to" in expected
    assert got == expected


def test_errors_like_sklearn():
    X, y = data("binary")
    with pytest.raises(NotFittedError):
        fm.MLPClassifier().predict(X)
    with pytest.raises(NotFittedError):
        fm.MLPRegressor().predict(X)
    lbfgs = fm.MLPClassifier(solver="lbfgs")
    assert not hasattr(lbfgs, "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as info:
        lbfgs.partial_fit(X, y)
    assert "partial_fit is only available for stochastic optimizers" in str(info.value.__cause__)
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        fm.MLPClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="The 'solver' parameter of MLPClassifier must be a str among"):
        fm.MLPClassifier(solver="newton").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        fm.MLPClassifier(hidden_layer_sizes=(3, 0)).fit(X, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        fm.MLPRegressor(early_stopping=True).partial_fit(*data("regression"))
    with pytest.raises(ValueError, match="momentum=1.0 is not supported by fastmlp's sgd solver"):
        fm.MLPClassifier(solver="sgd", momentum=1.0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fm.MLPClassifier((3,), solver="adam", momentum=1.0, max_iter=2).fit(X, y)  # momentum unused by adam
    clf = fm.MLPClassifier((4,), solver="lbfgs", max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting 4 features"):
        clf.predict(X[:, :3])
    clf.set_params(warm_start=True, hidden_layer_sizes=(5,))
    with pytest.raises(ValueError, match=r"layer sizes \[4, 4, 1\], but this call needs \[4, 5, 1\]"):
        clf.fit(X, y)


def test_divergence_raises_sklearns_error():
    X, y = data("regression")
    reg = fm.MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e3, momentum=0.9, max_iter=50,
                          random_state=0, shuffle=False)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        reg.fit(X, y * 1e6)


def test_divergence_with_early_stopping_keeps_the_best_weights():
    X, y = data("regression", n=80)
    reg = fm.MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.05, momentum=0.9,
                          max_iter=50, early_stopping=True, n_iter_no_change=50, random_state=0, shuffle=False)
    with pytest.warns(ConvergenceWarning, match="Training diverged in epoch 9; the weights of the best"):
        reg.fit(X, y * 30)
    assert reg.n_iter_ == 8 and len(reg.validation_scores_) == 8
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    assert all(np.isfinite(w).all() for w in weights(reg))
    assert np.isfinite(reg.predict(X)).all()


def test_dtype_follows_X_or_the_parameter():
    X, y = data("regression")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        r32 = fm.MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X.astype(np.float32), y)
        f32 = fm.MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0, dtype=np.float32).fit(X, y)
        r64 = fm.MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    assert r32.coefs_[0].dtype == np.float32 and f32.coefs_[0].dtype == np.float32
    assert r64.coefs_[0].dtype == np.float64
    assert r32.predict(X).dtype == np.float32
    np.testing.assert_allclose(r32.predict(X), r64.predict(X), rtol=1e-4, atol=1e-4)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        fm.MLPRegressor(dtype=np.int32).fit(X, y)


# ---------------------------------------------------------------------------
# Meta-estimators, clone, pickle
# ---------------------------------------------------------------------------

def test_pipeline_gridsearch_cross_val_clone():
    X, y = data("multiclass", n=90)
    pipe = make_pipeline(StandardScaler(), fm.MLPClassifier((8,), solver="lbfgs", max_iter=200, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y, cv=3)
        assert scores.shape == (3,) and scores.mean() > 0.7
        grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1.0],
                                   "mlpclassifier__hidden_layer_sizes": [(4,), (8,)]}, cv=3, n_jobs=2)
        grid.fit(X, y)
    assert set(grid.best_params_) == {"mlpclassifier__alpha", "mlpclassifier__hidden_layer_sizes"}
    assert grid.score(X, y) > 0.8
    # The same grid search in one process gives the same scores (the workers computed the same numbers).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial = GridSearchCV(pipe, grid.param_grid, cv=3, n_jobs=1).fit(X, y)
    np.testing.assert_allclose(grid.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])

    est = fm.MLPRegressor(hidden_layer_sizes=(3, 2), alpha=0.5, dtype=np.float32, random_state=4)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_pickle_round_trip_keeps_predictions_and_training_state(solver):
    X, y = data("multiclass")
    clf = fm.MLPClassifier((6,), solver=solver, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    twin = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(twin.predict_proba(X), clf.predict_proba(X))
    twin.coefs_[0][...] = 0.0  # the unpickled arrays are the model's parameters again
    assert not np.array_equal(twin.predict_proba(X), clf.predict_proba(X))
    if solver == "adam":  # the optimizer state survives: continuing gives the same weights
        twin = pickle.loads(pickle.dumps(clf))
        clf.partial_fit(X, y)
        twin.partial_fit(X, y)
        assert_same_weights(clf, twin, tol=0)


def test_docstring_examples():
    import doctest

    from fastmlp import estimators
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = doctest.testmod(estimators)
    assert result.attempted >= 8 and result.failed == 0


def test_joblib_memory_mapped_estimator_keeps_training(tmp_path):
    """joblib.load(mmap_mode='r') hands back read-only buffers; the model and the
    optimizer state are made writeable again, so partial_fit continues exactly."""
    import joblib
    X, y = fm.datasets.line(n=200)
    y = y.ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = fm.MLPClassifier(hidden_layer_sizes=(8,), solver="adam", max_iter=5, random_state=0).fit(X, y)
        joblib.dump(clf, tmp_path / "m.joblib")
        loaded = joblib.load(tmp_path / "m.joblib", mmap_mode="r")
        assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
        loaded.partial_fit(X, y)
        clf.partial_fit(X, y)
    for a, b in zip(loaded.coefs_, clf.coefs_):
        assert np.array_equal(a, b)


def test_hidden_layer_sizes_must_be_integers():
    """2.5 units is a mistake, not 2 (scikit-learn raises a TypeError too)."""
    with pytest.raises(TypeError, match=r"hidden_layer_sizes must hold integers; got 2.5 in \[2.5\]"):
        fm.MLPClassifier(hidden_layer_sizes=(2.5,)).fit(np.eye(4)[:, :2], [0, 1, 0, 1])


def test_ctrl_c_ends_a_fit_on_an_epoch_boundary(monkeypatch):
    """SIGINT during a fit stops it after the engine call it arrives in, with
    the warning scikit-learn gives; n_iter_ and loss_curve_ count exactly the
    epochs the weights went through (the same weights as a fit of that many
    epochs)."""
    import signal
    X, y = data("binary")
    params = dict(hidden_layer_sizes=(5,), solver="sgd", batch_size=10, max_iter=40, n_iter_no_change=40,
                  random_state=0)
    calls = []
    real = fm.Trainer.run_epochs

    def interrupted_on_the_second_call(self, *args, **kwargs):
        losses = real(self, *args, **kwargs)
        calls.append(len(losses))
        if len(calls) == 2:  # calls grow at most 8-fold: 1, then up to 8 epochs
            signal.raise_signal(signal.SIGINT)
        return losses

    monkeypatch.setattr(fm.Trainer, "run_epochs", interrupted_on_the_second_call)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        ours = fm.MLPClassifier(**params).fit(X, y)
    monkeypatch.undo()
    ran = sum(calls)
    assert 2 <= ran <= 9 and ours.n_iter_ == len(ours.loss_curve_) == ran
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        again = fm.MLPClassifier(**dict(params, max_iter=ran)).fit(X, y)
    np.testing.assert_array_equal(np.concatenate([c.ravel() for c in ours.coefs_]),
                                  np.concatenate([c.ravel() for c in again.coefs_]))
