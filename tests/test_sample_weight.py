"""Per-sample weights in the engine, the Trainer and the estimators:
scikit-learn's formulas (the weighted batch average, gradients and penalty
over the batch's weight sum), checked against the numpy reference, against
repeated rows, and against scikit-learn's own weighted fits."""

import warnings

import numpy as np
import pytest

import fastmlp as fm

TOL = 1e-10


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, rng


# (loss, output, outputs): every loss, fused with its output layer and not
LOSSES = [
    ("mse", "identity", 2), ("half_mse", "identity", 3), ("bce", "sigmoid", 2), ("bce", "softmax", 2),
    ("cross_entropy", "softmax", 3), ("poisson", "exp", 2),
]


def _targets(loss, X, k, rng):
    n = X.shape[0]
    if loss == "cross_entropy":
        return np.eye(k)[rng.integers(0, k, n)]
    if loss == "bce":
        return (rng.random((n, k)) < 0.5).astype(float)
    if loss == "poisson":
        return rng.poisson(1.5, size=(n, k)).astype(float)
    return X[:, :k] * 2 - 1


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("loss,output,k", LOSSES, ids=[f"{l}-{o}" for l, o, _ in LOSSES])
def test_weighted_loss_and_gradient_equal_the_reference(loss, output, k, per_sample):
    X, rng = _data()
    Y = _targets(loss, X, k, rng)
    w = rng.uniform(0, 3, X.shape[0])
    w[:5] = 0.0
    model = fm.MLP([3, 5, k], activation="tanh", output=output, seed=1)
    value = model.loss_and_gradient(X, Y, loss, alpha=0.3, per_sample=per_sample, sample_weight=w)
    ref_value, ref_grads = fm.reference.Net.from_model(model).gradients(X, Y, loss, sample_weight=w,
                                                                        sum_over_outputs=per_sample, alpha=0.3)
    assert value == pytest.approx(ref_value, rel=1e-13)
    np.testing.assert_allclose(model.grads, np.concatenate([g.ravel() for g in ref_grads]), rtol=0, atol=1e-13)


@pytest.mark.parametrize("loss,output,k", LOSSES, ids=[f"{l}-{o}" for l, o, _ in LOSSES])
def test_integer_weights_equal_repeated_rows_on_full_batches(loss, output, k):
    X, rng = _data()
    Y = _targets(loss, X, k, rng)
    w = rng.integers(0, 4, X.shape[0])
    Xr, Yr = np.repeat(X, w, axis=0), np.repeat(Y, w, axis=0)
    for opt in ({"optimizer": "sgd", "momentum": 0.9}, {"optimizer": "adam"}):
        a = fm.MLP([3, 5, k], activation="tanh", output=output, seed=2)
        b = a.copy()
        ha = fm.Trainer(a, loss=loss, lr=0.05, batch_size=len(X), epochs=15, alpha=0.1, **opt).fit(
            X, Y, sample_weight=w)
        hb = fm.Trainer(b, loss=loss, lr=0.05, batch_size=len(Xr), epochs=15, alpha=0.1, **opt).fit(Xr, Yr)
        np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-12)
        # One full batch: the epoch loss is the batch's weighted average.
        np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-12)


def test_zero_weights_are_samples_left_out():
    X, rng = _data()
    Y = _targets("bce", X, 1, rng)
    w = np.ones(len(X))
    w[::3] = 0.0
    a = fm.MLP([3, 4, 1], output="sigmoid", seed=0)
    b = a.copy()
    fm.Trainer(a, loss="bce", lr=0.5, batch_size=len(X), epochs=10).fit(X, Y, sample_weight=w)
    keep = w > 0
    fm.Trainer(b, loss="bce", lr=0.5, batch_size=int(keep.sum()), epochs=10).fit(X[keep], Y[keep])
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_weights_and_all_ones_are_bit_identical(dtype):
    X, rng = _data(50)
    Y = _targets("cross_entropy", X, 3, rng)
    runs = []
    for sw in (None, np.ones(len(X)), 1, [1.0] * len(X)):
        m = fm.MLP([3, 6, 3], output="softmax", dtype=dtype, seed=4)
        h = fm.Trainer(m, loss="cross_entropy", lr=0.1, batch_size=8, epochs=4, seed=7, alpha=0.01,
                       optimizer="adam").fit(X, Y, sample_weight=sw)
        lg = m.loss_and_gradient(X, Y, "cross_entropy", alpha=0.01, sample_weight=sw)
        runs.append((m.params.copy(), h.loss, lg, m.grads.copy()))
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            np.testing.assert_array_equal(a, b)


