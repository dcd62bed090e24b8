"""ONNX export (fastmlp.to_onnx, estimator.to_onnx, `fastmlp export`, the
skl2onnx converters): every graph passes onnx.checker and, run by
onnxruntime, gives model.predict to 1e-5 (float32) / 1e-12 (float64) and
the very same labels."""

import doctest
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastmlp as fm
from fastmlp import cli, export, modelfile
from fastmlp.validation import MissingDependency

TOL = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]
ACTIVATIONS = ["relu", "sigmoid", "tanh", "identity"]
OUTPUTS = ["identity", "sigmoid", "softmax", "relu", "tanh"]


def session(onx):
    data = onx if isinstance(onx, (str, os.PathLike)) else onx.SerializeToString()
    return ort.InferenceSession(os.fspath(data) if not isinstance(data, bytes) else data,
                                providers=["CPUExecutionProvider"])


def run(onx, X):
    """{output name: array} of the graph on X."""
    s = session(onx)
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, {"X": X})))


def assert_close(got, want, dtype):
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


def data(n=64, d=3, seed=0, scale=2.0):
    return np.random.default_rng(seed).normal(size=(n, d)) * scale


def meta(onx):
    return {p.key: p.value for p in onx.metadata_props}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# -- fastmlp.Model ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_model_outputs_equal_predict(activation, output, dtype):
    model = fm.MLP([3, 7, 5, 4], activation=activation, output=output, dtype=dtype, seed=1)
    X = data().astype(dtype)
    onx = fm.to_onnx(model)
    onnx.checker.check_model(onx, full_check=True)
    got = run(onx, X)
    assert list(got) == ["variable"]
    assert_close(got["variable"], model.predict(X), dtype)
    ops = [n.op_type for n in onx.graph.node]
    layer_ops = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "identity": "Identity",
                 "softmax": "Softmax"}
    assert ops.count("MatMul") == 3 and ops.count("Add") == 3
    assert ops.count(layer_ops[activation]) >= 2
    if output != "identity":
        assert layer_ops[output] in ops


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_every_layer_kind_by_hand_including_no_bias_and_identity(dtype):
    layers = [fm.Linear(4, 6), fm.Tanh(), fm.Linear(6, 5, bias=False), fm.ReLU(), fm.Linear(5, 5),
              fm.Sigmoid(), fm.Linear(5, 3), fm.Identity(), fm.Linear(3, 3, bias=False), fm.Softmax()]
    model = fm.Model(layers, dtype=dtype, seed=3)
    X = data(d=4, seed=1).astype(dtype)
    onx = fm.to_onnx(model)
    assert [n.op_type for n in onx.graph.node] == [
        "MatMul", "Add", "Tanh", "MatMul", "Relu", "MatMul", "Add", "Sigmoid", "MatMul", "Add", "Identity",
        "MatMul", "Softmax", "Identity"]
    assert_close(run(onx, X)["variable"], model.predict(X), dtype)
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in onx.graph.initializer}
    assert all(w.dtype == np.dtype(dtype) for w in weights.values())
    np.testing.assert_array_equal(weights["weight"], layers[0].weight)
    np.testing.assert_array_equal(weights["bias"], layers[0].bias)


def test_a_single_linear_layer():
    model = fm.Model([fm.Linear(2, 1, weight=[[0.5], [-2.0]], bias=[0.25])])
    out = run(fm.to_onnx(model), np.array([[1.0, 1.0], [2.0, 0.0]]))["variable"]
    np.testing.assert_array_equal(out, [[-1.25], [1.25]])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_model_with_classes_outputs_labels_and_probabilities(dtype):
    model = fm.MLP([3, 6, 3], activation="tanh", output="softmax", dtype=dtype, seed=2)
    X = data(seed=2).astype(dtype)
    got = run(fm.to_onnx(model, classes=["cat", "dog", "owl"]), X)
    p = model.predict(X)
    assert list(got) == ["label", "probabilities"]
    assert_close(got["probabilities"], p, dtype)
    want = np.array(["cat", "dog", "owl"])[p.argmax(axis=1)]
    assert got["label"].tolist() == want.tolist()
    assert len(set(want)) == 3                      # the data reach every class

    binary = fm.MLP([3, 6, 1], output="sigmoid", dtype=dtype, seed=4)
    got = run(fm.to_onnx(binary, classes=[-1, 7]), X)
    p = binary.predict(X)[:, 0]
    assert_close(got["probabilities"], np.column_stack([1 - p, p]), dtype)
    assert got["label"].dtype == np.int64
    assert got["label"].tolist() == np.where(p > 0.5, 7, -1).tolist()
    assert len(set(got["label"].tolist())) == 2


