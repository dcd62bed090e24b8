"""Real data, start to finish, through the command line: CSVs written from
the datasets bundled with scikit-learn (no download), trained with a
validation split and early stopping, evaluated on separate files, predicted
with text labels."""

import csv
import io
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import cli
from fastmlp import modelfile

sk_datasets = pytest.importorskip("sklearn.datasets")
sk_metrics = pytest.importorskip("sklearn.metrics")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_csv(path, X, feature_names, y, target_name):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(feature_names) + [target_name])
        for row, t in zip(X, y):
            w.writerow([repr(float(v)) for v in row] + [t])
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """iris (species names), breast cancer (diagnosis names) and diabetes (a
    number) as CSVs; iris also split into a training and a test file."""
    d = tmp_path_factory.mktemp("real")
    iris = sk_datasets.load_iris()
    names = [n.replace(" (cm)", "").replace(" ", "_") for n in iris.feature_names]
    species = np.array(iris.target_names)[iris.target]
    write_csv(d / "iris.csv", iris.data, names, species, "species")
    order = np.random.default_rng(1).permutation(150)
    write_csv(d / "iris-train.csv", iris.data[order[:120]], names, species[order[:120]], "species")
    write_csv(d / "iris-test.csv", iris.data[order[120:]], names, species[order[120:]], "species")
    cancer = sk_datasets.load_breast_cancer()
    write_csv(d / "cancer.csv", cancer.data, [n.replace(" ", "_") for n in cancer.feature_names],
              np.array(cancer.target_names)[cancer.target], "diagnosis")
    diabetes = sk_datasets.load_diabetes(scaled=False)
    write_csv(d / "diabetes.csv", diabetes.data, diabetes.feature_names, diabetes.target, "progression")
    return d


