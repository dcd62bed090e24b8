"""Model, layers, initialisers and datasets through the public API."""

import pickle

import numpy as np
import pytest

import fastmlp as fm


def test_weights_are_views_into_the_flat_buffer():
    model = fm.MLP([3, 4, 2], seed=0)
    lin = model.layers[0]
    assert np.shares_memory(lin.weight, model.params) and np.shares_memory(lin.grad_weight, model.grads)
    assert lin.weight.shape == (3, 4) and lin.bias.shape == (4,)
    model.params[:] = np.arange(model.n_params)
    assert lin.weight[0, 1] == 1 and lin.bias[0] == 12 and model.layers[2].weight[0, 0] == 16
    lin.weight = np.ones((3, 4))
    assert np.all(model.params[:12] == 1)
    with pytest.raises(ValueError, match="shape"):
        lin.weight = np.ones((4, 3))


def test_explicit_initial_values_are_used_exactly():
    w = np.array([[0.5, 2.3], [1.5, 3.0]])
    model = fm.Model([fm.Linear(2, 2, bias=False, weight=w)], dtype=np.float32)
    assert model.layers[0].bias is None and model.n_params == 4
    assert np.array_equal(model.layers[0].weight, w.astype(np.float32))
    out = model.forward(np.array([[1.0, 0.5]]))
    np.testing.assert_allclose(out, [[1.25, 3.8]], rtol=1e-6)


def test_mlp_structure():
    model = fm.MLP([2, 8, 8, 1], activation="tanh", output="sigmoid", dtype=np.float32, seed=0)
    assert [type(l).__name__ for l in model.layers] == ["Linear", "Tanh", "Linear", "Tanh", "Linear", "Sigmoid"]
    assert model.sizes == [2, 8, 8, 1] and model.n_features_in == 2 and model.n_outputs == 1
    assert model.n_params == 2 * 8 + 8 + 8 * 8 + 8 + 8 + 1
    assert model.params.dtype == np.float32
    assert "Linear(2, 8)" in repr(model) and "105 parameters" in model.summary()


