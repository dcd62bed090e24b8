"""Every kernel's gradient against central finite differences in float64, on
random shapes including batch 1 and width 1; plus the values of the forward
kernels and their numerical stability."""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import kernels as K

SHAPES = [(1, 1, 1), (1, 3, 2), (5, 1, 4), (4, 3, 1), (7, 6, 5)]
H = 1e-6


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b), 1e-12)
    return np.linalg.norm(a - b) / scale


def numeric_grad(f, x):
    """Central differences of scalar f at array x (modified in place, restored)."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + H
        fp = f()
        flat[i] = old - H
        fm_ = f()
        flat[i] = old
        gflat[i] = (fp - fm_) / (2 * H)
    return g


def away_from_zero(rng, shape, margin=0.05):
    """Normal values kept away from ReLU's kink so differences stay smooth."""
    x = rng.normal(size=shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin, x)


ACTIVATIONS = {
    K.RELU: (K.relu_forward, K.relu_backward),
    K.SIGMOID: (K.sigmoid_forward, K.sigmoid_backward),
    K.TANH: (K.tanh_forward, K.tanh_backward),
    K.IDENTITY: (K.identity_forward, K.identity_backward),
    K.SOFTMAX: (K.softmax_forward, K.softmax_backward),
    K.EXP: (K.exp_forward, K.exp_backward),
}


