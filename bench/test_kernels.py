"""pytest-benchmark of fastmlp's compiled kernels, float32, at the sizes of the
three workloads (xor, line, wide): each layer's forward/backward pair, each
loss, the optimizer updates, and predict.

    pytest bench/test_kernels.py --benchmark-only
    pytest bench/test_kernels.py --benchmark-only -k linear --benchmark-columns=min,median,rounds

Each benchmark calls the kernel once before timing (compilation or cache
load is never timed) and checks its result against numpy afterwards.
``extra_info["flops"]`` holds 2*m*n*k per matrix product of one call.
"""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import kernels as K

DTYPE = np.float32
RTOL = 2e-4

# (rows, d_in, d_out) of every Linear layer of xor, line and wide.
LINEAR_SIZES = [(4, 2, 8), (4, 8, 1), (32, 2, 16), (32, 16, 16), (32, 16, 1),
                (256, 784, 512), (256, 512, 512), (256, 512, 10)]
# (rows, width) of the activations.
ACT_SIZES = [(4, 8), (32, 1), (32, 16), (256, 512)]
# (rows, outputs) of the losses.
LOSS_SIZES = [(4, 1), (32, 1), (256, 10)]
# Parameter counts of the three workloads' models.
PARAM_SIZES = {"xor": 33, "line": 337, "wide": 669_706}


def _ids(sizes):
    return ["x".join(str(v) for v in s) for s in sizes]


def _arr(rng, *shape, low=-1.0, high=1.0):
    return rng.uniform(low, high, size=shape).astype(DTYPE)


def _probs(rng, n, k):
    if k == 1:
        return rng.uniform(0.05, 0.95, size=(n, 1)).astype(DTYPE)
    p = rng.uniform(0.1, 1.0, size=(n, k))
    return (p / p.sum(axis=1, keepdims=True)).astype(DTYPE)


def _targets(rng, n, k):
    if k == 1:
        return rng.integers(0, 2, size=(n, 1)).astype(DTYPE)
    y = np.zeros((n, k), dtype=DTYPE)
    y[np.arange(n), rng.integers(0, k, size=n)] = 1.0
    return y


# ---------------------------------------------------------------------------
# Linear
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", LINEAR_SIZES, ids=_ids(LINEAR_SIZES))
def test_linear_forward(benchmark, rng, size):
    n, d_in, d_out = size
    x, w, b = _arr(rng, n, d_in), _arr(rng, d_in, d_out), _arr(rng, d_out)
    out = np.empty((n, d_out), DTYPE)
    K.linear_forward(x, w, b, True, out)
    benchmark.extra_info["flops"] = 2.0 * n * d_in * d_out
    benchmark(K.linear_forward, x, w, b, True, out)
    np.testing.assert_allclose(out, x @ w + b, rtol=RTOL, atol=1e-4)


@pytest.mark.parametrize("need_dx", [True, False], ids=["with_dx", "no_dx"])
@pytest.mark.parametrize("size", LINEAR_SIZES, ids=_ids(LINEAR_SIZES))
def test_linear_backward(benchmark, rng, size, need_dx):
    n, d_in, d_out = size
    x, w, dout = _arr(rng, n, d_in), _arr(rng, d_in, d_out), _arr(rng, n, d_out)
    gw, gb, dx = np.empty((d_in, d_out), DTYPE), np.empty(d_out, DTYPE), np.empty((n, d_in), DTYPE)
    K.linear_backward(x, w, dout, True, gw, gb, need_dx, dx)
    benchmark.extra_info["flops"] = 2.0 * n * d_in * d_out * (2 if need_dx else 1)
    benchmark(K.linear_backward, x, w, dout, True, gw, gb, need_dx, dx)
    np.testing.assert_allclose(gw, x.T @ dout, rtol=RTOL, atol=1e-3)
    np.testing.assert_allclose(gb, dout.sum(axis=0), rtol=RTOL, atol=1e-3)
    if need_dx:
        np.testing.assert_allclose(dx, dout @ w.T, rtol=RTOL, atol=1e-3)


# ---------------------------------------------------------------------------
# Activations: forward from the input, backward from the output
# ---------------------------------------------------------------------------