def test_weighted_minibatches_equal_the_reference():
    """Minibatches (the last one shorter), shuffled: each batch's weighted
    average, the epoch loss the rows-weighted mean of the batch losses."""
    X, rng = _data(45)
    Y = _targets("half_mse", X, 2, rng)
    w = rng.uniform(0.1, 2.0, len(X))
    model = fm.MLP([3, 4, 2], activation="tanh", seed=3)
    ref = fm.reference.Net.from_model(model)
    history = fm.Trainer(model, loss="half_mse", lr=0.1, batch_size=10, epochs=3, seed=5, alpha=0.2,
                         per_sample=True).fit(X, Y, sample_weight=w)
    orders = fm.trainer.shuffle_orders(5, 3, len(X))
    ref_loss = ref.train(X, Y, "half_mse", 0.1, 10, 3, orders=orders, sample_weight=w, sum_over_outputs=True,
                         alpha=0.2)
    np.testing.assert_allclose(history.loss, ref_loss, rtol=1e-12)
    np.testing.assert_allclose(model.params, ref.flat(), rtol=0, atol=1e-12)


def test_a_constant_weight_changes_only_the_penalty():
    """sample_weight=c multiplies the batch's weight sum: the loss average is
    unchanged, the L2 term is divided by c (scikit-learn's semantics)."""
    X, rng = _data()
    Y = _targets("mse", X, 1, rng)
    m = fm.MLP([3, 4, 1], seed=0)
    plain = m.loss_and_gradient(X, Y, "mse")
    assert m.loss_and_gradient(X, Y, "mse", sample_weight=2.5) == pytest.approx(plain, rel=1e-14)
    pen = 0.5 * 0.4 * sum(float(np.sum(l.weight ** 2)) for l in m.layers if isinstance(l, fm.Linear))
    with_alpha = m.loss_and_gradient(X, Y, "mse", alpha=0.4, sample_weight=2.5)
    assert with_alpha == pytest.approx(plain + pen / (2.5 * len(X)), rel=1e-13)


# -- class_weight -----------------------------------------------------------------------------------

def test_trainer_class_weight_balanced_and_dict():
    sklearn = pytest.importorskip("sklearn")  # noqa: F841
    from sklearn.utils import compute_sample_weight
    X, rng = _data(40)
    labels = np.r_[np.zeros(30, int), np.ones(7, int), np.full(3, 2)]
    for cw in ("balanced", {0: 0.5, 2: 4.0}):
        a = fm.MLP([3, 4, 3], output="softmax", seed=0)
        b = a.copy()
        fm.Trainer(a, loss="cross_entropy", lr=0.3, batch_size=40, epochs=5, class_weight=cw).fit(X, labels)
        sw = compute_sample_weight(cw, labels)
        fm.Trainer(b, loss="cross_entropy", lr=0.3, batch_size=40, epochs=5).fit(X, labels, sample_weight=sw)
        np.testing.assert_array_equal(a.params, b.params)
    # bce, several outputs: each output's classes, the weights multiplied (multi-label)
    Y = (rng.random((40, 2)) < np.array([0.2, 0.6])).astype(float)
    a = fm.MLP([3, 4, 2], output="sigmoid", seed=0)
    b = a.copy()
    fm.Trainer(a, loss="bce", lr=0.3, batch_size=40, epochs=5, class_weight="balanced").fit(X, Y, sample_weight=2.0)
    sw = 2.0 * compute_sample_weight("balanced", Y.astype(int))
    fm.Trainer(b, loss="bce", lr=0.3, batch_size=40, epochs=5).fit(X, Y, sample_weight=sw)
    np.testing.assert_array_equal(a.params, b.params)
    assert fm.Trainer(a, loss="bce", class_weight={1: 3.0}).config()["class_weight"] == {"1": 3.0}


# -- the estimators against scikit-learn's weighted fits -------------------------------------------

sknn = pytest.importorskip("sklearn.neural_network")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from fastmlp.estimators import SOLVER_VARIANTS  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # see conftest.py