@pytest.mark.parametrize("kind", list(ACTIVATIONS))
@pytest.mark.parametrize("n,d,_", SHAPES)
def test_activation_gradients(kind, n, d, _):
    fwd, bwd = ACTIVATIONS[kind]
    rng = np.random.default_rng(n * 100 + d)
    x = away_from_zero(rng, (n, d))
    r = rng.normal(size=(n, d))  # f(x) = sum(act(x) * r), so df/dout = r
    out = np.empty_like(x)

    def f():
        fwd(x, out)
        return float(np.sum(out * r))

    fwd(x, out)
    dx = np.empty_like(x)
    bwd(out.copy(), r, dx)
    assert rel_err(dx, numeric_grad(f, x)) < 1e-6


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n,d_in,d_out", SHAPES + [(3, 40, 50), (1, 20, 30), (30, 1, 20), (30, 20, 1)])
def test_linear_gradients(n, d_in, d_out, bias):
    # (3, 40, 50) goes through BLAS, the small ones through the hand loop; the
    # last three are above SMALL_PRODUCT with one product of inner dimension 1
    # (gw at batch 1, the forward pass, dx), which runs by hand, the others in BLAS.
    rng = np.random.default_rng(n + d_in * 10 + d_out * 100)
    x = rng.normal(size=(n, d_in))
    w = rng.normal(size=(d_in, d_out))
    b = rng.normal(size=d_out) if bias else np.empty(0)
    r = rng.normal(size=(n, d_out))
    out = np.empty((n, d_out))

    def f():
        K.linear_forward(x, w, b, bias, out)
        return float(np.sum(out * r))

    K.linear_forward(x, w, b, bias, out)
    np.testing.assert_allclose(out, x @ w + (b if bias else 0), rtol=1e-12, atol=1e-12)
    gw, gb, dx = np.empty_like(w), np.empty(d_out if bias else 0), np.empty_like(x)
    K.linear_backward(x, w, r, bias, gw, gb, True, dx)
    assert rel_err(gw, numeric_grad(f, w)) < 1e-6
    assert rel_err(dx, numeric_grad(f, x)) < 1e-6
    if bias:
        assert rel_err(gb, numeric_grad(f, b)) < 1e-6


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n,d_in,d_out", [(4, 2, 8), (3, 40, 50), (64, 96, 80), (30, 20, 1)])
def test_linear_backward_sgd_is_the_gradient_then_the_sgd_step(n, d_in, d_out, bias, dtype):
    # The fused kernel against linear_backward followed by sgd_update: dx
    # from the weights before the step, then w and b stepped. (4, 2, 8) runs
    # the weight product by hand, the others in BLAS (the update inside the GEMM).
    rng = np.random.default_rng(n * 7 + d_in)
    x, w, r = (rng.normal(size=s).astype(dtype) for s in ((n, d_in), (d_in, d_out), (n, d_out)))
    b = rng.normal(size=d_out).astype(dtype) if bias else np.empty(0, dtype)
    lr = 0.05
    gw, gb, dx = np.empty_like(w), np.empty_like(b), np.empty_like(x)
    K.linear_backward(x, w, r, bias, gw, gb, True, dx)
    w_expected, b_expected = w - dtype(lr) * gw, b - dtype(lr) * gb
    w_fused, b_fused, dx_fused = w.copy(), b.copy(), np.full_like(x, np.nan)
    K.linear_backward_sgd(x, w_fused, b_fused, r, bias, np.empty_like(w), np.empty_like(b), True, dx_fused, True, lr)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(dx_fused, dx)
    np.testing.assert_allclose(w_fused, w_expected, **tol)
    np.testing.assert_allclose(b_fused, b_expected, **tol)
    dx_untouched = np.full_like(x, 7.0)
    K.linear_backward_sgd(x, w.copy(), b.copy(), r, bias, np.empty_like(w), np.empty_like(b), False, dx_untouched,
                          True, lr)
    assert np.all(dx_untouched == 7.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gemm_accumulate_is_alpha_a_b_plus_beta_c(dtype):
    # An intrinsic: callable from compiled code only.
    import numba
    gemm = numba.njit(lambda a, b, c, alpha, beta: K.gemm_accumulate(a, b, c, alpha, beta))
    rng = np.random.default_rng(3)
    a, b, c = (rng.normal(size=s).astype(dtype) for s in ((5, 7), (7, 6), (5, 6)))
    tol = dict(rtol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    for left, right in ((a, b), (np.ascontiguousarray(a.T).T, b), (a, np.ascontiguousarray(b.T).T)):
        out = c.copy()
        gemm(left, right, out, -0.5, 1.0)
        np.testing.assert_allclose(out, c - 0.5 * (a.astype(np.float64) @ b), **tol)
        out = c.copy()
        gemm(left, right, out, 2.0, 0.0)
        np.testing.assert_allclose(out, 2.0 * (a.astype(np.float64) @ b), **tol)


def _loss_case(name, rng, n, k):
    if name in ("mse", "half_mse"):
        return rng.normal(size=(n, k)), rng.normal(size=(n, k))
    if name == "bce":
        return rng.uniform(0.05, 0.95, size=(n, k)), rng.uniform(0, 1, size=(n, k))
    if name == "poisson":
        y = rng.poisson(2.0, size=(n, k)).astype(float)
        y[0, 0] = 0.0  # y log y is 0 there
        return rng.uniform(0.2, 4.0, size=(n, k)), y
    p = rng.uniform(0.1, 1.0, size=(n, k))
    p /= p.sum(axis=1, keepdims=True)
    y = np.eye(k)[rng.integers(0, k, size=n)]
    return p, y


@pytest.mark.parametrize("name", ["mse", "half_mse", "bce", "cross_entropy", "poisson"])
@pytest.mark.parametrize("n,k", [(1, 1), (1, 3), (6, 1), (5, 4)])
def test_loss_gradients(name, n, k):
    rng = np.random.default_rng(n * 7 + k)
    pred, y = _loss_case(name, rng, n, k)
    loss = fm.get_loss(name)
    grad = loss.backward(pred, y)
    num = numeric_grad(lambda: loss.forward(pred, y), pred)
    assert rel_err(grad, num) < 1e-6


def test_loss_values():
    pred = np.array([[0.2, 0.8], [0.6, 0.4]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert fm.get_loss("mse").forward(pred, y) == pytest.approx(np.mean((pred - y) ** 2), rel=1e-15)
    assert fm.get_loss("half_mse").forward(pred, y) == pytest.approx(np.mean((pred - y) ** 2) / 2, rel=1e-15)
    bce = -np.mean(y * np.log(pred) + (1 - y) * np.log(1 - pred))
    assert fm.get_loss("bce").forward(pred, y) == pytest.approx(bce, rel=1e-14)
    ce = -np.mean(np.sum(y * np.log(pred), axis=1))
    assert fm.get_loss("cross_entropy").forward(pred, y) == pytest.approx(ce, rel=1e-14)
    # Integer class targets mean the same as one-hot rows.
    assert fm.get_loss("cross_entropy").forward(pred, np.array([1, 0])) == pytest.approx(ce, rel=1e-14)
    # poisson: scikit-learn's xlogy(y, y / mu) - y + mu, averaged over all elements
    mu, counts = np.array([[0.5, 2.0], [3.0, 1.0]]), np.array([[0.0, 3.0], [1.0, 2.0]])
    dev = np.where(counts > 0, counts * np.log(np.where(counts > 0, counts, 1) / mu), 0) - counts + mu
    assert fm.get_loss("poisson").forward(mu, counts) == pytest.approx(np.mean(dev), rel=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["bce", "cross_entropy", "poisson"])
def test_clipped_probabilities_agree_with_the_reference(name, dtype):
    """Probabilities at 0 and 1 (and beyond float32's reach) are clipped at
    losses.clip_epsilon(dtype) by the kernels and by the numpy reference
    alike, in both dtypes: the same losses and gradients, and the bounded
    values the clipping implies."""
    c = fm.losses.clip_epsilon(dtype)
    assert c == (1e-7 if dtype == np.float32 else 1e-15)
    pred = np.array([[0.0, 1.0, 1e-20], [1.0 - 1e-17, 0.5, 0.0]], dtype=dtype)
    if name == "bce":
        y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=dtype)
    elif name == "cross_entropy":
        pred = np.array([[0.0, 1.0, 0.0], [1e-20, 0.0, 1.0]], dtype=dtype)
        y = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], dtype=dtype)
    else:
        y = np.array([[2.0, 0.0, 1.0], [3.0, 1.0, 0.0]], dtype=dtype)
    loss = fm.get_loss(name)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    value = loss.forward(pred, y)
    assert value == pytest.approx(fm.reference.loss_value(name, pred, y), rel=rtol)
    np.testing.assert_allclose(loss.backward(pred, y), fm.reference.loss_grad(name, pred, y), rtol=rtol)
    # Each clipped term is bounded, times its target: -log(c) below, -log(1 - (1 - c)) above (in
    # float64, where 1 - c rounds). bce: three below, two above and one log(2) over six elements;
    # cross_entropy: one -log(c) per sample.
    below, above = -np.log(c), -np.log(1.0 - (1.0 - c))
    bound = {"bce": (3 * below + 2 * above + np.log(2)) / 6, "cross_entropy": below}
    if name in bound:
        assert value == pytest.approx(bound[name], rel=rtol)


@pytest.mark.parametrize("weighted", [False, True])
def test_l2_penalty_is_the_engines(weighted):
    """losses.l2_penalty (the estimators' and the reference's) is the term the
    compiled loss adds: alpha / 2 * sum ||W||^2 over the weight matrices (not
    the biases) / the rows or the weight sum."""
    rng = np.random.default_rng(3)
    model = fm.Model([fm.Linear(3, 5), fm.Tanh(), fm.Linear(5, 2)], dtype=np.float64, seed=2)
    X, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    sw = rng.uniform(0, 2, size=7) if weighted else None
    with_penalty = model.loss_and_gradient(X, y, "half_mse", alpha=0.3, sample_weight=sw)
    without = model.loss_and_gradient(X, y, "half_mse", alpha=0.0, sample_weight=sw)
    total = fm.losses.weight_total(sw, 7)
    assert total == (7 if sw is None else pytest.approx(sw.sum(), rel=1e-15))
    penalty = fm.losses.l2_penalty([model.layers[0].weight, model.layers[2].weight], 0.3, total)
    squares = np.sum(model.layers[0].weight ** 2) + np.sum(model.layers[2].weight ** 2)
    assert penalty == pytest.approx(0.15 * squares / total, rel=1e-14)
    assert with_penalty - without == pytest.approx(penalty, rel=1e-12)


def _output_case(loss, output, k, n):
    """(rng, a 3-5-k float64 model ending in `output`, X (n, 3), targets for
    `loss`): class indices, 0/1 labels, counts or normal values."""
    rng = np.random.default_rng(k)
    model = fm.Model([fm.Linear(3, 5), fm.Tanh(), fm.Linear(5, k), output()], dtype=np.float64, seed=1)
    X = rng.normal(size=(n, 3))
    if loss == "cross_entropy":
        y = rng.integers(0, k, size=n)
    elif loss == "bce":
        y = rng.integers(0, 2, size=(n, k)).astype(float)
    elif loss == "poisson":
        y = rng.poisson(1.0, size=(n, k)).astype(float)
    else:
        y = rng.normal(size=(n, k))
    return rng, model, X, y


@pytest.mark.parametrize("loss,output,k", [("bce", fm.Sigmoid, 1), ("bce", fm.Sigmoid, 3),
                                           ("cross_entropy", fm.Softmax, 4), ("poisson", fm.Exp, 1),
                                           ("poisson", fm.Exp, 3),
                                           ("mse", fm.Tanh, 2), ("half_mse", fm.Identity, 1)])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_whole_model_gradient_fused_outputs(loss, output, k, alpha, per_sample, weighted):
    """model.loss_and_gradient (the training path, with the fused logits forms,
    the L2 penalty, per-sample normalisation and sample weights) against
    finite differences."""
    rng, model, X, y = _output_case(loss, output, k, 6)
    sw = rng.uniform(0, 2, size=6) if weighted else None
    kw = dict(alpha=alpha, per_sample=per_sample, sample_weight=sw)
    model.loss_and_gradient(X, y, loss, **kw)
    grad = model.grads.copy()
    num = numeric_grad(lambda: model.loss_and_gradient(X, y, loss, **kw), model.params)
    assert rel_err(grad, num) < 1e-6


@pytest.mark.parametrize("loss,output,k", [("half_mse", fm.Identity, 3), ("mse", fm.Tanh, 2), ("bce", fm.Sigmoid, 3),
                                           ("poisson", fm.Exp, 2), ("cross_entropy", fm.Softmax, 4)])
@pytest.mark.parametrize("weighted", [False, True])
def test_per_sample_gradient_sums_the_gradient_and_averages_the_loss(loss, output, k, weighted):
    """per_sample="gradient" (scikit-learn's MLPRegressor): the gradient of
    per_sample=True, the loss of per_sample=False (error averaged over the
    outputs), the L2 penalty counted once in both."""
    rng, model, X, y = _output_case(loss, output, k, 7)
    sw = rng.uniform(0, 2, size=7) if weighted else None
    results = {}
    for mode in (False, True, "gradient"):
        value = model.loss_and_gradient(X, y, loss, alpha=0.3, per_sample=mode, sample_weight=sw)
        results[mode] = (value, model.grads.copy())
    np.testing.assert_allclose(results["gradient"][1], results[True][1], rtol=1e-13, atol=1e-15)
    assert results["gradient"][0] == pytest.approx(results[False if loss != "cross_entropy" else True][0],
                                                   rel=1e-13)
    if loss != "cross_entropy":
        assert results[True][0] > results["gradient"][0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_poisson_logits_form_stays_finite_where_exp_overflows(dtype):
    """The deviance from the log-means z: exp(z) - y z + y log y - y, in
    float64. Where exp(z) overflows float32 (z = 100) the loss stays finite
    (float64 holds it); where exp(z) underflows to 0 (z = -800), the naive
    y log(y / mu) is inf while the logits form is 800 y + ..."""
    if dtype == np.float32:
        z = np.array([[100.0], [-100.0], [0.5]], dtype=dtype)
    else:
        z = np.array([[700.0], [-800.0], [0.5]], dtype=dtype)
    y = np.array([[3.0], [2.0], [0.0]], dtype=dtype)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        mu = np.exp(z)
        naive = np.mean(y * np.log(y / mu) - y + mu)
    assert not np.isfinite(naive)
    value = K.poisson_logits_forward(z, y)
    zz, yy = z.astype(np.float64), y.astype(np.float64)
    xlogx = np.where(yy > 0, yy * np.log(np.where(yy > 0, yy, 1.0)), 0.0)
    expected = np.mean(np.exp(zz) - yy * zz + xlogx - yy)
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-12)
    # Through a model ending in Exp: the training loss is finite too.
    model = fm.Model([fm.Linear(1, 1, weight=[[1.0]], bias=[0.0]), fm.Exp()], dtype=dtype)
    assert model.loss_and_gradient(z[1:], y[1:], "poisson") == pytest.approx(
        np.mean((np.exp(zz) - yy * zz + xlogx - yy)[1:]), rel=1e-6)


def test_sigmoid_never_overflows_and_is_exact():
    x = np.array([[-1e308, -800.0, -30.0, 0.0, 30.0, 800.0, 1e308]])
    out = np.empty_like(x)
    K.sigmoid_forward(x, out)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0, 2:5], 1 / (1 + np.exp(-x[0, 2:5])), rtol=1e-13)
    assert out[0, 0] == 0.0 and out[0, -1] == 1.0
    x32 = np.array([[-3e38, -100.0, 0.0, 100.0, 3e38]], dtype=np.float32)
    out32 = np.empty_like(x32)
    K.sigmoid_forward(x32, out32)
    assert np.all(np.isfinite(out32))