def test_same_seed_same_weights_different_seed_different():
    a, b, c = (fm.MLP([4, 16, 3], seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.params, b.params) and not np.array_equal(a.params, c.params)


@pytest.mark.parametrize("init,check", [
    ("xavier", lambda w, b: np.abs(w).max() <= np.sqrt(6 / (200 + 300)) and np.all(b == 0)),
    ("he", lambda w, b: abs(w.std() - np.sqrt(2 / 200)) < 0.005 and np.all(b == 0)),
    ("zeros", lambda w, b: np.all(w == 0) and np.all(b == 0)),
])
def test_initialisers(init, check):
    model = fm.Model([fm.Linear(200, 300)], seed=0, init=init)
    assert check(model.layers[0].weight, model.layers[0].bias)


def test_normal_and_uniform_initialisers_with_arguments():
    m = fm.Model([fm.Linear(300, 300)], seed=0, init=fm.init.get("normal", std=0.1))
    assert abs(m.layers[0].weight.std() - 0.1) < 0.002 and abs(m.layers[0].bias.std() - 0.1) < 0.02
    m = fm.Model([fm.Linear(300, 300)], seed=0, init=fm.init.Uniform(-0.2, 0.3))
    w = m.layers[0].weight
    assert w.min() >= -0.2 and w.max() <= 0.3 and abs(w.mean() - 0.05) < 0.005
    # Xavier's options: the bound sqrt(factor / (d_in + d_out)), and biases from the same range.
    m = fm.Model([fm.Linear(200, 300)], seed=0, init=fm.init.Xavier(factor=2.0, uniform_bias=True))
    w, b, bound = m.layers[0].weight, m.layers[0].bias, np.sqrt(2.0 / 500)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert np.abs(b).max() <= bound and abs(b.std() - bound / np.sqrt(3)) < 0.1 * bound
    # A per-layer init overrides the model's.
    m = fm.Model([fm.Linear(2, 3, init="zeros"), fm.ReLU(), fm.Linear(3, 1)], seed=0)
    assert np.all(m.layers[0].weight == 0) and np.any(m.layers[2].weight != 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_equals_forward_across_blocks(dtype):
    rng = np.random.default_rng(0)
    model = fm.MLP([5, 7, 3], activation="sigmoid", output="softmax", dtype=dtype, seed=0)
    X = rng.normal(size=(1300, 5))  # more rows than one inference block
    p = model.predict(X)
    assert p.dtype == dtype and p.shape == (1300, 3)
    np.testing.assert_allclose(p, model.forward(X), rtol=1e-6 if dtype == np.float32 else 1e-14)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(p, fm.reference.Net.from_model(model).predict(X), rtol=1e-5, atol=1e-6)


def test_backward_fills_gradients_like_loss_and_gradient():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(9, 3)), rng.normal(size=(9, 2))
    model = fm.MLP([3, 5, 2], activation="tanh", seed=0)
    loss = fm.get_loss("half_mse")
    value = model.loss_and_gradient(X, y, "half_mse")
    fused = model.grads.copy()
    out = model.forward(X)
    dX = model.backward(loss.backward(out, y))
    assert value == pytest.approx(loss.forward(out, y), rel=1e-14)
    np.testing.assert_allclose(model.grads, fused, rtol=1e-13, atol=1e-15)
    assert dX.shape == X.shape
    _, ref_grads = fm.reference.Net.from_model(model).gradients(X, y, "half_mse")
    np.testing.assert_allclose(model.grads, np.concatenate([g.ravel() for g in ref_grads]), rtol=1e-12)


def test_copy_and_pickle_are_independent_and_identical():
    model = fm.MLP([2, 4, 1], output="sigmoid", seed=0)
    X = np.random.default_rng(0).normal(size=(5, 2))
    for clone in (model.copy(), pickle.loads(pickle.dumps(model))):
        assert np.array_equal(clone.predict(X), model.predict(X))
        clone.layers[0].weight[0, 0] += 1.0
        assert clone.params[0] != model.params[0]
        assert np.shares_memory(clone.layers[0].weight, clone.params)


def test_datasets():
    X, y = fm.datasets.xor()
    assert X.dtype == np.float64 and X.shape == (4, 2) and y.ravel().tolist() == [0, 1, 1, 0]
    X, y = fm.datasets.line(n=500, seed=2)
    assert X.shape == (500, 2) and np.all(np.abs(X) <= 1)
    assert np.array_equal(y.ravel(), (X[:, 1] > X[:, 0]).astype(float))
    assert np.array_equal(fm.datasets.line(n=500, seed=2)[0], X)
    assert not np.array_equal(fm.datasets.line(n=500, seed=3)[0], X)
    X, y = fm.datasets.celsius(n=10)
    np.testing.assert_allclose(y, (X - 32) * 5 / 9)
    assert np.array_equal(fm.datasets.get("line", n=5, seed=3)[0], fm.datasets.line(n=5, seed=3)[0])


def test_load_csv_and_npy(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,label\n1,2,0\n3,4.5,1\n")
    X, y, names = fm.datasets.load(p)
    assert names == ["a", "b"] and X.tolist() == [[1, 2], [3, 4.5]] and y.ravel().tolist() == [0, 1]
    X, y, names = fm.datasets.load(p, target="a")
    assert names == ["b", "label"] and y.ravel().tolist() == [1, 3]
    np.save(tmp_path / "d.npy", np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]]))
    X, y, names = fm.datasets.load(tmp_path / "d.npy", target=0)
    assert X.tolist() == [[2, 0], [4, 1]] and names == ["x2", "x3"]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,x\n")
    with pytest.raises(ValueError, match=r"non-numeric value 'x' in row 2, column 'b'"):
        fm.datasets.load(bad)
    with pytest.raises(ValueError, match="no column named 'zz'"):
        fm.datasets.load(p, target="zz")


def test_unpickling_read_only_buffers_gives_a_trainable_model():
    """joblib hands back read-only memory maps; the model must copy them."""
    model = fm.MLP([2, 3, 1], seed=0)
    state = model.__getstate__()
    state["params"] = state["params"].copy()
    state["params"].flags.writeable = False
    clone = fm.Model.__new__(fm.Model)
    clone.__setstate__(state)
    assert clone.params.flags.writeable and np.shares_memory(clone.layers[0].weight, clone.params)
    X, y = fm.datasets.xor()
    fm.Trainer(clone, loss="mse", lr=0.1, batch_size=4, epochs=2).fit(X, y)
    assert not np.array_equal(clone.params, model.params)