ACTIVATIONS = {
    "relu": (K.relu_forward, K.relu_backward, lambda z: np.maximum(z, 0), lambda o, g: g * (o > 0)),
    "sigmoid": (K.sigmoid_forward, K.sigmoid_backward, lambda z: 1 / (1 + np.exp(-z)),
                lambda o, g: g * o * (1 - o)),
    "tanh": (K.tanh_forward, K.tanh_backward, np.tanh, lambda o, g: g * (1 - o * o)),
    "identity": (K.identity_forward, K.identity_backward, lambda z: z, lambda o, g: g),
    "softmax": (K.softmax_forward, K.softmax_backward,
                lambda z: np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True),
                lambda o, g: o * (g - (g * o).sum(1, keepdims=True))),
}


@pytest.mark.parametrize("size", ACT_SIZES + [(256, 10)], ids=_ids(ACT_SIZES + [(256, 10)]))
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_forward(benchmark, rng, name, size):
    fwd, _, ref, _ = ACTIVATIONS[name]
    x = _arr(rng, *size, low=-3, high=3)
    out = np.empty(size, DTYPE)
    fwd(x, out)
    benchmark(fwd, x, out)
    np.testing.assert_allclose(out, ref(x.astype(np.float64)), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("size", ACT_SIZES + [(256, 10)], ids=_ids(ACT_SIZES + [(256, 10)]))
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_backward(benchmark, rng, name, size):
    fwd, bwd, _, ref = ACTIVATIONS[name]
    out = np.empty(size, DTYPE)
    fwd(_arr(rng, *size, low=-3, high=3), out)
    dout, dx = _arr(rng, *size), np.empty(size, DTYPE)
    bwd(out, dout, dx)
    benchmark(bwd, out, dout, dx)
    np.testing.assert_allclose(dx, ref(out.astype(np.float64), dout.astype(np.float64)), rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------
# Losses: value (forward) and gradient (backward)
# ---------------------------------------------------------------------------

EPS = 1e-7


def _loss_cases():
    # name -> (forward(pred, y), backward(pred, y, dpred), input kind, numpy value)
    return {
        "mse": (lambda p, y: K.mse_forward(p, y), lambda p, y, d: K.mse_backward(p, y, d), "probs",
                lambda p, y: np.mean((p - y) ** 2)),
        "half_mse": (lambda p, y: K.half_mse_forward(p, y), lambda p, y, d: K.half_mse_backward(p, y, d),
                     "probs", lambda p, y: np.mean((p - y) ** 2) / 2),
        "bce": (lambda p, y: K.bce_forward(p, y, EPS), lambda p, y, d: K.bce_backward(p, y, EPS, d), "probs",
                lambda p, y: -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
        "bce_logits": (lambda z, y: K.bce_logits_forward(z, y), lambda p, y, d: K.bce_logits_backward(p, y, d),
                       "logits", lambda z, y: np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))),
        "cross_entropy": (lambda p, y: K.cross_entropy_forward(p, y, EPS),
                          lambda p, y, d: K.cross_entropy_backward(p, y, EPS, d), "probs",
                          lambda p, y: -np.sum(y * np.log(p)) / p.shape[0]),
        "softmax_cross_entropy": (
            lambda z, y: K.softmax_cross_entropy_forward(z, y),
            lambda p, y, d: K.softmax_cross_entropy_backward(p, y, d), "logits",
            lambda z, y: np.sum(y * (np.log(np.exp(z).sum(1, keepdims=True)) - z)) / z.shape[0]),
    }


LOSSES = _loss_cases()


@pytest.mark.parametrize("size", LOSS_SIZES, ids=_ids(LOSS_SIZES))
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_forward(benchmark, rng, name, size):
    fwd, _, kind, ref = LOSSES[name]
    n, k = size
    if name == "softmax_cross_entropy" and k == 1:
        pytest.skip("a softmax over one output is constant")
    pred = _arr(rng, n, k, low=-3, high=3) if kind == "logits" else _probs(rng, n, k)
    y = _targets(rng, n, k)
    fwd(pred, y)
    value = benchmark(fwd, pred, y)
    np.testing.assert_allclose(value, ref(pred.astype(np.float64), y.astype(np.float64)), rtol=1e-5)


@pytest.mark.parametrize("size", LOSS_SIZES, ids=_ids(LOSS_SIZES))
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_backward(benchmark, rng, name, size):
    _, bwd, _, _ = LOSSES[name]
    n, k = size
    if name == "softmax_cross_entropy" and k == 1:
        pytest.skip("a softmax over one output is constant")
    p = _probs(rng, n, k)
    y = _targets(rng, n, k)
    d = np.empty((n, k), DTYPE)
    bwd(p, y, d)
    benchmark(bwd, p, y, d)
    assert np.all(np.isfinite(d))
    if name in ("mse", "half_mse", "bce_logits"):
        scale = {"mse": 2.0, "half_mse": 1.0, "bce_logits": 1.0}[name] / (n * k)
        np.testing.assert_allclose(d, scale * (p - y), rtol=1e-5, atol=1e-8)


# ---------------------------------------------------------------------------
# Optimizer updates on the flat buffer, at the three models' parameter counts
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(PARAM_SIZES))
def test_sgd_update(benchmark, rng, model):
    P = PARAM_SIZES[model]
    params, grads = _arr(rng, P), _arr(rng, P)
    before = params.copy()
    K.sgd_update(params, grads, 0.01)
    np.testing.assert_allclose(params, before - np.float32(0.01) * grads, rtol=1e-6, atol=1e-7)
    benchmark(K.sgd_update, params, grads, 0.01)