def test_metadata_and_checker():
    model = fm.MLP([2, 4, 3], output="softmax", dtype=np.float32, seed=0)
    onx = fm.to_onnx(model, classes=[10, 20, 30], feature_names=["height", "weight"])
    onnx.checker.check_model(onx, full_check=True)
    m = meta(onx)
    assert m["fastmlp_version"] == fm.__version__
    assert m["dtype"] == "float32" and m["task"] == "multiclass"
    assert json.loads(m["input_names"]) == ["X"]
    assert json.loads(m["output_names"]) == ["label", "probabilities"]
    assert json.loads(m["feature_names"]) == ["height", "weight"]
    assert json.loads(m["classes"]) == [10, 20, 30]
    assert onx.producer_name == "fastmlp" and onx.producer_version == fm.__version__
    assert [i.name for i in onx.graph.input] == ["X"]
    assert onx.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert "height, weight" in onx.graph.input[0].doc_string
    assert export.describe(onx.graph.input) == ["X float32 (N, 2)"]
    assert export.describe(onx.graph.output) == ["label int64 (N,)", "probabilities float32 (N, 3)"]
    assert json.loads(meta(fm.to_onnx(fm.MLP([3, 1], seed=0)))["feature_names"]) == ["x1", "x2", "x3"]


def test_opsets():
    model = fm.MLP([2, 3, 2], output="softmax", seed=0)
    X = data(d=2)
    assert fm.to_onnx(model).opset_import[0].version == export.DEFAULT_OPSET == 17
    for opset in (13, onnx.defs.onnx_opset_version()):
        onx = fm.to_onnx(model, opset=opset)
        assert onx.opset_import[0].version == opset
        assert onx.ir_version == onnx.helper.find_min_ir_version_for(onx.opset_import)
        onnx.checker.check_model(onx, full_check=True)
        assert_close(run(onx, X)["variable"], model.predict(X), np.float64)


def test_written_to_a_file(tmp_path):
    model = fm.MLP([2, 5, 1], output="sigmoid", dtype=np.float32, seed=0)
    path = tmp_path / "model.onnx"
    returned = fm.to_onnx(model, path)
    assert onnx.load(str(path)) == returned
    X = data(d=2).astype(np.float32)
    assert_close(run(str(path), X)["variable"], model.predict(X), np.float32)


def test_a_layer_kind_without_an_op_is_refused(monkeypatch):
    monkeypatch.delitem(export.LAYER_OPS, "Tanh")
    with pytest.raises(ValueError, match="no op for the layer kind 'Tanh'; exportable kinds are Linear, ReLU"):
        fm.to_onnx(fm.MLP([2, 3, 1], activation="tanh"))


