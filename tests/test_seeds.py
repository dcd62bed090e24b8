"""The hand-worked examples of the tutorials in ../shared/seeds/, reproduced
number for number through the public API."""

import numpy as np
import pytest

import fastmlp as fm


def seed001_model():
    # h1 = w1*x1 + w2*x2, h2 = w3*x1 + w4*x2, y = w5*h1 + w6*h2 (no biases, no activations).
    return fm.Model([fm.Linear(2, 2, bias=False, weight=np.array([[0.5, 2.3], [1.5, 3.0]])),
                     fm.Linear(2, 1, bias=False, weight=np.array([[1.0], [1.0]]))], dtype=np.float64)


def test_seed001_forward_and_one_step():
    """001: 2-2-1 linear network, x = (1, 0.5), t = 4, half_mse, lr 0.1."""
    model = seed001_model()
    x, t = np.array([[1.0, 0.5]]), np.array([[4.0]])
    out = model.forward(x)
    loss = fm.get_loss("half_mse")
    np.testing.assert_allclose(model.layers[0]._x @ model.layers[0].weight, [[1.25, 3.8]], rtol=1e-15)
    assert out[0, 0] == pytest.approx(5.05, abs=1e-12)
    assert loss.forward(out, t) == pytest.approx(0.55125, abs=1e-12)
    model.backward(loss.backward(out, t))
    np.testing.assert_allclose(model.layers[1].grad_weight.ravel(), [1.3125, 3.99], rtol=1e-12)

    fm.Trainer(model, loss="half_mse", lr=0.1, batch_size=1, epochs=1).fit(x, t)
    w1, w2 = model.layers[0].weight, model.layers[1].weight
    # w1..w4 in the tutorial's numbering: W1[0,0], W1[1,0], W1[0,1], W1[1,1].
    np.testing.assert_allclose([w1[0, 0], w1[1, 0], w1[0, 1], w1[1, 1]], [0.395, 1.4475, 2.195, 2.9475], rtol=1e-12)
    np.testing.assert_allclose(w2.ravel(), [0.86875, 0.601], rtol=1e-12)
    y_new = model.predict(x)
    assert y_new[0, 0] == pytest.approx(3.1768, abs=5e-5)
    assert loss.forward(y_new, t) == pytest.approx(0.3388, abs=5e-5)


def test_seed003_relu_network_one_step():
    """003: x = (0.9, 1.0), target 2.0, ReLU hidden, identity output."""
    # W1 rows per hidden neuron (0.2, 0.3) and (0.4, 0.5): in (in, out) layout the columns.
    model = fm.Model([fm.Linear(2, 2, weight=np.array([[0.2, 0.4], [0.3, 0.5]]), bias=[0.1, 0.2]),
                      fm.ReLU(),
                      fm.Linear(2, 1, weight=np.array([[0.5], [0.6]]), bias=[0.4])], dtype=np.float64)
    x, t = np.array([[0.9, 1.0]]), np.array([[2.0]])
    assert model.predict(x)[0, 0] == pytest.approx(1.326, abs=1e-12)
    fm.Trainer(model, loss="half_mse", lr=0.1, batch_size=1, epochs=1).fit(x, t)
    after = model.predict(x)[0, 0]
    # Exact arithmetic: dE/dy = -0.674, and the step by hand gives 1.61915; the article's
    # 1.618296 comes from rounded hand steps.
    exact = exact_seed003()
    assert exact == pytest.approx(1.61915, abs=5e-6)
    assert after == pytest.approx(exact, abs=1e-9)
    assert after == pytest.approx(1.618296, abs=1e-3)


def exact_seed003():
    """The seed-003 step computed by hand with Python floats."""
    x1, x2, t, lr = 0.9, 1.0, 2.0, 0.1
    w = [[0.2, 0.3], [0.4, 0.5]]
    b1 = [0.1, 0.2]
    v = [0.5, 0.6]
    b2 = 0.4
    z = [w[j][0] * x1 + w[j][1] * x2 + b1[j] for j in range(2)]
    a = [max(zj, 0.0) for zj in z]
    y = v[0] * a[0] + v[1] * a[1] + b2
    g = y - t
    gv = [g * a[j] for j in range(2)]
    gz = [g * v[j] * (1.0 if z[j] > 0 else 0.0) for j in range(2)]
    w = [[w[j][0] - lr * gz[j] * x1, w[j][1] - lr * gz[j] * x2] for j in range(2)]
    b1 = [b1[j] - lr * gz[j] for j in range(2)]
    v = [v[j] - lr * gv[j] for j in range(2)]
    b2 = b2 - lr * g
    z = [w[j][0] * x1 + w[j][1] * x2 + b1[j] for j in range(2)]
    return v[0] * max(z[0], 0.0) + v[1] * max(z[1], 0.0) + b2