def test_a_layer_used_on_its_own_checks_its_input():
    """Layer.forward is public: a wrong width must be refused, not read past
    the weights (the kernel takes its sizes from the arrays it is given)."""
    model = fm.MLP([2, 3], seed=0)
    lin = model.layers[0]
    with pytest.raises(ValueError, match=r"x has 10 features, but Linear\(2, 3\) expects 2"):
        lin.forward(np.arange(20.0).reshape(2, 10))
    with pytest.raises(ValueError, match=r"x has 1 feature, but Linear\(4, 3\) expects 4"):
        fm.MLP([4, 3]).layers[0].forward(np.ones((2, 1)))
    with pytest.raises(ValueError, match="Expected a 2-D array for x"):
        fm.ReLU().forward(np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="x contains 1 NaN or infinite value"):
        lin.forward([[np.nan, 1.0]])
    out = lin.forward([[1.0, 2.0]])
    np.testing.assert_array_equal(out, model.predict([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"dout has shape \(1, 2\), but Linear\(2, 3\)'s last output has shape"):
        lin.backward(np.ones((1, 2)))
    relu = fm.ReLU()
    np.testing.assert_array_equal(relu.forward([[1, -2]]), [[1.0, 0.0]])
    with pytest.raises(ValueError, match="dout contains 1 NaN"):
        relu.backward([[np.inf, 1.0]])


def test_a_layer_belongs_to_one_model():
    """Parameters are views into the model's buffer: a layer shared by two
    models would make each compute with the other's weights."""
    layers = [fm.Linear(2, 8), fm.ReLU(), fm.Linear(8, 1), fm.Sigmoid()]
    first = fm.Model(layers, seed=0)
    before = first.params.copy()
    with pytest.raises(ValueError, match=r"layers\[0\] \(Linear\(2, 8\)\) already belongs to another Model"):
        fm.Model(layers, seed=1)
    np.testing.assert_array_equal(first.params, before)
    assert all(layer.model is first for layer in first.layers)
    del first
    import gc
    gc.collect()
    second = fm.Model(layers, seed=1)  # free again once the first model is gone
    assert second.layers[0].weight.base is not None
    copied = pickle.loads(pickle.dumps(second.layers[0]))
    assert copied.model is None
    np.testing.assert_array_equal(copied.weight, second.layers[0].weight)


def test_layers_name_their_activation_as_mlp_takes_it():
    from fastmlp.layers import ACTIVATIONS, HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
    assert {name: cls.__name__ for name, cls in ACTIVATIONS.items()} == {
        "relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "identity": "Identity", "softmax": "Softmax",
        "exp": "Exp"}
    assert fm.Linear(2, 1).activation is None
    assert set(HIDDEN_ACTIVATIONS) < set(OUTPUT_ACTIVATIONS) == set(ACTIVATIONS)
    for name in OUTPUT_ACTIVATIONS:
        model = fm.MLP([2, 3, 2], output=name)
        expected = [None, "relu", None] + ([] if name == "identity" else [name])
        assert [layer.activation for layer in model.layers] == expected


def test_bind_makes_a_layer_part_of_a_model():
    model = fm.MLP([2, 3, 1], seed=0)
    other = fm.Model([fm.Linear(2, 3, weight=np.full((2, 3), 0.5), bias=[1.0, 2.0, 3.0])])
    lin = model.layers[0]
    assert lin.model is model and model.layers[1].model is model
    # The second model's buffers, from its own layout: the layer now reads and writes them.
    lin.bind(other, 0, 6)
    assert lin.model is other
    np.testing.assert_array_equal(lin.weight, np.full((2, 3), 0.5))
    np.testing.assert_array_equal(lin.bias, [1.0, 2.0, 3.0])
    lin.weight = np.zeros((2, 3))
    np.testing.assert_array_equal(other.params[:6], np.zeros(6))


def test_initialise_uses_the_given_values_else_the_initialiser():
    model = fm.Model([fm.Linear(2, 2, weight=[[1.0, 2.0], [3.0, 4.0]], bias=[5.0, 6.0]), fm.Linear(2, 1)],
                     init="zeros")
    first, second = model.layers
    model.params[...] = 9.0
    first.initialise(np.random.default_rng(0), "zeros")
    second.initialise(np.random.default_rng(0), "zeros")
    np.testing.assert_array_equal(model.params, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0, 0.0])
    fm.ReLU().initialise(np.random.default_rng(0), "zeros")      # no parameters: nothing to do


def test_forward_unchecked_is_forward_without_the_checks():
    model = fm.MLP([2, 3, 1], activation="tanh", output="sigmoid", seed=0)
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    out = checked = x
    for layer in model.layers:
        checked = layer.forward(checked.tolist())            # lists: checked and converted
        out = layer.forward_unchecked(out)
        np.testing.assert_array_equal(out, checked)
    np.testing.assert_allclose(out, model.predict(x), rtol=1e-12)
    dout = np.ones_like(out)
    for layer in reversed(model.layers):
        dout = layer.backward_unchecked(dout)
    model.forward(x)
    np.testing.assert_array_equal(dout, model.backward(np.ones_like(out)))
