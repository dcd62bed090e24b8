"""Sparse X (scipy CSR, CSC and other formats): the first layer reads each
batch's rows from the CSR arrays, never densifying X; the results equal the
dense path's on the same data (float64, 1e-12), in the kernels, the Trainer,
Model.predict and the estimators (which also equal scikit-learn's)."""

import warnings

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import kernels as K

sp = pytest.importorskip("scipy.sparse")

TOL = 1e-12


def sparse_data(n=150, d=40, density=0.1, seed=0):
    """A CSR matrix with some empty rows and columns, and its dense twin."""
    X = sp.random(n, d, density=density, format="csr", random_state=seed, dtype=np.float64)
    X = X.multiply(np.where(np.arange(n) % 7 == 3, 0.0, 1.0)[:, None]).tocsr()   # empty rows
    X.data *= 4.0
    X.data -= 2.0
    return X, X.toarray()


@pytest.fixture
def no_densifying(monkeypatch):
    """arm(d): from then on, fail the test if anything turns a sparse matrix
    of d columns (X, not scikit-learn's own sparse label matrices) dense."""
    def arm(d):
        for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.lil_matrix, sp.csr_array, sp.csc_array):
            for name in ("toarray", "todense"):
                real = getattr(cls, name)

                def guarded(self, *args, _real=real, **kwargs):
                    if self.shape[1] == d:
                        raise AssertionError(f"a sparse matrix of shape {self.shape} was densified")
                    return _real(self, *args, **kwargs)
                monkeypatch.setattr(cls, name, guarded)
    return arm


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d_out", [1, 5])
def test_sparse_linear_kernels_equal_the_dense_products(dtype, d_out):
    Xs, X = sparse_data(30, 20, 0.2)
    rng = np.random.default_rng(1)
    # unsorted column indices and a duplicate entry (summed, as scipy does)
    idx = Xs.indices.astype(np.int64)
    for r in range(0, 30, 4):
        lo, hi = Xs.indptr[r], Xs.indptr[r + 1]
        idx[lo:hi] = idx[lo:hi][::-1]
    data = Xs.data.astype(dtype)
    starts, ends = Xs.indptr[:-1].astype(np.int64), Xs.indptr[1:].astype(np.int64)
    dense = sp.csr_matrix((data, idx, Xs.indptr), shape=Xs.shape).toarray()
    w = rng.normal(size=(20, d_out)).astype(dtype)
    b = rng.normal(size=d_out).astype(dtype)
    out = np.empty((30, d_out), dtype)
    K.sparse_linear_forward(starts, ends, idx, data, w, b, True, out)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out, dense @ w + b, rtol=rtol, atol=rtol)
    dout = rng.normal(size=(30, d_out)).astype(dtype)
    gw, gb = np.full((20, d_out), np.nan, dtype), np.full(d_out, np.nan, dtype)
    K.sparse_linear_backward(starts, ends, idx, data, dout, True, gw, gb)
    np.testing.assert_allclose(gw, dense.T @ dout, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(gb, dout.sum(axis=0), rtol=rtol, atol=rtol)
    # A batch of rows in another order, given by their entry ranges only.
    order = rng.permutation(30)[:11]
    K.sparse_linear_forward(starts[order], ends[order], idx, data, w, b, False, out[:11])
    np.testing.assert_allclose(out[:11], dense[order] @ w, rtol=rtol, atol=rtol)


OPTIMIZERS = [dict(optimizer="sgd", momentum=0.9, nesterov=True), dict(optimizer="adam")]


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=["nesterov", "adam"])
@pytest.mark.parametrize("loss,output,k", [("bce", "sigmoid", 1), ("cross_entropy", "softmax", 3),
                                           ("mse", "identity", 2), ("poisson", "exp", 1)])
