"""The learner's tools: formula() evaluates to model.predict; trace() shows the
hand-worked backpropagation example of the tutorial number for number."""

import json
import math

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import explain


# Functions written with Python's math only, independent of fastmlp.
def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


MATH = {"relu": lambda v: max(v, 0.0), "sigmoid": _sigmoid, "tanh": math.tanh, "exp": math.exp}


def evaluate_formula(text, inputs):
    """Run the printed lines 'name = expression' with math; return the namespace."""
    env = dict(MATH)
    env.update(inputs)
    for line in text.splitlines():
        name, expr = line.split(" = ", 1)
        env[name] = eval(expr, {"__builtins__": {}}, env)
    return env


def _outputs(text, env):
    names = [line.split(" = ", 1)[0] for line in text.splitlines()]
    outs = [n for n in names if not n.startswith("z")] or names
    return [env[n] for n in outs]


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "identity"])
@pytest.mark.parametrize("output", ["sigmoid", "identity", "tanh", "relu"])
def test_formula_evaluates_to_predict(activation, output):
    model = fm.MLP([3, 4, 3, 2], activation=activation, output=output, seed=5)
    rng = np.random.default_rng(1)
    model.params[...] = rng.normal(size=model.n_params)          # biases non-zero too
    text = explain.formula(model, precision=None)
    assert text.count("\n") == 1 and text.startswith("y1 = ")
    X = rng.normal(size=(20, 3))
    pred = model.predict(X)
    for row, want in zip(X, pred):
        env = evaluate_formula(text, {"x1": row[0], "x2": row[1], "x3": row[2]})
        assert _outputs(text, env) == pytest.approx(want.tolist(), rel=1e-12, abs=1e-12)


def test_formula_softmax_evaluates_to_predict():
    model = fm.MLP([2, 5, 4], activation="tanh", output="softmax", seed=2)
    text = explain.formula(model, precision=None)
    lines = text.splitlines()
    assert [l.split(" = ")[0] for l in lines] == ["z1", "z2", "z3", "z4", "y1", "y2", "y3", "y4"]
    X = np.random.default_rng(3).normal(size=(10, 2))
    for row, want in zip(X, model.predict(X)):
        env = evaluate_formula(text, {"x1": row[0], "x2": row[1]})
        assert [env[f"y{j}"] for j in range(1, 5)] == pytest.approx(want.tolist(), rel=1e-12)


def _check_names(model, names, output_names, want_inputs, want_outputs, classes=None):
    """The formula keeps the input names, and evaluated with them gives model.predict."""
    rng = np.random.default_rng(7)
    model.params[...] = rng.normal(size=model.n_params)
    text = explain.formula(model, names=names, precision=None, output_names=output_names)
    assigned = [line.split(" = ")[0] for line in text.splitlines()]
    assert assigned[-len(want_outputs):] == want_outputs
    assert not set(assigned) & set(want_inputs)                  # no input is overwritten
    for name in want_inputs:
        assert f"*{name}" in text
    X = rng.normal(size=(10, len(want_inputs)))
    for row, want in zip(X, model.predict(X)):
        env = evaluate_formula(text, dict(zip(want_inputs, row)))
        assert [env[n] for n in want_outputs] == pytest.approx(want.tolist(), rel=1e-12, abs=1e-12)
    return assigned


def test_formula_softmax_logits_do_not_clash_with_inputs():
    model = fm.MLP([2, 3], output="softmax", seed=0)
    assigned = _check_names(model, ["z1", "z2"], None, ["z1", "z2"], ["y1", "y2", "y3"])
    assert assigned[:3] == ["z1_", "z2_", "z3"]
    # Nor with the output names, nor with an input already named like a renamed logit.
    model = fm.MLP([2, 4, 3], activation="tanh", output="softmax", seed=1)
    assigned = _check_names(model, ["z1", "z1_"], ["z2", "y", "z3_"], ["z1", "z1_"], ["z2", "y", "z3_"])
    assert assigned[:3] == ["z1__", "z2_", "z3"]


