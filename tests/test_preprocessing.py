"""Standardisation and class labels as parts of the model: learned on the
training rows, applied by predict, forward, loss_and_gradient, formula and
trace, and kept in the model file (format version 2; version 1 files load)."""

import json

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import modelfile
from fastmlp.explain import evaluate as evaluate_formula
from fastmlp.preprocessing import Standardizer, encode_labels


def raw_line(n=200, seed=0):
    """The line dataset in awkward units: columns around 1000 and 0.001."""
    X, y = fm.datasets.line(n, seed=seed)
    return X * np.array([500.0, 0.002]) + np.array([1000.0, 0.0]), y


def test_standardizer_matches_scikit_learns_standard_scaler():
    sklearn = pytest.importorskip("sklearn.preprocessing")
    X = np.random.default_rng(0).normal(size=(50, 3)) * [1, 100, 1e-3] + [0, 5, -2]
    X[:, 0] = 7.0                                               # a constant column: centred only
    ours = Standardizer().fit(X)
    theirs = sklearn.StandardScaler().fit(X)
    np.testing.assert_allclose(ours.mean_, theirs.mean_, rtol=1e-14)
    np.testing.assert_allclose(ours.scale_, theirs.scale_, rtol=1e-14)
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(X)), X, rtol=1e-12)