def call(capsys, *args):
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def train_json(capsys, *args):
    code, out, err = call(capsys, "train", *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def iris_model(data, tmp_path_factory):
    """`fastmlp train` on iris-train.csv with a validation split and early stopping, saved."""
    path = tmp_path_factory.mktemp("iris") / "iris.npz"
    proc = subprocess.run([sys.executable, "-m", "fastmlp", "train", "--data", str(data / "iris-train.csv"),
                           "--validation", "0.2", "--early-stopping", "20", "--save", str(path), "--json"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr
    return path, json.loads(proc.stdout)


# -- iris: text labels -------------------------------------------------------------------------

def test_iris_with_species_names_reaches_90_percent_on_validation(capsys, data):
    s = train_json(capsys, "--data", data / "iris.csv", "--validation", "0.2", "--early-stopping", "20")
    assert s["task"] == "multiclass" and s["classes"] == ["setosa", "versicolor", "virginica"]
    assert s["n_train"] == 120 and s["n_validation"] == 30 and s["standardize"] is True
    assert s["val_accuracy"] >= 0.90 and s["val_correct"] >= 27
    assert s["accuracy"] >= 0.90


def test_iris_model_file_keeps_classes_standardizer_and_history(iris_model):
    path, summary = iris_model
    f = modelfile.read(path)
    assert f.model.classes == ["setosa", "versicolor", "virginica"]
    assert f.model.standardizer is not None and f.header["format_version"] == 2
    h = f.history
    assert h.metric == "accuracy" and h.val_loss.shape == (h.epochs,) and h.best_epoch == summary["best_epoch"]
    if summary["stop_reason"] == "early_stopping":
        assert h.epochs == h.best_epoch + 20
    assert summary["restored_epoch"] == h.best_epoch


def test_predict_prints_species_names(iris_model, data):
    path, _ = iris_model
    proc = subprocess.run([sys.executable, "-m", "fastmlp", "predict", str(path), "--data",
                           str(data / "iris-test.csv")], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["label", "prob_setosa", "prob_versicolor", "prob_virginica"]
    assert len(rows) == 31 and {r[0] for r in rows[1:]} <= {"setosa", "versicolor", "virginica"}
    truth = [r[-1] for r in csv.reader(open(data / "iris-test.csv"))][1:]
    assert sum(p[0] == t for p, t in zip(rows[1:], truth)) >= 25
    model = fm.load(path)
    X = np.loadtxt(data / "iris-test.csv", delimiter=",", skiprows=1, usecols=range(4))
    assert [r[0] for r in rows[1:]] == model.predict_labels(X).tolist()


def test_evaluate_a_classifier_on_a_separate_file(capsys, iris_model, data):
    path, _ = iris_model
    model = fm.load(path)
    X = np.loadtxt(data / "iris-test.csv", delimiter=",", skiprows=1, usecols=range(4))
    truth = np.loadtxt(data / "iris-test.csv", delimiter=",", skiprows=1, usecols=[4], dtype=str)
    proba = model.predict(X)
    code, out, err = call(capsys, "evaluate", path, "--data", data / "iris-test.csv", "--json")
    assert code == 0, err
    s = json.loads(out)
    labels = ["setosa", "versicolor", "virginica"]
    assert s["accuracy"] == pytest.approx(sk_metrics.accuracy_score(truth, model.predict_labels(X)), abs=1e-15)
    assert s["log_loss"] == pytest.approx(sk_metrics.log_loss(truth, proba, labels=labels), rel=1e-9)
    assert s["confusion_matrix"] == sk_metrics.confusion_matrix(truth, model.predict_labels(X), labels=labels).tolist()
    assert s["classes"] == labels and s["n_samples"] == 30
    code, out, err = call(capsys, "evaluate", path, "--data", data / "iris-test.csv")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"data      {data / 'iris-test.csv'}: 30 samples -> 3-class classification"
    assert lines[1] == f"accuracy  {100 * s['accuracy']:.2f}% ({s['correct']} of 30)"
    assert lines[2] == f"log-loss  {s['log_loss']:.6g}"
    assert lines[3].startswith("confusion matrix (rows: true class, columns: predicted class)")
    assert lines[4].split() == labels
    for line, name, counts in zip(lines[5:8], labels, s["confusion_matrix"]):
        assert line.split() == [name] + [str(c) for c in counts]


def test_validation_data_file_and_the_periodic_lines(capsys, data, tmp_path):
    path = tmp_path / "iris.npz"
    code, out, err = call(capsys, "train", "--data", data / "iris-train.csv", "--validation-data",
                          data / "iris-test.csv", "--epochs", "60", "--print-every", "20", "--save", path)
    assert code == 0, err
    epochs = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 3
    for line in epochs:
        words = line.split()
        assert words[2] == "loss" and words[4] == "val_loss" and words[6] == "val_accuracy"
        assert float(words[5]) > 0 and 0 <= float(words[7]) <= 1
    assert f"validation: {data / 'iris-test.csv'}, 30 samples" in out
    validation_line = [line for line in out.splitlines() if "validation accuracy" in line][0]
    code, out2, err = call(capsys, "evaluate", path, "--data", data / "iris-test.csv", "--json")
    s = json.loads(out2)
    assert f"validation accuracy {100 * s['accuracy']:.2f}% ({s['correct']} of 30)" in validation_line
    # The last periodic line's validation loss is the final model's.
    f = modelfile.read(path)
    assert float(epochs[-1].split()[5]) == pytest.approx(f.history.val_loss[-1], rel=1e-5)


def test_formula_and_trace_of_a_standardized_model_use_raw_units(capsys, iris_model, data):
    path, _ = iris_model
    model = fm.load(path)
    code, out, err = call(capsys, "formula", path, "--exact")
    assert code == 0, err
    text = "\n".join(out.splitlines()[:-1])                      # without the "where ..." legend
    X = np.loadtxt(data / "iris-test.csv", delimiter=",", skiprows=1, usecols=range(4))
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    for row in X[:5]:
        env = fm.explain.evaluate(text, dict(zip(names, row)))
        got = [env[f"y{j}"] for j in (1, 2, 3)]
        np.testing.assert_allclose(got, model.predict(row[None])[0], rtol=1e-9, atol=1e-12)
    code, out, err = call(capsys, "trace", path, "--x", "5.1,3.5,1.4,0.2", "--y", "setosa")
    assert code == 0, err
    assert "standardize (the model's first step" in out and "sepal_length = (5.1 - " in out
    assert "target t1 = 1, t2 = 0, t3 = 0" in out


def test_plot_draws_training_and_validation_curves(capsys, iris_model, tmp_path):
    path, _ = iris_model
    png = tmp_path / "curves.png"
    code, out, err = call(capsys, "plot", path, "-o", png)
    assert code == 0, err
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 2 * height * 0.9                    # the loss panel and the accuracy panel
    fig = fm.plot.plot_model(fm.load(path), history=modelfile.read(path).history)
    loss_ax, metric_ax = fig.axes
    assert [line.get_label() for line in loss_ax.get_lines()][:2] == ["training", "validation"]
    assert metric_ax.get_ylabel() == "accuracy (%)"


def test_decision_boundary_of_a_standardized_model_is_drawn_in_raw_units(monkeypatch):
    # Columns in units 10^6 apart: the plot's plane must be the raw one, and
    # the model's standardizer applied to it by predict, not by the plot.
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(1000, 5000, 200), rng.uniform(0.001, 0.01, 200)])
    y = (X[:, 0] / 4000 + X[:, 1] / 0.008 > 1.75).astype(float)
    model = fm.MLP([2, 8, 1], output="sigmoid", seed=0)
    fm.Trainer(model, loss="bce", lr=0.1, batch_size=16, epochs=30, seed=0, standardize=True).fit(X, y)
    assert model.standardizer is not None
    seen = []
    predict = model.predict_positional
    monkeypatch.setattr(model, "predict_positional", lambda pts: (seen.append(pts), predict(pts))[1])
    from fastmlp import plot
    ax = plot.plot_model(model, X, y).axes[0]
    (pts,) = seen
    assert pts[:, 0].min() < 1000 and pts[:, 0].max() > 5000        # the raw ranges, padded
    assert -0.01 < pts[:, 1].min() < 0.001 and 0.01 < pts[:, 1].max() < 0.02
    lo, hi = ax.get_xlim()
    assert lo < 1000 and hi > 5000
    np.testing.assert_array_equal(predict(pts), model.predict(pts))   # predict standardizes raw points
    assert (model.predict(X)[:, 0] > 0.5).mean() == pytest.approx(y.mean(), abs=0.1)


# -- breast cancer: standardisation ------------------------------------------------------------------

def test_breast_cancer_with_standardize_reaches_95_percent_on_validation(capsys, data, tmp_path):
    s = train_json(capsys, "--data", data / "cancer.csv", "--validation", "0.2", "--standardize",
                   "--save", tmp_path / "cancer.npz")
    assert s["task"] == "binary" and s["classes"] == ["benign", "malignant"] and s["standardize"] is True
    assert s["n_validation"] == 114 and s["val_accuracy"] >= 0.95
    # The standardizer was learned from the 455 training rows only.
    f = modelfile.read(tmp_path / "cancer.npz")
    X = np.loadtxt(data / "cancer.csv", delimiter=",", skiprows=1, usecols=range(30))
    malignant = np.loadtxt(data / "cancer.csv", delimiter=",", skiprows=1, usecols=[30], dtype=str) == "malignant"
    train, _ = fm.Trainer(f.model, loss="bce", seed=0, validation_split=0.2).split(X, malignant.astype(float))
    assert len(train) == s["n_train"]
    np.testing.assert_allclose(f.model.standardizer.mean_, X[train].mean(axis=0), rtol=1e-12)
    code, out, err = call(capsys, "predict", tmp_path / "cancer.npz", "--data", data / "cancer.csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["label", "prob_malignant"] and {r[0] for r in rows[1:]} == {"benign", "malignant"}


def test_no_standardize_is_kept_as_no_standardizer(capsys, data, tmp_path):
    s = train_json(capsys, "--data", data / "cancer.csv", "--epochs", "5", "--no-standardize",
                   "--save", tmp_path / "raw.npz")
    assert s["standardize"] is False
    assert modelfile.read(tmp_path / "raw.npz").model.standardizer is None


# -- diabetes: regression -------------------------------------------------------------------------

def test_diabetes_validation_r2_and_evaluate(capsys, data, tmp_path):
    # Seed 1's split: on seed 0's, least squares itself reaches only R^2 0.335 on the held-out rows.
    path = tmp_path / "diabetes.npz"
    s = train_json(capsys, "--data", data / "diabetes.csv", "--validation", "0.2", "--seed", "1",
                   "--early-stopping", "20", "--epochs", "1000", "--save", path)
    assert s["task"] == "regression" and s["classes"] is None
    assert s["val_r2"] > 0.35
    d = sk_datasets.load_diabetes(scaled=False)
    linear = pytest.importorskip("sklearn.linear_model")
    model = fm.load(path)
    train, val = fm.Trainer(model, seed=1, validation_split=0.2).split(d.data, d.target)
    baseline = linear.LinearRegression().fit(d.data[train], d.target[train]).score(d.data[val], d.target[val])
    assert s["val_r2"] > baseline - 0.1
    code, out, err = call(capsys, "evaluate", path, "--data", data / "diabetes.csv", "--json")
    assert code == 0, err
    e = json.loads(out)
    pred = model.predict(d.data)[:, 0]
    assert e["r2"] == pytest.approx(sk_metrics.r2_score(d.target, pred), rel=1e-9)
    assert e["mae"] == pytest.approx(sk_metrics.mean_absolute_error(d.target, pred), rel=1e-9)
    assert e["rmse"] == pytest.approx(math.sqrt(sk_metrics.mean_squared_error(d.target, pred)), rel=1e-9)
    code, out, err = call(capsys, "evaluate", path, "--data", data / "diabetes.csv")
    assert out.splitlines()[1:] == [f"R^2       {e['r2']:.6g}", f"MAE       {e['mae']:.6g}",
                                    f"RMSE      {e['rmse']:.6g}"]


@pytest.mark.parametrize("schedule", ["step", "cosine", "plateau"])
def test_lr_schedules_from_the_command_line(capsys, data, tmp_path, schedule):
    path = tmp_path / "m.npz"
    s = train_json(capsys, "--data", data / "iris.csv", "--validation", "0.2", "--epochs", "40",
                   "--lr-schedule", schedule, "--save", path)
    assert s["lr_schedule"] == schedule
    lr = modelfile.read(path).history.lr
    assert lr[0] == 0.01 and np.all(np.diff(lr) <= 0)
    if schedule == "step":
        assert lr.tolist() == [0.01] * 10 + [0.005] * 10 + [0.0025] * 10 + [0.00125] * 10
    if schedule == "cosine":
        assert lr[-1] < 1e-4


def test_a_diverging_run_with_early_stopping_saves_the_best_epoch(capsys, tmp_path):
    path = tmp_path / "best.npz"
    code, out, err = call(capsys, "train", "--dataset", "celsius", "--lr", "10", "--validation", "0.2",
                          "--early-stopping", "1000", "--save", path, "--quiet")
    assert code == 1 and "(diverged)" in out
    f = modelfile.read(path)
    best = f.history.best_epoch
    assert best is not None and f.history.stop_reason == "diverged"
    assert err.strip().endswith(f"The weights of epoch {best} (the best) were saved to {path}.")
    code, out, err = call(capsys, "train", "--dataset", "celsius", "--lr", "10", "--validation", "0.2",
                          "--epochs", best, "--save", tmp_path / "stopped.npz", "--quiet")
    assert code == 0, err
    assert np.array_equal(fm.load(tmp_path / "stopped.npz").params, f.model.params)