@pytest.mark.parametrize("output", ["identity", "sigmoid"])
def test_formula_outputs_do_not_clash_with_inputs(output):
    model = fm.MLP([2, 3, 2], activation="identity", output=output, seed=0)
    _check_names(model, ["y1", "y2"], None, ["y1", "y2"], ["y1_", "y2_"])
    model = fm.MLP([2, 3, 2], activation="relu", output=output, seed=0)
    _check_names(model, ["y2", "y1"], None, ["y2", "y1"], ["y1_", "y2_"])
    # One output: "y", or a target name that is also an input's (as written, or once an identifier).
    model = fm.MLP([2, 4, 1], activation="tanh", output=output, seed=3)
    _check_names(model, ["y", "b"], None, ["y", "b"], ["y_"])
    _check_names(model, ["label", "b"], ["label"], ["label", "b"], ["label_"])
    _check_names(model, ["a b", "b"], ["a_b"], ["a_b", "b"], ["a_b_"])
    assert explain.identifiers(["z1", "z2", "a", "a"], taken=["z1", "a_"]) == ["z1_", "z2", "a", "a_2"]


def test_formula_float32_and_rounded():
    model = fm.MLP([2, 8, 1], output="sigmoid", dtype=np.float32, seed=0)
    X, y = fm.datasets.xor()
    fm.Trainer(model, loss="bce", lr=0.5, batch_size=4, epochs=500, seed=0).fit(X, y)
    exact = explain.formula(model, precision=None)
    short = explain.formula(model, precision=3)
    assert len(short) < len(exact)
    for row, want in zip(X, model.predict(X)):
        inputs = {"x1": row[0], "x2": row[1]}
        assert evaluate_formula(exact, inputs)["y"] == pytest.approx(float(want[0]), rel=1e-5)
        assert evaluate_formula(short, inputs)["y"] == pytest.approx(float(want[0]), abs=0.02)


def test_formula_text_exactly():
    model = fm.Model([fm.Linear(2, 2, weight=[[1.2, -0.5], [-0.8, 2.0]], bias=[0.1, -0.25]), fm.ReLU(),
                      fm.Linear(2, 1, weight=[[0.53], [-1.5]], bias=[-0.4]), fm.Sigmoid()])
    assert explain.formula(model) == \
        "y = sigmoid(0.53*relu(1.2*x1 - 0.8*x2 + 0.1) - 1.5*relu(-0.5*x1 + 2*x2 - 0.25) - 0.4)"
    assert explain.formula(model, names=["sepal length", "2nd"], output_names=["class"]) == \
        ("class_ = sigmoid(0.53*relu(1.2*sepal_length - 0.8*_2nd + 0.1) "
         "- 1.5*relu(-0.5*sepal_length + 2*_2nd - 0.25) - 0.4)")
    # A sum feeding a Linear directly is bracketed (the tutorial network has no activations).
    lin = fm.Model([fm.Linear(2, 2, bias=False, weight=[[0.5, 2.3], [1.5, 3.0]]),
                    fm.Linear(2, 1, bias=False, weight=[[1.0], [1.0]])])
    text = explain.formula(lin)
    assert text == "y = 1*(0.5*x1 + 1.5*x2) + 1*(2.3*x1 + 3*x2)"
    assert evaluate_formula(text, {"x1": 1.0, "x2": 0.5})["y"] == pytest.approx(5.05)
    # Exactly-zero biases are left out; a negative single term is bracketed when multiplied.
    neg = fm.Model([fm.Linear(1, 1, weight=[[-0.5]], bias=[0.0]), fm.Linear(1, 1, weight=[[-2.0]], bias=False)])
    assert explain.formula(neg) == "y = -2*(-0.5*x1)"
    assert evaluate_formula(explain.formula(neg), {"x1": 3.0})["y"] == 3.0
    assert explain.functions_used(explain.formula(model)) == [explain.FUNCTION_DEFINITIONS["relu"],
                                                             explain.FUNCTION_DEFINITIONS["sigmoid"]]


