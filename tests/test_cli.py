"""The `fastmlp` command end to end: subprocesses for each command (exit
codes, files written, output parsed), in-process calls of cli.main for the
many error cases, and the Ctrl-C path."""

import contextlib
import csv
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import cli
from fastmlp import modelfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, timeout=120, **kw):
    """`python -m fastmlp.cli ARGS` in a subprocess; returns CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "fastmlp.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, **kw)


def call(capsys, *args):
    """cli.main(ARGS) in this process; returns (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def call_for_fixture(*args):
    """cli.main(ARGS) in this process for a module-scoped fixture, which has no
    capsys; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def assert_usage_error(code, out, err, *phrases):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("fastmlp: error: ")
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "xor.csv").write_text("a,b,label\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    (d / "three.csv").write_text("p,q,r,cls\n0,0,1,0\n0,1,1,1\n1,0,0,2\n1,1,1,2\n2,2,0,1\n0.5,0,0,0\n")
    (d / "bad.csv").write_text("a,b,label\n0,0,0\n0,x,1\n")
    (d / "nan.csv").write_text("a,b,label\n0,0,0\n0,nan,1\n")
    return d


@pytest.fixture(scope="module")
def xor_model(workdir):
    """`fastmlp train --save xor.npz --json` in a subprocess (the XOR defaults)."""
    path = workdir / "xor.npz"
    proc = run("train", "--save", path, "--json")
    assert proc.returncode == 0, proc.stderr
    return path, proc


@pytest.fixture(scope="module")
def three_model(workdir):
    """`fastmlp train` on three.csv (three classes) with --save three.npz, --plot
    three.png and --json: (model path, plot path, the JSON summary)."""
    model_path, png = workdir / "three.npz", workdir / "three.png"
    code, out, err = call_for_fixture("train", "--data", workdir / "three.csv", "--hidden", "6", "--epochs", "400",
                                      "--lr", "0.05", "--save", model_path, "--plot", png, "--json")
    assert code == 0, err
    return model_path, png, json.loads(out)


@pytest.fixture(scope="module")
def named_model(workdir):
    """`fastmlp train` on xor.csv (columns a, b, label) with --save named.npz:
    a model whose inputs have names."""
    path = workdir / "named.npz"
    code, out, err = call_for_fixture("train", "--data", workdir / "xor.csv", "--quiet", "--epochs", "400",
                                      "--lr", "0.1", "--save", path)
    assert code == 0, err
    return path


# -- train ---------------------------------------------------------------------------

def test_train_json_is_one_object_and_xor_is_learned(xor_model):
    path, proc = xor_model
    assert proc.stdout.count("\n") == 1
    summary = json.loads(proc.stdout)
    assert summary["dataset"] == "xor"
    assert summary["layers"] == [2, 8, 1] and summary["activation"] == "relu" and summary["output"] == "sigmoid"
    assert summary["loss"] == "bce" and summary["lr"] == 0.5 and summary["batch_size"] == 4
    assert summary["epochs_run"] == 10_000 and summary["stop_reason"] == "completed"
    assert summary["accuracy"] == 1.0 and summary["correct"] == 4
    assert summary["final_loss"] < 1e-3
    assert summary["steps"] == 10_000 and summary["steps_per_second"] > 0
    assert summary["saved"] == str(path)
    f = modelfile.read(path)
    assert f.history.epochs == 10_000
    assert f.history.final_loss == pytest.approx(summary["final_loss"])
    assert f.trainer["loss"] == "bce" and f.trainer["lr"] == 0.5
    assert f.metadata["feature_names"] == ["x1", "x2"] and f.metadata["task"] == "binary"
    X, y = fm.datasets.xor()
    assert ((f.model.predict(X) > 0.5) == y).all()


def test_train_default_prints_progress_lines_and_summary():
    proc = run("train", "--epochs", "2000")         # stdout is a pipe: plain progress lines
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "data      xor: 4 samples, 2 features (x1, x2) -> binary classification" in out
    assert "epoch 200/2000  loss " in out and "epoch 2000/2000  loss " in out
    assert sum(line.startswith("epoch ") for line in out.splitlines()) == 10
    assert "accuracy 100.00% (4 of 4)" in out
    assert "steps/s" in out and "final loss" in out
    # Nothing on stderr, except the notice shown while numba compiles (a cold cache).
    assert proc.stderr in ("", "compiling the kernels (once after installing or upgrading; later runs "
                                "load them from numba's cache)...\n")


def test_train_quiet_prints_only_the_summary(capsys):
    code, out, err = call(capsys, "train", "--quiet", "--epochs", "3000", "--print-every", "10")
    assert code == 0 and err == ""
    assert "epoch " not in out and "data " not in out
    assert out.splitlines()[0].startswith("result    final loss")


@pytest.mark.parametrize("engine", ["generic", "specialized"])
def test_train_warm_up_compiles_the_engine_the_run_uses(capsys, monkeypatch, engine):
    # The warm-up fit exists so that the reported training time holds no
    # compiling: it must run the same engine as the real run.
    used = []
    fit = fm.Trainer.fit

    def recording_fit(self, *args, **kwargs):
        history = fit(self, *args, **kwargs)
        used.append(history.engine)
        return history

    monkeypatch.setattr(fm.Trainer, "fit", recording_fit)
    code, out, err = call(capsys, "train", "--dataset", "xor", "--epochs", "5", "--engine", engine, "--quiet")
    assert code == 0, err
    assert used == [engine, engine]


def test_train_csv_multiclass_save_and_plot(three_model):
    model_path, png, s = three_model
    assert s["task"] == "multiclass" and s["output"] == "softmax" and s["loss"] == "cross_entropy"
    assert s["layers"] == [3, 6, 3] and s["optimizer"] == "adam" and s["batch_size"] == 6
    assert s["feature_names"] == ["p", "q", "r"] and s["target"] == "cls"
    assert s["accuracy"] == 1.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    f = modelfile.read(model_path)
    assert f.metadata["classes"] == 3 and f.metadata["source"]["target"] == "cls"


def test_train_regression_reports_r2(capsys):
    code, out, err = call(capsys, "train", "--dataset", "celsius", "--json")
    s = json.loads(out)
    assert code == 0 and s["task"] == "regression" and s["output"] == "identity" and s["loss"] == "mse"
    assert s["layers"] == [1, 1]
    assert s["r2"] == pytest.approx(1.0, abs=1e-9)
    assert "accuracy" not in s


def test_train_layers_target_by_index_and_mse(capsys, workdir):
    code, out, err = call(capsys, "train", "--data", workdir / "xor.csv", "--target", "2", "--layers", "2,4,1",
                          "--loss", "mse", "--optimizer", "sgd", "--lr", "0.5", "--batch-size", "100",
                          "--epochs", "5", "--dtype", "float32", "--json")
    assert code == 0
    s = json.loads(out)
    assert s["layers"] == [2, 4, 1] and s["loss"] == "mse" and s["dtype"] == "float32"
    assert s["batch_size"] == 4 and s["target"] == "label"


def test_train_target_loss_stops_early(capsys):
    code, out, err = call(capsys, "train", "--target-loss", "0.05", "--json")
    s = json.loads(out)
    assert code == 0 and s["stop_reason"] == "target_loss"
    assert s["epochs_run"] < 10_000 and s["final_loss"] < 0.05


@pytest.mark.parametrize("args, phrases", [
    (["--data", "missing.csv"], ["missing.csv", "no such file"]),
    (["--data", "{d}/xor.csv", "--target", "nope"], ["no column named 'nope'", "a, b, label"]),
    (["--data", "{d}/bad.csv"], ["non-numeric value 'x'", "row 3", "column 'b'"]),
    (["--data", "{d}/nan.csv"], ["NaN", "column 'b'"]),
    (["--data", "{d}/xor.csv", "--layers", "3,8,1"], ["starts with 3 inputs", "2 features (a, b)"]),
    (["--data", "{d}/xor.csv", "--layers", "2,8,2"], ["ends with 2 outputs", "binary target needs 1"]),
    (["--data", "{d}/three.csv", "--output", "sigmoid", "--loss", "bce"], ["bce must lie in [0, 1]"]),
    (["--lr", "-0.1"], ["'lr'", "> 0", "-0.1"]),
    (["--lr", "nan"], ["'lr'", "finite"]),
    (["--lr", "abc"], ["--lr", "invalid float value: 'abc'"]),
    (["--epochs", "-3"], ["'epochs'", ">= 0"]),
    (["--batch-size", "0"], ["'batch_size'", ">= 1"]),
    (["--hidden", "8,x"], ["--hidden", "'8,x'"]),
    (["--hidden", "8,-1"], ["--hidden", ">= 1"]),
    (["--dataset", "moons"], ["invalid choice: 'moons'"]),
    (["--dataset", "xor", "--data", "x.csv"], ["not allowed with argument"]),
    (["--target", "a"], ["--target applies to --data"]),
    (["--momentum", "1.5"], ["'momentum'"]),
    (["--print-every", "0"], ["--print-every"]),
    (["--bogus"], ["unrecognized arguments: --bogus"]),
])
def test_train_input_errors_exit_2_with_one_line(capsys, workdir, args, phrases):
    args = [a.format(d=workdir) for a in args]
    code, out, err = call(capsys, "train", "--epochs", "2", *args) if "--epochs" not in args \
        else call(capsys, "train", *args)
    assert_usage_error(code, out, err, *phrases)
    assert out == ""


def test_errors_in_a_subprocess_have_no_traceback(workdir):
    proc = run("train", "--data", workdir / "bad.csv")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"fastmlp: error: {workdir / 'bad.csv'}: non-numeric value 'x' in row 3, "
                                   f"column 'b'.")
    assert proc.stdout == ""


def test_divergence_exits_1_and_does_not_save(capsys, tmp_path):
    code, out, err = call(capsys, "train", "--dataset", "celsius", "--lr", "10", "--save", tmp_path / "d.npz")
    assert code == 1
    assert err.startswith("fastmlp: error: Training diverged") and "not saved" in err
    assert "(diverged)" in out
    assert not (tmp_path / "d.npz").exists()


def test_unexpected_failure_exits_1_with_traceback():
    code = ("import sys, fastmlp.cli as c\n"
            "def boom(args, out): raise RuntimeError('boom')\n"
            "c._formula = boom\n"
            "sys.exit(c.main(['formula', 'x.npz']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "RuntimeError: boom" in proc.stderr


# -- Ctrl-C --------------------------------------------------------------------------

def test_ctrl_c_saves_and_exits_130(tmp_path):
    path = tmp_path / "interrupted.npz"
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastmlp.cli", "train", "--dataset", "line", "--epochs", "100000000",
         "--print-every", "5", "--save", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # A shell may start background jobs with SIGINT ignored; give the child the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line or line.startswith("epoch "):
                break
        assert line.startswith("epoch "), "no progress before the deadline"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted after epoch" in err and str(path) in err
    assert "Traceback" not in err
    f = modelfile.read(path)
    assert f.history.stop_reason == "interrupted"
    assert 5 <= f.history.epochs < 100_000_000
    assert f.history.steps == f.history.epochs * 32
    assert np.all(np.isfinite(f.model.params))
    assert "(interrupted)" in out


# -- predict -------------------------------------------------------------------------

def test_predict_dataset_to_stdout(xor_model):
    path, _ = xor_model
    proc = run("predict", path, "--dataset", "xor")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["label", "probability"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "1", "0"]
    want = fm.load(path).predict(fm.datasets.xor()[0])[:, 0]
    assert [float(r[1]) for r in rows[1:]] == want.tolist()        # exact round trip


def test_predict_csv_matches_columns_by_name(capsys, workdir, xor_model, named_model):
    (workdir / "swapped.csv").write_text("b,a\n1,0\n0,1\n")
    out_csv = workdir / "pred.csv"
    code, out, err = call(capsys, "predict", named_model, "--data", workdir / "swapped.csv", "-o", out_csv)
    assert code == 0 and out == "" and "wrote 2 predictions" in err
    rows = list(csv.DictReader(out_csv.open()))
    model = fm.load(named_model)
    want = model.predict(np.array([[0.0, 1.0], [1.0, 0.0]]))[:, 0]     # (a, b) order
    assert [float(r["probability"]) for r in rows] == want.tolist()
    # The training file itself (with its target column) works too.
    code, out, err = call(capsys, "predict", named_model, "--data", workdir / "xor.csv")
    assert code == 0 and len(out.splitlines()) == 5


def test_predict_multiclass_and_errors(capsys, workdir, three_model):
    model, _, _ = three_model
    code, out, err = call(capsys, "predict", model, "--data", workdir / "three.csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["label", "prob_0", "prob_1", "prob_2"]
    for r in rows[1:]:
        assert sum(map(float, r[1:])) == pytest.approx(1.0)
        assert int(r[0]) == int(np.argmax(list(map(float, r[1:]))))
    code, out, err = call(capsys, "predict", model, "--dataset", "xor")
    assert_usage_error(code, out, err, "expects 3 features", "xor dataset has 2")
    code, out, err = call(capsys, "predict", workdir / "nothing.npz", "--dataset", "xor")
    assert_usage_error(code, out, err, "nothing.npz", "no such file")
    (workdir / "junk.npz").write_bytes(b"PK\x03\x04garbage")
    code, out, err = call(capsys, "predict", workdir / "junk.npz", "--dataset", "xor")
    assert_usage_error(code, out, err, "junk.npz", "not a readable fastmlp model file")


# -- plot ------------------------------------------------------------------------------

def test_plot_writes_png(xor_model, tmp_path):
    path, _ = xor_model
    png = tmp_path / "xor.png"
    proc = run("plot", path, "-o", png)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"wrote {png}"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 2 * height * 0.9                         # boundary and loss curve side by side


def test_plot_without_matplotlib_says_how_to_install(xor_model, tmp_path):
    path, _ = xor_model
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from fastmlp.cli import main\n"
            f"sys.exit(main(['plot', {str(path)!r}, '-o', {str(tmp_path / 'x.png')!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 1
    assert proc.stderr.startswith("fastmlp: error: plotting needs matplotlib")
    assert "pip install 'fastmlp[plot]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_plot_other_inputs_and_errors(capsys, tmp_path):
    model = fm.MLP([3, 4, 1], seed=0)
    model.save(tmp_path / "bare.npz")
    code, out, err = call(capsys, "plot", tmp_path / "bare.npz")
    assert_usage_error(code, out, err, "no training history")
    X = np.random.default_rng(0).normal(size=(30, 3))
    trainer = fm.Trainer(model, lr=0.01, epochs=5, batch_size=10)
    trainer.fit(X, X.sum(axis=1))
    model.save(tmp_path / "three.npz", trainer=trainer)
    code, out, err = call(capsys, "plot", tmp_path / "three.npz")       # loss curve alone
    assert code == 0 and (tmp_path / "three.png").read_bytes()[:4] == b"\x89PNG"


# -- formula ----------------------------------------------------------------------------

def test_formula_exact_evaluates_to_predict(xor_model):
    path, _ = xor_model
    proc = run("formula", path, "--exact")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("y = sigmoid(") and "relu(" in lines[0] and "x1" in lines[0]
    assert lines[1] == "where relu(v) = max(v, 0); sigmoid(v) = 1 / (1 + exp(-v))"
    expr = lines[0].split(" = ", 1)[1]
    env = {"relu": lambda v: max(v, 0.0), "sigmoid": lambda v: 1 / (1 + math.exp(-v))}
    X, _ = fm.datasets.xor()
    want = fm.load(path).predict(X)[:, 0]
    got = [eval(expr, {"__builtins__": {}}, dict(env, x1=a, x2=b)) for a, b in X]
    assert got == pytest.approx(want.tolist(), rel=1e-12, abs=1e-15)


def test_formula_names_and_precision(capsys, named_model):
    named = named_model
    code, out, err = call(capsys, "formula", named, "--precision", "2")
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith("label = sigmoid(") and "*a " in first and "*b" in first
    code, out, err = call(capsys, "formula", named, "--names", "u,v")
    assert code == 0 and "*u" in out and "*v" in out
    code, out, err = call(capsys, "formula", named, "--names", "u")
    assert_usage_error(code, out, err, "--names lists 1 names, but the model has 2 inputs")
    code, out, err = call(capsys, "formula", named, "--precision", "0")
    assert_usage_error(code, out, err, "--precision")


# -- trace --------------------------------------------------------------------------------

def test_trace_tutorial_model_file(tmp_path):
    model = fm.Model([fm.Linear(2, 2, bias=False, weight=[[0.5, 2.3], [1.5, 3.0]]),
                      fm.Linear(2, 1, bias=False, weight=[[1.0], [1.0]])])
    path = tmp_path / "tutorial.npz"
    model.save(path)
    proc = run("trace", path, "--x", "1,0.5", "--y", "4", "--lr", "0.1", "--loss", "half_mse")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for line in ["y = w5*h1 + w6*h2 = 1*1.25 + 1*3.8 = 5.05", "E = 0.55125",
                 "dE/dw5 = dE/dy * h1 = 1.05*1.25 = 1.3125", "w5: 1 - 0.1*1.3125 = 0.86875",
                 "w6: 1 - 0.1*3.99 = 0.601", "w1: 0.5 - 0.1*1.05 = 0.395", "w2: 1.5 - 0.1*0.525 = 1.4475",
                 "w3: 2.3 - 0.1*1.05 = 2.195", "w4: 3 - 0.1*0.525 = 2.9475"]:
        assert line in out, line
    assert fm.load(path).params.tolist() == model.params.tolist()      # the file is not changed


def test_trace_example_and_json(capsys):
    code, out, err = call(capsys, "trace", "--example")
    assert code == 0 and "w5: 1 - 0.1*1.3125 = 0.86875" in out
    code, out, err = call(capsys, "trace", "--example", "--json")
    data = json.loads(out)
    assert data["loss_value"] == pytest.approx(0.55125)
    assert data["weights"]["w6"]["after"] == pytest.approx(0.601)


def test_trace_errors(capsys, xor_model):
    path, _ = xor_model
    code, out, err = call(capsys, "trace", path, "--x", "1,0,1", "--y", "1")
    assert_usage_error(code, out, err, "--x has 3 values, but the model has 2 inputs")
    code, out, err = call(capsys, "trace", path)
    assert_usage_error(code, out, err, "--x and --y are required")
    code, out, err = call(capsys, "trace", path, "--x", "1,a", "--y", "1")
    assert_usage_error(code, out, err, "--x must be comma-separated numbers")
    code, out, err = call(capsys, "trace")
    assert_usage_error(code, out, err, "--example")
    code, out, err = call(capsys, "trace", path, "--x", "1,0", "--y", "2", "--loss", "bce")
    assert_usage_error(code, out, err, "bce must lie in [0, 1]")
    code, out, err = call(capsys, "trace", path, "--x", "1,0", "--y", "1")
    assert code == 0 and "loss bce, learning rate 0.5" in out         # the model's own settings


# -- bench dispatch, help, entry points ------------------------------------------------------

def test_bench_dispatches_remaining_args(capsys, monkeypatch):
    seen = {}
    fake = types.ModuleType("fastmlp.bench")
    fake.main = lambda argv: seen.setdefault("argv", argv) and 3
    monkeypatch.setitem(sys.modules, "fastmlp.bench", fake)
    monkeypatch.setattr(fm, "bench", fake, raising=False)
    code, out, err = call(capsys, "bench", "--quick", "--help", "xor")
    assert seen["argv"] == ["--quick", "--help", "xor"] and code == 3


def test_bench_missing_module(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "fastmlp.bench", None)
    monkeypatch.delattr(fm, "bench", raising=False)
    code, out, err = call(capsys, "bench")
    assert_usage_error(code, out, err, "fastmlp.bench")


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "plot", "formula", "trace"])
def test_help_has_examples(capsys, command):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: fastmlp {command}") and "examples:" in out


@pytest.mark.parametrize("command, flag, names", [
    ("train", "--dataset", "datasets.NAMES"), ("train", "--activation", "layers.HIDDEN_ACTIVATIONS"),
    ("train", "--output", "layers.OUTPUT_ACTIVATIONS"), ("train", "--loss", "losses.NAMES"),
    ("train", "--optimizer", "optim.NAMES"), ("train", "--lr-schedule", "callbacks.SCHEDULES"),
    ("train", "--dtype", "validation.DTYPE_NAMES"), ("predict", "--dataset", "datasets.NAMES"),
    ("evaluate", "--dataset", "datasets.NAMES"), ("plot", "--dataset", "datasets.NAMES"),
    ("trace", "--loss", "losses.NAMES"),
])
def test_option_choices_are_the_library_names(capsys, command, flag, names):
    import importlib
    module, attribute = names.split(".")
    valid = getattr(importlib.import_module(f"fastmlp.{module}"), attribute)
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    assert f"  {flag} {{{','.join(valid)}}}" in capsys.readouterr().out


def test_train_help_lists_the_presets(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert "  --dataset xor       hidden 8, sgd, lr 0.5, batch 4, 10000 epochs\n" in out
    assert "  --dataset celsius   no hidden layer (a single neuron), sgd, lr 0.1, batch 32, 100 epochs\n" in out
    assert "  --data FILE         hidden 8, adam, lr 0.01, batch 32, 200 epochs\n" in out


def test_validation_data_errors_name_the_option(capsys, workdir, tmp_path):
    code, out, err = call(capsys, "train", "--data", workdir / "xor.csv", "--validation-data", tmp_path, "--quiet")
    assert_usage_error(code, out, err, f"--validation-data {tmp_path} is a directory; expected a .csv, .npy or "
                                       f".npz file.")
    code, out, err = call(capsys, "train", "--data", workdir / "xor.csv", "--validation-data",
                          tmp_path / "nope.csv", "--quiet")
    assert_usage_error(code, out, err, f"--validation-data {tmp_path / 'nope.csv'}: no such file.")


def test_python_dash_m_fastmlp_and_version():
    proc = subprocess.run([sys.executable, "-m", "fastmlp", "--version"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip() == f"fastmlp {fm.__version__}"
    proc = subprocess.run([sys.executable, "-m", "fastmlp"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0 and "train" in proc.stdout and "trace" in proc.stdout


def test_console_script_is_declared():
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        assert 'fastmlp = "fastmlp.cli:main"' in f.read()


@pytest.mark.parametrize("loss", ["mse", "half_mse", "cross_entropy"])
def test_train_multiclass_with_any_loss(capsys, workdir, loss):
    """Class labels are turned into one-hot rows once, so a softmax model trains
    with mse as well as with cross_entropy (which also accepts indices)."""
    code, out, err = call(capsys, "train", "--data", workdir / "three.csv", "--loss", loss,
                          "--epochs", "300", "--lr", "0.5", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["loss"] == loss and summary["task"] == "multiclass" and summary["layers"][-1] == 3
    assert summary["output"] == "softmax" and summary["accuracy"] == 1.0


# -- reviewed defects: columns by name, outputs checked first, class labels, bench, memory -----

@pytest.fixture(scope="module")
def gate_model(workdir):
    """A model trained on xor.csv (columns a, b, label): it knows its feature names."""
    path = workdir / "gate.npz"
    code = cli.main(["train", "--data", str(workdir / "xor.csv"), "--hidden", "4", "--lr", "0.1",
                     "--epochs", "300", "--save", str(path), "--quiet"])
    assert code == 0
    return path


@pytest.mark.parametrize("command", ["predict", "plot"])
@pytest.mark.parametrize("text, missing, has", [
    ("a,label\n0,1\n1,1\n", "no column 'b'", "a, label"),             # would have used label as b
    ("b,c,label\n0,1,0\n", "no column 'a'", "b, c, label"),            # would have shifted b->a, c->b
    ("x,y\n0,1\n", "no columns 'a', 'b'", "x, y"),
])
def test_named_model_refuses_a_csv_without_its_columns(capsys, workdir, tmp_path, gate_model, command,
                                                       text, missing, has):
    data = tmp_path / "new.csv"
    data.write_text(text)
    extra = ["-o", tmp_path / "p.png"] if command == "plot" else []
    code, out, err = call(capsys, command, gate_model, "--data", data, *extra)
    assert_usage_error(code, out, err, f"{data} has {missing}", "the model expects the columns a, b",
                       f"(the file has {has})")
    assert not (tmp_path / "p.png").exists()


def test_columns_by_name_or_by_position_where_that_is_unambiguous(capsys, tmp_path, gate_model, xor_model):
    model = fm.load(gate_model)
    # The model's own columns, in order, without a target: by name.
    (tmp_path / "ab.csv").write_text("a,b\n0,1\n1,1\n")
    code, out, err = call(capsys, "predict", gate_model, "--data", tmp_path / "ab.csv")
    assert code == 0, err
    want = model.predict(np.array([[0.0, 1.0], [1.0, 1.0]]))[:, 0]
    assert [float(r["probability"]) for r in csv.DictReader(io.StringIO(out))] == want.tolist()
    # A model with the generic names x1, x2 (the built-in xor) takes any header by position,
    # with or without a last target column.
    xor_path, _ = xor_model
    xor = fm.load(xor_path)
    for text in ("u,v\n0,1\n1,1\n", "u,v,label\n0,1,1\n1,1,0\n"):
        (tmp_path / "uv.csv").write_text(text)
        code, out, err = call(capsys, "predict", xor_path, "--data", tmp_path / "uv.csv")
        assert code == 0, err
        want = xor.predict(np.array([[0.0, 1.0], [1.0, 1.0]]))[:, 0]
        assert [float(r["probability"]) for r in csv.DictReader(io.StringIO(out))] == want.tolist()
    # ... but by name when the file does name x1 and x2.
    (tmp_path / "x.csv").write_text("x2,x1\n1,0\n")
    code, out, err = call(capsys, "predict", xor_path, "--data", tmp_path / "x.csv")
    assert code == 0 and float(out.splitlines()[1].split(",")[1]) == xor.predict([[0.0, 1.0]])[0, 0]
    # A file without a header (.npy) is taken by position even for a named model.
    np.save(tmp_path / "ab.npy", np.array([[0.0, 1.0]]))
    code, out, err = call(capsys, "predict", gate_model, "--data", tmp_path / "ab.npy")
    assert code == 0 and float(out.splitlines()[1].split(",")[1]) == model.predict([[0.0, 1.0]])[0, 0]


@pytest.fixture
def no_training(monkeypatch):
    """Any call of Trainer.fit fails the test: the error must come before training."""
    def fit(self, *args, **kwargs):
        raise AssertionError("training ran before the error")
    monkeypatch.setattr(fm.Trainer, "fit", fit)


@pytest.mark.parametrize("args, phrases", [
    (["--plot", "{d}/out.txt"], ["--plot {d}/out.txt", "cannot write images of type '.txt'", ".png", ".svg"]),
    (["--plot", "{d}/nope/x.png"], ["--plot {d}/nope/x.png", "the directory {d}/nope does not exist"]),
    (["--save", "{d}/nope/x.npz"], ["--save {d}/nope/x.npz", "the directory {d}/nope does not exist"]),
    (["--plot", "{d}"], ["--plot {d} is a directory", "expected an image file name"]),
    (["--save", "{d}"], ["--save {d} is a directory", "expected a file name"]),
])
def test_train_checks_its_output_files_before_training(capsys, tmp_path, no_training, args, phrases):
    args = [a.format(d=tmp_path) for a in args]
    code, out, err = call(capsys, "train", "--quiet", *args)
    assert_usage_error(code, out, err, *[p.format(d=tmp_path) for p in phrases])
    assert out == "" and list(tmp_path.iterdir()) == []


def test_train_refuses_a_read_only_output_directory(capsys, tmp_path, no_training, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    access = os.access             # as if not writable (chmod does not stop root)
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked) else access(p, mode))
    code, out, err = call(capsys, "train", "--quiet", "--save", locked / "m.npz")
    assert_usage_error(code, out, err, f"--save {locked / 'm.npz'}: the directory {locked} is not writable")


def test_plot_names_the_file_it_really_writes(capsys, tmp_path, xor_model):
    path, _ = xor_model
    code, out, err = call(capsys, "plot", path, "-o", tmp_path / "boundary")
    assert code == 0, err
    assert out == f"wrote {tmp_path / 'boundary.png'}\n"
    assert (tmp_path / "boundary.png").read_bytes()[:4] == b"\x89PNG" and not (tmp_path / "boundary").exists()
    code, out, err = call(capsys, "train", "--epochs", "3", "--plot", tmp_path / "run", "--json")
    assert code == 0, err
    assert json.loads(out)["plot"] == str(tmp_path / "run.png")
    assert (tmp_path / "run.png").read_bytes()[:4] == b"\x89PNG"
    code, out, err = call(capsys, "train", "--epochs", "3", "--plot", tmp_path / "run2")
    assert code == 0 and f"plot      {tmp_path / 'run2.png'}\n" in out
    code, out, err = call(capsys, "plot", path, "-o", tmp_path / "b.txt")
    assert_usage_error(code, out, err, f"--output {tmp_path / 'b.txt'}", "cannot write images of type '.txt'")


@pytest.mark.parametrize("labels, found, missing, recode", [
    ([1, 2, 2, 1], "1, 2", "(0 missing)", "0..1"),
    ([0, 2, 2, 0], "0, 2", "(1 missing)", "0..1"),
    ([0, 40, 40, 0], "0, 40", "(39 of 0..40 missing)", "0..1"),
    ([3, 1, 4, 1], "1, 3, 4", "(0, 2 missing)", "0..2"),
])
def test_integer_labels_with_gaps_are_refused(capsys, tmp_path, labels, found, missing, recode):
    data = tmp_path / "gaps.csv"
    data.write_text("a,b,cls\n" + "".join(f"{i % 2},{i // 2},{v}\n" for i, v in enumerate(labels)))
    code, out, err = call(capsys, "train", "--data", data, "--epochs", "2", "--quiet")
    assert_usage_error(code, out, err, f"the target 'cls' has the integer labels {found}",
                       "class labels must be 0..k-1", missing, f"re-encode them as {recode}",
                       "--output identity")


@pytest.mark.parametrize("labels, task, layers", [
    ([0, 1, 1, 0], "binary", [2, 8, 1]),
    ([0, 1, 2, 1], "multiclass", [2, 8, 3]),
    ([0.5, 2, 2, 0.5], "regression", [2, 8, 1]),
    ([-1, 1, 1, -1], "regression", [2, 8, 1]),
    ([0, 100, 100, 0], "regression", [2, 8, 1]),        # beyond 50 classes: a number, as before
])
def test_target_kinds_that_stay_as_they_were(capsys, tmp_path, labels, task, layers):
    data = tmp_path / "t.csv"
    data.write_text("a,b,t\n" + "".join(f"{i % 2},{i // 2},{v}\n" for i, v in enumerate(labels)))
    code, out, err = call(capsys, "train", "--data", data, "--epochs", "2", "--json")
    assert code == 0, err
    s = json.loads(out)
    assert s["task"] == task and s["layers"] == layers


def test_gapped_labels_train_as_regression_with_output_identity(capsys, tmp_path):
    data = tmp_path / "gaps.csv"
    data.write_text("a,b,cls\n0,0,1\n0,1,2\n1,0,2\n1,1,1\n")
    code, out, err = call(capsys, "train", "--data", data, "--epochs", "2", "--output", "identity", "--json")
    assert code == 0, err
    assert json.loads(out)["task"] == "regression"


def test_csv_with_a_byte_order_mark(capsys, tmp_path):
    data = tmp_path / "bom.csv"
    data.write_bytes(b"\xef\xbb\xbfa,b,label\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    code, out, err = call(capsys, "train", "--data", data, "--target", "label", "--epochs", "2", "--json")
    assert code == 0, err
    assert json.loads(out)["feature_names"] == ["a", "b"]


def test_npz_with_two_target_columns_or_unequal_rows(capsys, tmp_path):
    X, y = fm.datasets.xor()
    np.savez(tmp_path / "xy2.npz", X=X, y=np.c_[y, 1 - y])
    code, out, err = call(capsys, "train", "--data", tmp_path / "xy2.npz", "--epochs", "2", "--quiet")
    assert_usage_error(code, out, err, "xy2.npz: y has shape (4, 2)", "expected one target column")
    np.savez(tmp_path / "rows.npz", X=X, y=y[:3])
    code, out, err = call(capsys, "train", "--data", tmp_path / "rows.npz", "--epochs", "2", "--quiet")
    assert_usage_error(code, out, err, "rows.npz: X has 4 rows but y has 3")


def test_data_that_is_a_directory(capsys, tmp_path, xor_model):
    code, out, err = call(capsys, "train", "--data", tmp_path, "--quiet")
    assert_usage_error(code, out, err, f"--data {tmp_path} is a directory",
                       "expected a .csv, .npy or .npz file")
    code, out, err = call(capsys, "predict", xor_model[0], "--data", tmp_path)
    assert_usage_error(code, out, err, f"--data {tmp_path} is a directory")


def test_bench_usage_errors_exit_2(capsys):
    pytest.importorskip("fastmlp.bench")
    code, out, err = call(capsys, "bench", "--workloads", "nope")
    assert code == 2 and out == ""
    assert err == "fastmlp bench: error: unknown workload nope; choose from xor, line, tanh, deep, tabular, wide.\n"


def test_a_network_too_large_for_memory_is_an_input_error(capsys, no_training):
    # 4e16 parameters: more than any address space, whatever the overcommit policy.
    code, out, err = call(capsys, "train", "--hidden", "10000000000000000", "--quiet")
    assert_usage_error(code, out, err, "--hidden 10000000000000000", "2-10000000000000000-1",
                       "40,000,000,000,000,001 parameters", "more memory than can be allocated")