def test_trainer_sparse_equals_dense(no_densifying, loss, output, k, opt):
    Xs, X = sparse_data()
    rng = np.random.default_rng(2)
    if loss == "cross_entropy":
        y = rng.integers(0, k, X.shape[0])
    elif loss == "bce":
        y = (X[:, :5].sum(axis=1) > 0).astype(float)
    elif loss == "poisson":
        y = rng.poisson(1.0, X.shape[0]).astype(float)
    else:
        y = X[:, :k] * 2 + 1
    w = rng.uniform(0, 2, X.shape[0])
    no_densifying(X.shape[1])
    a = fm.MLP([40, 6, k], activation="tanh", output=output, seed=0)
    b = a.copy()
    kw = dict(loss=loss, lr=0.05, batch_size=16, epochs=3, seed=4, alpha=0.05, **opt)
    ha = fm.Trainer(a, **kw).fit(Xs, y, sample_weight=w)
    hb = fm.Trainer(b, **kw).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=TOL)
    np.testing.assert_allclose(ha.loss, hb.loss, rtol=TOL)
    # one full batch (read in place, gathered once) and the loss and gradient
    fm.Trainer(a, loss=loss, lr=0.05, batch_size=X.shape[0], epochs=2).fit(Xs, y)
    fm.Trainer(b, loss=loss, lr=0.05, batch_size=X.shape[0], epochs=2).fit(X, y)
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=TOL)
    la = a.loss_and_gradient(Xs, y, loss, alpha=0.1, sample_weight=w)
    ga = a.grads.copy()
    lb = b.loss_and_gradient(X, y, loss, alpha=0.1, sample_weight=w)
    assert la == pytest.approx(lb, rel=TOL)
    np.testing.assert_allclose(ga, b.grads, rtol=0, atol=TOL)


def test_predict_takes_every_sparse_format(no_densifying):
    Xs, X = sparse_data(1300, 30, 0.05)           # three blocks of 512 rows, the last one shorter
    model = fm.MLP([30, 7, 2], activation="relu", output="softmax", seed=1)
    expected = model.predict(X)
    formats = [Xs.asformat(fmt) for fmt in ("csr", "csc", "coo", "lil")]
    m32 = fm.MLP([30, 7, 2], activation="relu", output="softmax", seed=1, dtype=np.float32)
    expected32 = m32.predict(X.astype(np.float32))
    no_densifying(X.shape[1])
    for Xf in formats:
        np.testing.assert_allclose(model.predict(Xf), expected, rtol=0, atol=TOL)
    np.testing.assert_allclose(model.predict(sp.csr_array(Xs)), expected, rtol=0, atol=TOL)
    # int64 indices, float32 values (converted to the model's dtype)
    big = sp.csr_matrix((Xs.data.astype(np.float32), Xs.indices.astype(np.int64), Xs.indptr.astype(np.int64)),
                        shape=Xs.shape)
    np.testing.assert_allclose(model.predict(big), model.predict(big.astype(np.float64)), rtol=0, atol=TOL)
    np.testing.assert_allclose(m32.predict(Xs), expected32, rtol=1e-5, atol=1e-6)


def test_sparse_inputs_compile_no_new_specialisation():
    Xs, X = sparse_data(60, 10, 0.3)
    y = (X.sum(axis=1) > 0).astype(float)

    def run(Xv):
        m = fm.MLP([10, 4, 1], output="sigmoid", seed=0)
        fm.Trainer(m, loss="bce", lr=0.1, batch_size=8, epochs=1, seed=0).fit(Xv, y)
        m.predict(Xv)
        m.loss_and_gradient(Xv, y, "bce")
        return m.params

    run(Xs)
    before = {n: len(getattr(K, n).signatures) for n in dir(K) if hasattr(getattr(K, n), "signatures")}
    for variant in (Xs.tocsc(), Xs.tocoo(), sp.csr_matrix(Xs, dtype=np.float32),
                    sp.csr_matrix((Xs.data, Xs.indices.astype(np.int64), Xs.indptr.astype(np.int64)), Xs.shape)):
        run(variant)
    after = {n: len(getattr(K, n).signatures) for n in before}
    assert after == before