def test_formula_rejects_bad_arguments():
    model = fm.MLP([2, 1])
    with pytest.raises(ValueError, match="names has 3 entries"):
        explain.formula(model, names=["a", "b", "c"])
    with pytest.raises(ValueError, match="precision"):
        explain.formula(model, precision=0)
    assert explain.identifiers(["a", "a", "lambda", "relu"]) == ["a", "a_2", "lambda_", "relu_"]


# -- trace: the worked example of the tutorial (seed 001) ---------------------------------

def tutorial_model():
    # w1..w4 = 0.5, 1.5, 2.3, 3 with h1 = w1*x1 + w2*x2, h2 = w3*x1 + w4*x2; w5 = w6 = 1.
    return fm.Model([fm.Linear(2, 2, bias=False, weight=[[0.5, 2.3], [1.5, 3.0]]),
                     fm.Linear(2, 1, bias=False, weight=[[1.0], [1.0]])], dtype=np.float64)


def test_trace_tutorial_numbers():
    model = tutorial_model()
    before = model.params.copy()
    t = fm.trace(model, [1, 0.5], [4], loss="half_mse", lr=0.1)
    assert np.array_equal(model.params, before)                  # the model itself is unchanged
    assert t.layers[0]["output"][0].tolist() == pytest.approx([1.25, 3.8])
    assert t.prediction[0, 0] == pytest.approx(5.05)
    assert t.loss_value == pytest.approx(0.55125)
    assert t.grad_prediction[0, 0] == pytest.approx(1.05)
    w = {k: v for k, v in t.weights.items()}
    assert list(w) == ["w1", "w2", "w3", "w4", "w5", "w6"]
    assert w["w5"]["grad"] == pytest.approx(1.3125)
    assert w["w6"]["grad"] == pytest.approx(3.99)
    assert w["w1"]["grad"] == pytest.approx(1.05)
    expected_after = {"w1": 0.395, "w2": 1.4475, "w3": 2.195, "w4": 2.9475, "w5": 0.86875, "w6": 0.601}
    for key, value in expected_after.items():
        assert w[key]["after"] == pytest.approx(value, abs=1e-12), key
    assert [w[k]["before"] for k in expected_after] == [0.5, 1.5, 2.3, 3.0, 1.0, 1.0]
    # The tutorial's check after the step: y+ = 3.1768, E+ = 0.3388.
    assert t.prediction_after[0, 0] == pytest.approx(3.1768, abs=5e-5)
    assert t.loss_after == pytest.approx(0.3388, abs=5e-5)


def test_trace_text_shows_the_tutorial():
    text = fm.trace(tutorial_model(), [1, 0.5], 4, loss="half_mse", lr=0.1).render()
    for line in ["h1 = w1*x1 + w2*x2 = 0.5*1 + 1.5*0.5 = 1.25",
                 "h2 = w3*x1 + w4*x2 = 2.3*1 + 3*0.5 = 3.8",
                 "y = w5*h1 + w6*h2 = 1*1.25 + 1*3.8 = 5.05",
                 "E = 0.55125",
                 "dE/dy = 1.05",
                 "dE/dw5 = dE/dy * h1 = 1.05*1.25 = 1.3125",
                 "dE/dw6 = dE/dy * h2 = 1.05*3.8 = 3.99",
                 "dE/dw1 = dE/dh1 * x1 = 1.05*1 = 1.05",
                 "w1: 0.5 - 0.1*1.05 = 0.395",
                 "w2: 1.5 - 0.1*0.525 = 1.4475",
                 "w3: 2.3 - 0.1*1.05 = 2.195",
                 "w4: 3 - 0.1*0.525 = 2.9475",
                 "w5: 1 - 0.1*1.3125 = 0.86875",
                 "w6: 1 - 0.1*3.99 = 0.601",
                 "After the step: y = 3.17683, E = 0.338802 (was 0.55125)"]:
        assert line in text, line