def est_data(kind, n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    w = rng.uniform(0.0, 3.0, n)
    w[rng.random(n) < 0.1] = 0.0
    if kind == "binary":
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
    elif kind == "multiclass":
        y = np.digitize(X[:, 0] - X[:, 2], [-0.6, 0.6])
    elif kind == "multilabel":
        y = np.c_[X[:, 0] > 0, X[:, 1] + X[:, 2] > 0].astype(int)
    elif kind == "regression":
        y = 2 * X[:, 0] - X[:, 1] + 0.5
    elif kind == "multioutput":
        y = np.c_[2 * X[:, 0] - X[:, 1], X[:, 2] * X[:, 3]]
    return X, y, w


def est_pair(kind, **params):
    if kind in ("regression", "multioutput"):
        return sknn.MLPRegressor(**params), fm.MLPRegressor(**params)
    return sknn.MLPClassifier(**params), fm.MLPClassifier(**params)


def max_weight_difference(sk, ours):
    return max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(sk.coefs_ + sk.intercepts_, ours.coefs_ + ours.intercepts_))


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression", "multioutput"])
@pytest.mark.parametrize("solver", list(SOLVER_VARIANTS))
def test_weighted_fit_same_as_sklearn(kind, solver):
    """Minibatches of 16 (the last one shorter), sklearn's shuffling,
    alpha > 0: weights, loss curve and loss_ as scikit-learn's."""
    X, y, w = est_data(kind)
    params = dict(hidden_layer_sizes=(6, 4), activation="tanh", random_state=3, batch_size=16, alpha=0.05,
                  max_iter=15)
    params.update(SOLVER_VARIANTS[solver])
    sk, ours = est_pair(kind, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y, sample_weight=w)
        ours.fit(X, y, sample_weight=w)
    assert max_weight_difference(sk, ours) < TOL
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-10)
    assert ours.n_iter_ == sk.n_iter_
    if solver != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, sk.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression", "multioutput"])
def test_weighted_early_stopping_same_as_sklearn(kind):
    """The weights are split with the data and the validation score is weighted."""
    X, y, w = est_data(kind, n=100)
    params = dict(hidden_layer_sizes=(6,), random_state=1, solver="adam", learning_rate_init=0.02, batch_size=16,
                  early_stopping=True, validation_fraction=0.25, n_iter_no_change=3, max_iter=40)
    sk, ours = est_pair(kind, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y, sample_weight=w)
        ours.fit(X, y, sample_weight=w)
    assert ours.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(ours.validation_scores_, sk.validation_scores_, rtol=1e-10)
    assert max_weight_difference(sk, ours) < TOL
    # The weighted score differs from the unweighted one: the weights were used.
    unweighted = est_pair(kind, **params)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        unweighted.fit(X, y)
    assert not np.allclose(unweighted.validation_scores_[:3], ours.validation_scores_[:3])


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression", "multioutput"])
def test_weighted_partial_fit_same_as_sklearn(kind):
    X, y, w = est_data(kind)
    sk, ours = est_pair(kind, hidden_layer_sizes=(5,), solver="sgd", momentum=0.9, learning_rate_init=0.02,
                        batch_size=16, alpha=0.1, random_state=0)
    for step in range(3):
        rows = slice(20 * step, 20 * step + 40)
        extra = {"classes": np.unique(y)} if kind in ("binary", "multiclass") else {}
        sk.partial_fit(X[rows], y[rows], sample_weight=w[rows], **extra)
        ours.partial_fit(X[rows], y[rows], sample_weight=w[rows], **extra)
    assert max_weight_difference(sk, ours) < TOL
    assert ours.loss_ == pytest.approx(sk.loss_, rel=1e-10)


def test_estimator_none_and_ones_are_bit_identical():
    X, y, _ = est_data("multiclass")
    fits = []
    for sw in (None, np.ones(len(X))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = fm.MLPClassifier((5,), solver="adam", batch_size=16, max_iter=5, random_state=0).fit(
                X, y, sample_weight=sw)
        fits.append(est)
    for a, b in zip(fits[0].coefs_ + fits[0].intercepts_, fits[1].coefs_ + fits[1].intercepts_):
        np.testing.assert_array_equal(a, b)
    assert fits[0].loss_curve_ == fits[1].loss_curve_


def test_estimator_integer_weights_equal_repeated_rows():
    X, y, _ = est_data("binary", n=40)
    w = np.random.default_rng(3).integers(0, 4, len(X))
    Xr, yr = np.repeat(X, w, axis=0), np.repeat(y, w)
    a = fm.MLPClassifier((5,), solver="lbfgs", max_iter=20, random_state=0)
    b = fm.MLPClassifier((5,), solver="lbfgs", max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X, y, sample_weight=w)
        b.fit(Xr, yr)
    assert max_weight_difference(a, b) < 1e-8
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=0, atol=1e-8)


def test_classifier_class_weight_is_compute_sample_weight():
    from sklearn.utils import compute_sample_weight
    X, _, w = est_data("multiclass")
    y = np.array(["a", "b", "c"])[np.digitize(X[:, 0], [-1.0, 1.2])]
    for cw in ("balanced", {"a": 2.0, "c": 0.5}):
        params = dict(hidden_layer_sizes=(5,), solver="sgd", batch_size=16, max_iter=5, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours = fm.MLPClassifier(class_weight=cw, **params).fit(X, y, sample_weight=w)
            sk = sknn.MLPClassifier(**params).fit(X, y, sample_weight=w * compute_sample_weight(cw, y))
        assert max_weight_difference(sk, ours) < TOL
    with pytest.raises(ValueError, match="class_weight='balanced' is not supported for partial_fit"):
        fm.MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=["a", "b", "c"])