def test_a_wide_sparse_input_equals_its_used_columns():
    """2,000,000 columns, 64 of them used: the model needs no (batch, d_in)
    buffer (that would be 1 GB), and its gradient is the dense one of the
    used columns, zero elsewhere."""
    d, cols = 2_000_000, np.arange(64) * 31_000 + 7
    rng = np.random.default_rng(0)
    values = rng.normal(size=64)
    X = sp.csr_matrix((values, cols, np.arange(65)), shape=(64, d))
    y = np.arange(64) % 2
    wide = fm.MLP([d, 3, 1], activation="tanh", output="sigmoid", seed=0)
    narrow = fm.Model([fm.Linear(64, 3, weight=wide.layers[0].weight[cols], bias=wide.layers[0].bias),
                       fm.Tanh(), fm.Linear(3, 1, weight=wide.layers[2].weight, bias=wide.layers[2].bias),
                       fm.Sigmoid()])
    lw = wide.loss_and_gradient(X, y, "bce")
    ln = narrow.loss_and_gradient(np.diag(values), y, "bce")
    assert lw == pytest.approx(ln, rel=TOL)
    gw = wide.layers[0].grad_weight
    np.testing.assert_allclose(gw[cols], narrow.layers[0].grad_weight, rtol=0, atol=TOL)
    assert np.count_nonzero(gw) == np.count_nonzero(gw[cols]) > 0      # zero outside the used columns
    np.testing.assert_allclose(wide.layers[2].grad_weight, narrow.layers[2].grad_weight, rtol=0, atol=TOL)
    fm.Trainer(wide, loss="bce", lr=0.1, batch_size=16, epochs=2, seed=0).fit(X, y)
    assert np.isfinite(wide.params).all()


# -- the estimators ---------------------------------------------------------------------------------

sknn = pytest.importorskip("sklearn.neural_network")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # see conftest.py


EST = {
    "adam": dict(solver="adam", learning_rate_init=0.01, batch_size=16, max_iter=8),
    "sgd_alpha": dict(solver="sgd", momentum=0.9, learning_rate_init=0.02, batch_size=16, max_iter=8, alpha=0.1),
    "early_stopping": dict(solver="adam", learning_rate_init=0.01, batch_size=16, max_iter=20, early_stopping=True,
                           n_iter_no_change=2),
    "lbfgs": dict(solver="lbfgs", max_iter=8),
}


@pytest.mark.parametrize("name", list(EST))
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression", "multioutput"])
def test_estimators_on_sparse_X_equal_dense_and_sklearn(no_densifying, kind, name):
    Xs, X = sparse_data(120, 30, 0.15, seed=3)
    score = X[:, :4].sum(axis=1)
    y = {"binary": (score > 0).astype(int), "multiclass": np.digitize(score, [-0.7, 0.7]),
         "regression": score, "multioutput": np.c_[score, X[:, 5]]}[kind]
    cls = "MLPClassifier" if kind in ("binary", "multiclass") else "MLPRegressor"
    params = dict(hidden_layer_sizes=(6,), random_state=0, **EST[name])
    w = np.random.default_rng(0).uniform(0, 2, len(y))
    no_densifying(X.shape[1])
    ours_sparse, ours_dense = getattr(fm, cls)(**params), getattr(fm, cls)(**params)
    sk = getattr(sknn, cls)(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours_sparse.fit(Xs, y, sample_weight=w)
        ours_dense.fit(X, y, sample_weight=w)
        sk.fit(Xs, y, sample_weight=w)
    for a, b, c in zip(ours_sparse.coefs_ + ours_sparse.intercepts_, ours_dense.coefs_ + ours_dense.intercepts_,
                       sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL)
        np.testing.assert_allclose(a, c, rtol=0, atol=1e-10)
    assert ours_sparse.loss_ == pytest.approx(sk.loss_, rel=1e-10)
    np.testing.assert_allclose(ours_sparse.predict(Xs), ours_dense.predict(X), rtol=0, atol=TOL)


def test_partial_fit_on_sparse_batches(no_densifying):
    Xs, X = sparse_data(90, 25, 0.2, seed=5)
    y = (X[:, :3].sum(axis=1) > 0).astype(int)
    no_densifying(X.shape[1])
    a = fm.MLPClassifier((5,), solver="sgd", batch_size=10, random_state=0)
    sk = sknn.MLPClassifier((5,), solver="sgd", batch_size=10, random_state=0)
    for lo in (0, 30, 60):
        a.partial_fit(Xs[lo:lo + 30], y[lo:lo + 30], classes=[0, 1])
        sk.partial_fit(Xs[lo:lo + 30], y[lo:lo + 30], classes=[0, 1])
    for p, q in zip(a.coefs_ + a.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(p, q, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(a.predict(Xs.tocsc()), sk.predict(Xs))