def test_trace_agrees_with_the_engine_and_reference():
    """The step traced equals one SGD step of the Trainer, and the gradients
    equal the numpy reference's."""
    model = fm.MLP([3, 4, 2], activation="tanh", output="sigmoid", seed=4)
    x = np.array([[0.3, -1.2, 0.7]])
    y = np.array([[1.0, 0.0]])
    t = fm.trace(model, x, y, loss="bce", lr=0.3)
    stepped = model.copy()
    fm.Trainer(stepped, loss="bce", lr=0.3, batch_size=1, epochs=1, shuffle=False).fit(x, y)
    after = np.concatenate([np.concatenate([r["weight_after"].ravel(), r["bias_after"]])
                            for r in t.layers if "weight" in r])
    np.testing.assert_allclose(after, stepped.params, rtol=1e-12, atol=1e-14)
    ref = fm.reference.Net.from_model(model)
    value, grads = ref.gradients(x, y, "bce")
    assert t.loss_value == pytest.approx(value, rel=1e-12)
    ours = [(r["grad_weight"], r["grad_bias"]) for r in t.layers if "weight" in r]
    flat_ref = np.concatenate([np.ravel(g) for g in grads])
    flat_ours = np.concatenate([np.concatenate([gw.ravel(), gb]) for gw, gb in ours])
    np.testing.assert_allclose(flat_ours, flat_ref, rtol=1e-10, atol=1e-12)
    assert t.loss_after < t.loss_value


def test_trace_softmax_batch_and_json():
    model = fm.MLP([2, 3, 3], activation="relu", output="softmax", seed=0)
    t = fm.trace(model, [[1, 0.5], [0, 1]], [2, 0], lr=0.5)
    assert t.loss == "cross_entropy"
    assert t.target.tolist() == [[0, 0, 1], [1, 0, 0]]
    data = json.loads(json.dumps(t.as_dict()))
    assert data["loss_value"] == pytest.approx(t.loss_value)
    assert len(data["weights"]) == model.n_params
    text = str(t)
    assert "2 samples" in text and "After the step" in text
    assert fm.trace(fm.MLP([2, 1], output="sigmoid"), [0, 1], [1]).loss == "bce"
    assert fm.trace(fm.MLP([2, 1]), [0, 1], [1]).loss == "half_mse"


def test_trace_large_layers_are_summarised():
    model = fm.MLP([20, 30, 1], seed=0)
    text = fm.trace(model, np.ones(20), [1.0]).render()
    assert "W1 (Linear(20, 30)) after the step" in text
    assert "..." in text
    assert len(text.splitlines()) < 80


def test_trace_rejects_bad_input():
    model = tutorial_model()
    with pytest.raises(ValueError, match="x has 3 features, but the model expects 2"):
        fm.trace(model, [1, 2, 3], [4])
    with pytest.raises(ValueError, match="lr"):
        fm.trace(model, [1, 2], [4], lr=-1)
    with pytest.raises(ValueError, match="loss"):
        fm.trace(model, [1, 2], [4], loss="hinge")


def test_trace_refuses_a_probability_loss_on_an_unbounded_output():
    model = fm.MLP([2, 2, 1], output="identity", seed=0)
    with pytest.raises(ValueError, match=r"loss='bce' needs probabilities .* it is Linear\(2, 1\)"):
        fm.trace(model, [1.0, 0.5], [1.0], loss="bce")


@pytest.mark.parametrize("activation, value", [("relu", "0.5"), ("sigmoid", "0.622459"), ("tanh", "0.462117"),
                                               ("identity", "0.5"), ("exp", "1.64872")])
def test_trace_text_writes_each_activation_by_its_name(activation, value):
    layer = fm.layers.ACTIVATIONS[activation]()
    t = fm.trace(fm.Model([fm.Linear(1, 1, weight=[[1.0]], bias=False), layer]), [0.5], [1.0], loss="mse")
    lines = t.render(6).splitlines()
    assert f"    y = {activation}(z) = {activation}(0.5) = {value}" in lines
    assert any(line.startswith(f"    dE/dz = dE/dy * {activation}'(z) = ") for line in lines)
    assert [type(layer) for layer in t.model_after.layers] == [fm.Linear, type(layer)]