@pytest.mark.parametrize("model", list(PARAM_SIZES))
def test_momentum_update(benchmark, rng, model):
    P = PARAM_SIZES[model]
    params, grads, velocity = _arr(rng, P), _arr(rng, P), np.zeros(P, DTYPE)
    before = params.copy()
    K.momentum_update(params, grads, velocity, 0.01, 0.9, True)
    # From zero velocity: v = -lr g, Nesterov step momentum * v - lr g = -1.9 lr g.
    np.testing.assert_allclose(velocity, -0.01 * grads, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(params, before - 1.9 * 0.01 * grads, rtol=1e-5, atol=1e-7)
    benchmark(K.momentum_update, params, grads, velocity, 0.01, 0.9, True)


@pytest.mark.parametrize("model", list(PARAM_SIZES))
def test_adam_update(benchmark, rng, model):
    P = PARAM_SIZES[model]
    params, grads = _arr(rng, P), _arr(rng, P)
    m, v = np.zeros(P, DTYPE), np.zeros(P, DTYPE)
    before = params.copy()
    K.adam_update(params, grads, m, v, 1, 0.001, 0.9, 0.999, 1e-8)
    g = grads.astype(np.float64)
    lr_t = 0.001 * np.sqrt(1 - 0.999) / (1 - 0.9)
    expected = before - lr_t * (0.1 * g) / (np.sqrt(0.001 * g * g) + 1e-8)
    np.testing.assert_allclose(params, expected, rtol=1e-5, atol=1e-7)
    benchmark(K.adam_update, params, grads, m, v, 2, 0.001, 0.9, 0.999, 1e-8)


# ---------------------------------------------------------------------------
# Predict and the full-batch loss and gradient
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["xor", "line", "wide"])
def test_predict(benchmark, workloads, name):
    wl = workloads(name)
    model = wl.model0
    expected = fm.reference.Net.from_model(model).predict(wl.X)
    model.predict(wl.X)
    pairs = list(zip(wl.sizes[:-1], wl.sizes[1:]))
    benchmark.extra_info["flops"] = 2.0 * wl.n * sum(a * b for a, b in pairs)
    out = benchmark(model.predict, wl.X)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["xor", "line", "wide"])
def test_predict_into(benchmark, workloads, name):
    """The kernel alone, without Model.predict's input checks."""
    wl = workloads(name)
    model = wl.model0
    out = np.empty((wl.n, model.n_outputs), DTYPE)
    none = np.zeros(0, dtype=np.int64)   # no sparse input
    args = (model.params, model.layout, wl.X, none, none, np.zeros(0, DTYPE), out, 512)
    K.predict_into(*args)
    benchmark(K.predict_into, *args)
    np.testing.assert_allclose(out, model.predict(wl.X), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["xor", "line"])
def test_loss_and_gradient(benchmark, workloads, name):
    wl = workloads(name)
    model = wl.model0.copy()
    value = model.loss_and_gradient(wl.X, wl.Y, wl.loss)
    got = benchmark(model.loss_and_gradient, wl.X, wl.Y, wl.loss)
    ref_value, _ = fm.reference.Net.from_model(model).gradients(wl.X, wl.Y, wl.loss)
    assert got == value
    np.testing.assert_allclose(got, ref_value, rtol=1e-5)