def test_softmax_is_shift_invariant_and_finite():
    x = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]])
    out = np.empty_like(x)
    K.softmax_forward(x, out)
    e = np.exp(np.array([0.0, 1.0, -1.0]))
    np.testing.assert_allclose(out[0], e / e.sum(), rtol=1e-14)
    np.testing.assert_allclose(out[1], [1 / 3] * 3, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_logits_give_finite_loss_and_gradient(dtype):
    """Sigmoid+bce and Softmax+cross-entropy use the logits form: a saturated
    wrong answer costs exactly |z|, never inf or NaN."""
    X = np.array([[500.0], [-500.0]])
    cases = [(fm.Sigmoid, "bce", [[-1.0]], np.array([[1.0], [0.0]]), 500.0),
             (fm.Softmax, "cross_entropy", [[-1.0, 1.0]], np.array([0, 1]), 1000.0)]
    for output, loss, w, y, expected in cases:
        k = len(w[0])
        model = fm.Model([fm.Linear(1, k, weight=w, bias=np.zeros(k)), output()], dtype=dtype)
        value = model.loss_and_gradient(X, y, loss)
        assert value == pytest.approx(expected, rel=1e-6)
        assert np.all(np.isfinite(model.grads))


def test_optimizer_updates_follow_scikit_learn_formulas():
    rng = np.random.default_rng(0)
    p0, g = rng.normal(size=6), rng.normal(size=6)
    p = p0.copy()
    K.sgd_update(p, g, 0.1)
    np.testing.assert_allclose(p, p0 - 0.1 * g, rtol=1e-13)
    p, v = p0.copy(), np.full(6, 0.5)
    K.momentum_update(p, g, v, 0.1, 0.9, False)
    np.testing.assert_allclose(v, 0.9 * 0.5 - 0.1 * g, rtol=1e-13)
    np.testing.assert_allclose(p, p0 + v, rtol=1e-13)
    p, v = p0.copy(), np.full(6, 0.5)
    K.momentum_update(p, g, v, 0.1, 0.9, True)
    np.testing.assert_allclose(p, p0 + 0.9 * v - 0.1 * g, rtol=1e-13)
    p, m, s = p0.copy(), np.zeros(6), np.zeros(6)
    K.adam_update(p, g, m, s, 1, 0.01, 0.9, 0.999, 1e-8)
    lr_t = 0.01 * np.sqrt(1 - 0.999) / (1 - 0.9)
    np.testing.assert_allclose(p, p0 - lr_t * (0.1 * g) / (np.sqrt(0.001 * g * g) + 1e-8), rtol=1e-12)


def test_shuffle_order_is_a_permutation_and_deterministic():
    u = np.random.default_rng(0).random(50)
    a, b = np.empty(50, np.int64), np.empty(50, np.int64)
    K.shuffle_order(u, a)
    K.shuffle_order(u, b)
    assert sorted(a) == list(range(50)) and np.array_equal(a, b)
    assert not np.array_equal(a, np.arange(50))
    edge = np.empty(3, np.int64)
    K.shuffle_order(np.array([0.0, np.nextafter(1.0, 0), np.nextafter(1.0, 0)]), edge)
    assert sorted(edge) == [0, 1, 2]