def test_without_onnx_installed_the_error_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)          # `import onnx` now raises ImportError
    with pytest.raises(MissingDependency, match=r"pip install 'fastmlp\[onnx\]'"):
        fm.to_onnx(fm.MLP([2, 1]))
    path = tmp_path / "m.npz"
    fm.MLP([2, 1]).save(path)
    code = cli.main(["export", str(path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("fastmlp: error: ONNX export needs the onnx package")
    assert "pip install 'fastmlp[onnx]'" in err
    assert not (tmp_path / "m.onnx").exists()


def test_importing_fastmlp_imports_neither_onnx_nor_dask():
    code = ("import sys, fastmlp, fastmlp.estimators, fastmlp.export\n"
            "bad = [m for m in ('onnx', 'onnxruntime', 'skl2onnx', 'dask', 'distributed') if m in sys.modules]\n"
            "assert not bad, bad\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_docstring_examples():
    result = doctest.testmod(export)
    assert result.attempted >= 3 and result.failed == 0


# -- estimators ------------------------------------------------------------------------------

def _labels(kind, n, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "binary-int":
        return rng.integers(0, 2, n) * 5 - 2                       # -2 / 3
    if kind == "binary-str":
        return np.array(["no", "yes"])[rng.integers(0, 2, n)]
    if kind == "binary-bool":
        return rng.integers(0, 2, n).astype(bool)
    if kind == "multiclass-str":
        return np.array(["ant", "bee", "cat", "dog"], dtype=object)[rng.integers(0, 4, n)]
    if kind == "multiclass-float":
        return rng.integers(0, 3, n).astype(float) + 1.0
    if kind == "multilabel":
        return (rng.random((n, 3)) > 0.5).astype(int)
    raise AssertionError(kind)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("kind", ["binary-int", "binary-str", "binary-bool", "multiclass-str", "multiclass-float",
                                  "multilabel"])
def test_classifier_labels_identical_and_probabilities_equal(kind, dtype):
    X = data(n=120, d=4, seed=5)
    y = _labels(kind, 120)
    # Labels that follow X, so the network's predictions spread over the classes.
    clf = fm.MLPClassifier((12,), activation="tanh", solver="lbfgs", max_iter=50, random_state=0, dtype=dtype)
    clf.fit(X, y)
    onx = clf.to_onnx()
    onnx.checker.check_model(onx, full_check=True)
    got = run(onx, X.astype(dtype))
    assert list(got) == ["label", "probabilities"]
    assert_close(got["probabilities"], clf.predict_proba(X), dtype)
    want = clf.predict(X)
    assert got["label"].shape == want.shape
    assert got["label"].tolist() == want.tolist()
    assert len(np.unique(want, axis=0)) > 1
    assert json.loads(meta(onx)["classes"]) == clf.classes_.tolist()


def test_classifier_trained_on_one_class_predicts_it():
    X = data(n=20, d=2)
    clf = fm.MLPClassifier((3,), max_iter=5, random_state=0).fit(X, ["only"] * 20)
    got = run(clf.to_onnx(), X)
    assert got["label"].tolist() == clf.predict(X).tolist() == ["only"] * 20
    assert_close(got["probabilities"], clf.predict_proba(X), np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("outputs", [1, 3])
def test_regressor_outputs_equal_predict(outputs, dtype):
    X = data(n=100, d=4, seed=6)
    Y = X @ np.random.default_rng(0).normal(size=(4, outputs)) + np.sin(X[:, :1])
    reg = fm.MLPRegressor(hidden_layer_sizes=(10, 6), activation="relu", solver="lbfgs", max_iter=50,
                          random_state=0, dtype=dtype).fit(X, Y.ravel() if outputs == 1 else Y)
    onx = fm.to_onnx(reg)
    got = run(onx, X.astype(dtype))["variable"]
    assert got.shape == (100, outputs)
    assert_close(got.ravel() if outputs == 1 else got, reg.predict(X), dtype)
    assert meta(onx)["task"] == "regression" and "classes" not in meta(onx)


def test_estimator_feature_names_and_assigned_weights_are_exported(tmp_path):
    import pandas as pd
    X = pd.DataFrame(data(n=50, d=2), columns=["age", "income"])
    reg = fm.MLPRegressor(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X, X["age"] * 2)
    reg.coefs_[1] = np.full((4, 1), 0.5)                     # assigned arrays reach the export
    path = tmp_path / "reg.onnx"
    reg.to_onnx(path, opset=15)
    onx = onnx.load(str(path))
    assert json.loads(meta(onx)["feature_names"]) == ["age", "income"]
    assert onx.opset_import[0].version == 15
    got = run(onx, X.to_numpy())["variable"].ravel()
    assert_close(got, reg.predict(X), np.float64)
    np.testing.assert_array_equal(reg.model_.layers[2].weight, np.full((4, 1), 0.5))


def test_estimator_not_fitted():
    with pytest.raises(ValueError, match="not fitted"):
        fm.MLPClassifier().to_onnx()
    with pytest.raises(AttributeError):
        fm.MLPRegressor().model_


def test_classes_are_the_estimators_own():
    clf = fm.MLPClassifier((3,), max_iter=5, random_state=0).fit(data(n=10, d=2), [0, 1] * 5)
    with pytest.raises(ValueError, match="'classes' parameter applies to a fastmlp.Model only"):
        fm.to_onnx(clf, classes=[0, 1])


# -- the command line -----------------------------------------------------------------------

@pytest.mark.parametrize("dataset,task", [("xor", "binary"), ("celsius", "regression"), ("three", "multiclass")])
def test_cli_export_serves_the_same_predictions(tmp_path, capsys, dataset, task):
    if dataset == "three":
        csv = tmp_path / "three.csv"
        csv.write_text("p,q,cls\n" + "".join(f"{i % 3 + 0.1 * i},{(i * 7) % 5},{i % 3}\n" for i in range(30)))
        source = ["--data", str(csv), "--epochs", "50"]
    else:
        source = ["--dataset", dataset]
    model_path = tmp_path / "m.npz"
    assert cli.main(["train", *source, "--save", str(model_path), "--quiet"]) == 0
    capsys.readouterr()
    out_path = tmp_path / "served.onnx"
    code = cli.main(["export", str(model_path), "-o", str(out_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert f"wrote     {out_path} (ONNX opset 17" in out
    mf = modelfile.read(model_path)
    X = mf.model.check_input(fm.datasets.get(dataset)[0] if dataset != "three" else
                             np.loadtxt(csv, delimiter=",", skiprows=1)[:, :2])
    assert f"input     X float64 (N, {X.shape[1]})" in out
    got = run(str(out_path), X)
    pred = mf.model.predict(X)
    onx = onnx.load(str(out_path))
    assert meta(onx)["task"] == ("outputs" if task == "regression" else task)
    assert json.loads(meta(onx)["feature_names"]) == mf.metadata["feature_names"]
    if task == "regression":
        assert "outputs   variable float64 (N, 1)" in out
        assert_close(got["variable"], pred, np.float64)
    elif task == "binary":
        assert "outputs   label int64 (N,), probabilities float64 (N, 2)" in out
        assert_close(got["probabilities"][:, 1], pred[:, 0], np.float64)
        assert got["label"].tolist() == (pred[:, 0] > 0.5).astype(int).tolist() == [0, 1, 1, 0]
    else:
        assert_close(got["probabilities"], pred, np.float64)
        assert got["label"].tolist() == pred.argmax(axis=1).tolist()


def test_cli_export_default_path_and_opset(tmp_path, capsys):
    model_path = tmp_path / "net.npz"
    fm.MLP([2, 3, 3], output="softmax", seed=0).save(model_path)     # saved from Python: no task recorded
    assert cli.main(["export", str(model_path), "--opset", "13"]) == 0
    assert "outputs   label int64 (N,), probabilities float64 (N, 3)" in capsys.readouterr().out
    onx = onnx.load(str(tmp_path / "net.onnx"))
    assert onx.opset_import[0].version == 13 and json.loads(meta(onx)["classes"]) == [0, 1, 2]


# -- skl2onnx --------------------------------------------------------------------------------

@pytest.fixture
def skl2onnx():
    import skl2onnx
    fm.register_skl2onnx()
    return skl2onnx


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_skl2onnx_converts_a_pipeline_with_a_classifier(skl2onnx, dtype):
    X = data(n=150, d=4, seed=7) * 10 + 3
    y = np.array(["low", "mid", "high"])[np.digitize(X[:, 0] + X[:, 1], [0, 12])]
    pipe = make_pipeline(StandardScaler(), fm.MLPClassifier((10,), solver="lbfgs", max_iter=80, random_state=0,
                                                            dtype=dtype)).fit(X, y)
    # A double input: the scaler computes in double, the network in the estimator's precision.
    onx = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    onnx.checker.check_model(onx)
    got = run(onx, X)
    assert got["label"].tolist() == pipe.predict(X).tolist()
    assert len(set(got["label"].tolist())) == 3
    np.testing.assert_allclose(got["probabilities"], pipe.predict_proba(X), rtol=TOL[dtype], atol=TOL[dtype])
    assert {"MatMul", "Softmax", "ArgMax", "Gather"} <= {n.op_type for n in onx.graph.node}

    # skl2onnx's defaults: float input, probabilities as a list of {class: probability}.
    s = session(skl2onnx.to_onnx(pipe, X[:1].astype(np.float32)))
    label, maps = s.run(None, {"X": X.astype(np.float32)})
    assert label.tolist() == pipe.predict(X).tolist()
    np.testing.assert_allclose([[m[c] for c in pipe.classes_] for m in maps], pipe.predict_proba(X),
                               rtol=1e-4, atol=1e-5)


def test_skl2onnx_binary_int_labels_and_nocl(skl2onnx):
    X = data(n=80, d=3, seed=8)
    y = np.where(X[:, 0] > 0, 4, 9)
    clf = fm.MLPClassifier((5,), solver="lbfgs", max_iter=50, random_state=0).fit(X, y)
    got = run(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False}), X)
    assert got["label"].dtype == np.int64 and got["label"].tolist() == clf.predict(X).tolist()
    np.testing.assert_allclose(got["probabilities"], clf.predict_proba(X), rtol=1e-12, atol=1e-12)
    got = run(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False, "nocl": True}), X)
    assert got["label"].tolist() == (clf.predict(X) == 9).astype(int).tolist()


def test_skl2onnx_converts_a_pipeline_with_a_regressor(skl2onnx):
    X = data(n=100, d=3, seed=9) * 5
    pipe = make_pipeline(StandardScaler(), fm.MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50,
                                                           random_state=0)).fit(X, X[:, 0] ** 2)
    got = run(skl2onnx.to_onnx(pipe, X[:1]), X)["variable"]
    np.testing.assert_allclose(got.ravel(), pipe.predict(X), rtol=1e-12, atol=1e-12)


def test_skl2onnx_registration_follows_an_earlier_import():
    code = ("import skl2onnx, numpy as np, fastmlp as fm\n"
            "X = np.random.default_rng(0).normal(size=(30, 2)); y = (X[:, 0] > 0).astype(int)\n"
            "clf = fm.MLPClassifier((3,), max_iter=5, random_state=0).fit(X, y)\n"
            "onx = skl2onnx.to_onnx(clf, X[:1], options={'zipmap': False})\n"
            "print(sorted({n.op_type for n in onx.graph.node}))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=root), timeout=300)
    assert done.returncode == 0, done.stderr
    assert "'Gather'" in done.stdout and "'MatMul'" in done.stdout


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_the_standardisation_step_and_class_names_are_exported(dtype, tmp_path):
    """A model trained on labelled, standardized data takes raw columns and
    gives back its class names, in ONNX as in predict_labels."""
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[100.0, -3.0, 0.01], scale=[50.0, 2.0, 0.001], size=(120, 3))
    labels = np.array(["low", "mid", "high"])[np.digitize(X[:, 0], [80.0, 120.0])]
    model = fm.MLP([3, 8, 3], activation="tanh", output="softmax", dtype=dtype, seed=0)
    model.classes = ["high", "low", "mid"]
    y = np.searchsorted(model.classes, labels)
    fm.Trainer(model, loss="cross_entropy", lr=0.1, batch_size=16, epochs=20, seed=0, standardize=True).fit(X, y)
    assert model.standardizer is not None
    onx = fm.to_onnx(model)
    ops = [node.op_type for node in onx.graph.node]
    assert ops[:2] == ["Sub", "Div"]
    got = run(onx, X.astype(dtype))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got["probabilities"], model.predict(X), rtol=tol, atol=tol)
    assert got["label"].tolist() == list(model.predict_labels(X))
