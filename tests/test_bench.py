"""The comparison runner (fastmlp.bench) without its optional peers: the FLOP
count, the quick run's rows and JSON, skipped peers. No timing assertions,
and torch/jax are blocked so they are never imported here."""

import json
import sys

import numpy as np
import pytest

from fastmlp import bench


@pytest.fixture
def no_peers(monkeypatch):
    """Make torch and jax look uninstalled (a None entry makes import fail)."""
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "jax", None)


def test_wide_flops_and_products():
    wl = bench.Workload("wide", quick=True)
    # forward: 1 product per Linear; backward: dW for each, dX for all but the first.
    per_sample = 3 * (784 * 512 + 512 * 512 + 512 * 10) - 784 * 512
    assert wl.flops_per_epoch == 2.0 * wl.n * per_sample
    shapes = wl.gemm_shapes()
    assert len(shapes) == 3 + 3 + 2
    assert sum(2 * m * k * n for m, k, n, _, _ in shapes) == 2 * wl.batch * per_sample
    assert wl.X.dtype == np.float32 and wl.Y.shape == (wl.n, 10)
    np.testing.assert_array_equal(wl.Y.argmax(axis=1), wl.labels)


def test_blas_limit_reports_the_best_calls_and_whole_sequences():
    wl = bench.Workload("xor")
    blas = bench.blas_limit(wl, seconds=0.01)
    assert len(blas["products"]) == len(wl.gemm_shapes()) and blas["rounds"] >= 5
    best_calls = sum(p["seconds"] for p in blas["products"])
    assert blas["seconds_per_step"] == pytest.approx(best_calls)
    # A whole round can never beat the sum of each product's best call.
    assert blas["sequence_seconds_best"] >= best_calls
    assert blas["sequence_seconds_median"] >= blas["sequence_seconds_best"]


def test_xor_line_and_wide_are_the_stated_ones():
    xor, line, wide = (bench.Workload(n) for n in ("xor", "line", "wide"))
    assert (xor.sizes, xor.loss, xor.batch, xor.lr, xor.epochs * xor.steps_per_epoch) == \
        ([2, 8, 1], "mse", 4, 0.5, 10_000)
    assert (line.sizes, line.loss, line.batch, line.lr, line.epochs, line.n, line.shuffle) == \
        ([2, 16, 16, 1], "bce", 32, 0.1, 50, 1000, True)
    assert (wide.sizes, wide.loss, wide.batch, wide.lr, wide.epochs, wide.X.shape) == \
        ([784, 512, 512, 10], "cross_entropy", 256, 0.01, 2, (8192, 784))


def test_new_workloads_are_the_stated_ones():
    tanh, deep, tab = (bench.Workload(n) for n in ("tanh", "deep", "tabular"))
    assert (tanh.sizes, tanh.activation, tanh.output, tanh.loss, tanh.batch, tanh.epochs, tanh.n) == \
        ([2, 64, 64, 1], "tanh", "sigmoid", "bce", 64, 20, 1000)
    assert [l.name for l in tanh.model0.layers] == ["Linear", "Tanh", "Linear", "Tanh", "Linear", "Sigmoid"]
    assert (deep.sizes, deep.activation, deep.batch, deep.epochs) == ([2] + [24] * 6 + [1], "relu", 16, 10)
    assert (tab.sizes, tab.loss, tab.batch, tab.epochs, tab.X.shape) == \
        ([16, 256, 256, 8], "cross_entropy", 128, 5, (4096, 16))
    # the line data of both small nets; 8 classes, all present, in the tabular one
    np.testing.assert_array_equal(tanh.X, deep.X)
    assert sorted(np.unique(tab.labels)) == list(range(8))


def test_custom_workload_from_options():
    wl = bench.custom_workload([2, 64, 64, 1], activation="tanh", batch_size=64, epochs=20)
    assert wl.describe() == ("custom: 2-64-64-1, tanh hidden, sigmoid out, bce, n=1000, batch 64, lr 0.1, "
                             "20 epochs (320 steps), float32 SGD")
    reg = bench.custom_workload(dataset="celsius", dtype="float64")
    assert (reg.sizes, reg.output, reg.loss, reg.task, reg.X.dtype) == \
        ([1, 16, 16, 1], "identity", "mse", "regression", np.float64)


def test_custom_workload_from_a_csv(tmp_path):
    path = tmp_path / "points.csv"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = (X.sum(axis=1) > 0).astype(int)
    path.write_text("a,b,c,label\n" + "\n".join(f"{r[0]},{r[1]},{r[2]},{t}" for r, t in zip(X, y)) + "\n")
    wl = bench.custom_workload([3, 8, 1], data=str(path), target="label", batch_size=10, epochs=2)
    assert (wl.task, wl.n, wl.steps_per_epoch) == ("binary", 50, 5)
    np.testing.assert_allclose(wl.X, X.astype(np.float32))