def test_seed004_sigmoid_mse_gradients():
    """004: Linear -> Sigmoid -> mse (mean over the 2 samples); printed gradients."""
    X = np.array([[-1.0, -2.0], [-1.0, -2.0]])
    y = np.array([[1.0], [2.0]])
    model = fm.Model([fm.Linear(2, 1, weight=np.array([[2.0], [3.0]]), bias=[-3.0]), fm.Sigmoid()],
                     dtype=np.float64)
    loss = fm.get_loss("mse")
    out = model.forward(X)
    dX = model.backward(loss.backward(out, y))
    lin = model.layers[0]
    printed_dX = [[-3.34017280e-05, -5.01025919e-05], [-6.68040138e-05, -1.00206021e-04]]
    printed_dW = [[5.01028709e-05], [1.00205742e-04]]
    printed_db = [-5.01028709e-05]
    # The article prints 9 significant digits: agree to that precision ...
    np.testing.assert_allclose(dX, printed_dX, rtol=2e-8)
    np.testing.assert_allclose(lin.grad_weight, printed_dW, rtol=2e-8)
    np.testing.assert_allclose(lin.grad_bias, printed_db, rtol=2e-8)
    # ... and to 1e-10 relative with the exact closed form.
    s = 1.0 / (1.0 + np.exp(11.0))
    g = np.array([[-(1.0 - s)], [-(2.0 - s)]]) * s * (1 - s)  # 2/m * (a - y) with m = 2, times sigmoid'
    np.testing.assert_allclose(dX, g @ np.array([[2.0, 3.0]]), rtol=1e-10)
    np.testing.assert_allclose(lin.grad_weight, X.T @ g, rtol=1e-10)
    np.testing.assert_allclose(lin.grad_bias, g.sum(axis=0), rtol=1e-10)


def test_seed000_celsius_linear_regression():
    """000: a 1-1 linear model learns Celsius = 5/9 * F - 160/9."""
    X, y = fm.datasets.celsius()
    model = fm.Model([fm.Linear(1, 1)], dtype=np.float64, seed=0)
    history = fm.Trainer(model, loss="mse", lr=0.1, batch_size=32, epochs=300, seed=0).fit(X, y)
    assert history.loss[-1] < 1e-8
    assert model.layers[0].weight[0, 0] == pytest.approx(5 / 9, abs=1e-3)
    assert model.layers[0].bias[0] == pytest.approx(-160 / 9, abs=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_seed000_line_classifier(dtype):
    """000: points above the line y = x; at least 98% accuracy on a fresh sample."""
    X, y = fm.datasets.line()
    model = fm.MLP([2, 8, 1], activation="relu", output="sigmoid", dtype=dtype, seed=0)
    fm.Trainer(model, loss="bce", lr=0.5, batch_size=32, epochs=100, seed=0).fit(X, y)
    X1, y1 = fm.datasets.line(seed=1)
    accuracy = np.mean((model.predict(X1) > 0.5) == (y1 > 0.5))
    assert accuracy >= 0.98


def test_seed002_xor_2_3_1_relu_stops_at_target_loss():
    """002: XOR, 2-3-1 ReLU, half_mse, full batch, lr 0.01, normal(0, 0.1) init,
    stop when the loss drops below 0.001 (the tutorial needed 3,315 iterations
    with a summed gradient; the mean gradient here needs more)."""
    X, y = fm.datasets.xor()
    model = fm.Model([fm.Linear(2, 3), fm.ReLU(), fm.Linear(3, 1)], dtype=np.float64, seed=0,
                     init=fm.init.Normal(std=0.1))
    history = fm.Trainer(model, loss="half_mse", lr=0.01, batch_size=4, epochs=50_000,
                         target_loss=0.001).fit(X, y)
    assert history.stop_reason == "target_loss"
    assert history.loss[-1] < 0.001 <= history.loss[-2]
    assert np.array_equal((model.predict(X) > 0.5).astype(int), y.astype(int))


@pytest.mark.parametrize("seed", range(5))
def test_seed002_xor_2_8_1_fused_engine_every_seed(seed):
    """He initialisation (suited to ReLU) solves XOR for every one of these seeds."""
    X, y = fm.datasets.xor()
    model = fm.MLP([2, 8, 1], activation="relu", output="sigmoid", dtype=np.float32, seed=seed, init="he")
    fm.Trainer(model, loss="mse", lr=0.5, batch_size=4, epochs=10_000, seed=seed).fit(X, y)
    assert np.array_equal((model.predict(X) > 0.5).astype(int), y.astype(int))


def test_xor_2_8_1_default_init_success_rate():
    """With the default Xavier init, 19 of seeds 0..19 solve XOR; seed 1 ends
    in the classic local minimum (loss 0.125, one point wrong). Measured, not hoped."""
    X, y = fm.datasets.xor()
    solved = []
    for seed in range(20):
        model = fm.MLP([2, 8, 1], activation="relu", output="sigmoid", dtype=np.float32, seed=seed)
        fm.Trainer(model, loss="mse", lr=0.5, batch_size=4, epochs=10_000, seed=seed).fit(X, y)
        solved.append(np.array_equal((model.predict(X) > 0.5).astype(int), y.astype(int)))
    assert sum(solved) >= 18