def test_trainer_standardize_learns_from_the_training_rows_only():
    X, y = raw_line()
    model = fm.MLP([2, 8, 1], output="sigmoid", seed=0)
    tr = fm.Trainer(model, loss="bce", lr=0.1, epochs=30, seed=0, validation_split=0.25, standardize=True)
    train, _ = tr.split(X, y)
    h = tr.fit(X, y)
    np.testing.assert_allclose(model.standardizer.mean_, X[train].mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(model.standardizer.scale_, X[train].std(axis=0), rtol=1e-14)
    assert h.val_metric[-1] > 0.9           # unscaled, these units barely train
    # Training on the standardized rows by hand gives the same weights.
    again = fm.MLP([2, 8, 1], output="sigmoid", seed=0)
    fm.Trainer(again, loss="bce", lr=0.1, epochs=30, seed=0).fit(model.standardizer.transform(X[train]), y[train])
    assert np.array_equal(again.params, model.params)


def test_a_second_fit_keeps_the_standardizer():
    X, y = raw_line()
    model = fm.MLP([2, 4, 1], output="sigmoid", seed=0)
    tr = fm.Trainer(model, loss="bce", epochs=2, seed=0, standardize=True)
    tr.fit(X, y)
    first = model.standardizer
    tr.fit(X[:50] * 3, y[:50])
    assert model.standardizer is first


def test_predict_forward_and_loss_take_raw_inputs():
    X, y = raw_line(60)
    model = fm.MLP([2, 5, 1], output="sigmoid", seed=0)
    model.standardizer = Standardizer().fit(X)
    Z = model.standardizer.transform(X)
    bare = model.copy()
    bare.standardizer = None
    np.testing.assert_array_equal(model.predict(X), bare.predict(Z))
    np.testing.assert_array_equal(model.forward(X), bare.forward(Z))
    assert model.loss_and_gradient(X, y, "bce") == bare.loss_and_gradient(Z, y, "bce")
    # backward gives d loss / d raw x: the chain rule through (x - mean) / scale.
    dz = bare.backward(np.ones((60, 1)))
    model.forward(X)
    np.testing.assert_allclose(model.backward(np.ones((60, 1))), dz / model.standardizer.scale_, rtol=1e-14)


def test_standardized_model_round_trips_bit_identically(tmp_path):
    X, y = raw_line()
    model = fm.MLP([2, 6, 1], output="sigmoid", dtype=np.float32, seed=0)
    fm.Trainer(model, loss="bce", lr=0.1, epochs=5, seed=0, standardize=True).fit(X, y)
    model.classes = ["below", "above"]
    path = tmp_path / "m.npz"
    model.save(path)
    f = modelfile.read(path)
    assert f.header["format_version"] == 2
    assert f.header["standardize"] == model.standardizer.config() and f.header["classes"] == ["below", "above"]
    assert f.model.standardizer == model.standardizer and f.model.classes == ["below", "above"]
    np.testing.assert_array_equal(f.model.predict(X), model.predict(X))
    labels = f.model.predict_labels(X)
    assert set(labels.tolist()) <= {"below", "above"}
    assert np.array_equal(labels == "above", (model.predict(X)[:, 0] > 0.5))


def test_formula_is_written_in_the_raw_units_of_the_columns():
    X, y = raw_line()
    model = fm.MLP([2, 6, 1], output="sigmoid", seed=0)
    fm.Trainer(model, loss="bce", lr=0.1, epochs=10, seed=0, standardize=True).fit(X, y)
    text = fm.formula(model, names=["price", "ratio"], precision=None)
    assert "price" in text and "ratio" in text
    for row in X[:20]:
        got = evaluate_formula(text, {"price": row[0], "ratio": row[1]})["y"]
        assert got == pytest.approx(model.predict(row[None])[0, 0], rel=1e-9, abs=1e-12)


def test_trace_standardizes_the_raw_sample_first():
    X, y = raw_line()
    model = fm.MLP([2, 3, 1], output="sigmoid", seed=0)
    model.standardizer = Standardizer().fit(X)
    t = fm.trace(model, X[0], y[0], lr=0.1)
    z = model.standardizer.transform(X[:1])
    np.testing.assert_array_equal(t.x, z)
    np.testing.assert_array_equal(t.x_raw, X[:1])
    np.testing.assert_allclose(t.prediction, model.predict(X[:1]), rtol=1e-14)
    text = t.render(4)
    mean, scale = model.standardizer.mean_[0], model.standardizer.scale_[0]
    assert f"x1 = ({X[0, 0]:.4g} - {mean:.4g}) / {scale:.4g} = {z[0, 0]:.4g}" in text
    assert json.loads(json.dumps(t.as_dict()))["standardize"] == model.standardizer.config()
    # The model itself is unchanged, standardizer included.
    assert model.standardizer.n_features_in == 2


def test_encode_labels_sorts_the_classes():
    idx, classes = encode_labels(np.array(["virginica", "setosa", "versicolor", "setosa"], dtype=object))
    assert classes == ["setosa", "versicolor", "virginica"] and idx.tolist() == [2, 0, 1, 0]
    idx, classes = encode_labels([3.5, 1.0, 3.5])
    assert classes == [1.0, 3.5] and idx.tolist() == [1, 0, 1]


def test_predict_labels_without_classes_gives_indices():
    model = fm.MLP([2, 3], output="softmax", seed=0)
    X = np.random.default_rng(0).normal(size=(10, 2))
    assert np.array_equal(model.predict_labels(X), model.predict(X).argmax(axis=1))
    model.classes = ["a", "b", "c"]
    assert model.predict_labels(X).tolist() == [["a", "b", "c"][i] for i in model.predict(X).argmax(axis=1)]
    assert model.copy().classes == ["a", "b", "c"]


def test_version_1_files_still_load(tmp_path):
    """A file written before standardize and classes existed: exactly the
    version 1 header fields, and a history without the validation fields."""
    model = fm.MLP([2, 3, 1], output="sigmoid", seed=0)
    path = tmp_path / "old.npz"
    model.save(path, history={"loss": [0.5, 0.4], "epochs": 2, "steps": 2, "seconds": 0.1,
                              "stop_reason": "completed"})
    with np.load(path) as z:
        header = json.loads(z["header"].tobytes())
    assert header["format_version"] == 1 and "standardize" not in header and "classes" not in header
    f = modelfile.read(path)
    assert f.model.standardizer is None and f.model.classes is None
    assert f.history.val_loss is None and f.history.best_epoch is None and f.history.lr is None