@pytest.mark.parametrize("argv, words", [
    (["--layers", "3,8,1"], ["'layers'", "start with the data's 2 features", "Got [3, 8, 1]"]),
    (["--layers", "2,x"], ["--layers", "2,64,64,1", "'2,x'"]),
    (["--activation", "softsign"], ["'activation'", "'relu'", "'softsign'"]),
    (["--batch-size", "0"], ["'batch_size'", ">= 1", "Got 0"]),
    (["--lr", "-1"], ["'lr'", "> 0.0", "-1"]),
    (["--dtype", "float16"], ["float32 or float64", "float16"]),
    (["--dataset", "mnist"], ["'dataset'", "'xor', 'line', 'celsius'"]),
    (["--target", "y"], ["'target'", "data file"]),
    (["--data", "/nonexistent.csv"], ["/nonexistent.csv", "no such file"]),
    (["--layers", "2,8,1", "--workloads", "xor"], ["--workloads", "leave it out"]),
    (["--plot", "/nonexistent/dir/b.png"], ["--plot", "does not exist"]),
])
def test_bad_custom_options_exit_2_naming_the_option(capsys, argv, words):
    assert bench.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.startswith("fastmlp bench: error: ") and err.count("\n") == 1
    for word in words:
        assert word in err, (word, err)


def test_blas_report_and_the_forced_kernels_warning():
    blas = [{"owner": "numpy", "library": "openblas", "version": "0.3.31", "architecture": "Haswell",
             "threads": 2, "threading_layer": "pthreads", "filepath": "x"}]
    warning = bench.blas_warning(blas, "AVX-512", environ={"OPENBLAS_CORETYPE": "Haswell"})
    assert "OPENBLAS_CORETYPE=Haswell" in warning and "AVX-512" in warning
    assert "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE" in warning
    assert bench.blas_warning(blas, "AVX2", environ={"OPENBLAS_CORETYPE": "Haswell"}).startswith(
        "OPENBLAS_CORETYPE=Haswell is set")
    assert bench.blas_warning(blas, "AVX-512", environ={}) is None
    skx = [dict(blas[0], architecture="SkylakeX")]
    assert "slower" not in (bench.blas_warning(skx, "AVX-512", environ={"OPENBLAS_CORETYPE": "SkylakeX"}) or "")
    found = bench.blas_libraries()
    assert {b["owner"] for b in found} >= {"numpy", "scipy"}
    assert all(b["library"] and b["threads"] for b in found)


def test_summary_leads_with_the_fastest_peer():
    rows = [dict(workload="w", implementation="fastmlp", status="ok", seconds_per_step=1.0, ratio=1.0),
            dict(workload="w", implementation="jax", status="ok", seconds_per_step=3.0, ratio=3.0),
            dict(workload="w", implementation="reference", status="ok", seconds_per_step=2.0, ratio=2.0),
            dict(workload="w", implementation="torch", status="skipped (not installed)")]
    (s,) = bench.summarize(rows)
    assert s["fastest_peer"] == "reference" and s["ratio_to_fastest"] == 2.0
    text = bench.format_summary([s])
    assert text.splitlines()[0].split(" | ")[2].strip() == "JAX jit+scan"  # the strongest peer's column first
    assert "numpy reference (2x)" in text


def test_quick_run_reference_matches_fastmlp_and_peers_are_skipped(no_peers, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = bench.main(["--workloads", "xor", "--impls", "fastmlp,reference,torch,jax", "--quick",
                       "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    rows = {r["implementation"]: r for r in data["rows"]}
    assert rows["torch"]["status"] == "skipped (not installed)"
    assert rows["jax"]["status"] == "skipped (not installed)"
    fm_row, ref = rows["fastmlp"], rows["reference"]
    assert fm_row["status"] == ref["status"] == "ok"
    assert fm_row["ratio"] == 1.0
    # Same initial weights, same batches, float32: the same training curve.
    assert fm_row["final_loss"] == pytest.approx(ref["final_loss"], rel=1e-4)
    assert fm_row["accuracy"] == ref["accuracy"] == 1.0
    assert fm_row["steps"] == 500 and fm_row["seconds_per_step"] > 0
    assert ref["ratio"] == pytest.approx(ref["seconds_per_step"] / fm_row["seconds_per_step"])
    assert "torch" not in sys.modules or sys.modules["torch"] is None
    text = capsys.readouterr().out
    assert "skipped (not installed)" in text and "numpy reference" in text
    assert data["machine"]["versions"]["numpy"] == np.__version__
    assert data["summary"][0]["fastest_peer"] == "reference"


def test_quick_custom_run_and_plot(no_peers, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "bench.png"
    code = bench.main(["--layers", "2,16,1", "--activation", "tanh", "--epochs", "2", "--quick",
                       "--impls", "fastmlp,reference", "--plot", str(png)])
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    assert "custom: 2-16-1, tanh hidden" in text and "BLAS:" in text


def test_bad_arguments_name_the_choices(capsys):
    """Usage errors return 2, as argparse's own do, with one line on stderr."""
    assert bench.main(["--workloads", "nope"]) == 2
    assert capsys.readouterr().err == "fastmlp bench: error: unknown workload nope; choose from xor, line, tanh, deep, tabular, wide.\n"
    assert bench.main(["--impls", "fastmlp,mxnet"]) == 2
    assert "unknown implementation mxnet" in capsys.readouterr().err
    assert bench.main(["--repeats", "0"]) == 2
    assert capsys.readouterr().err == "fastmlp bench: error: --repeats must be >= 1.\n"
