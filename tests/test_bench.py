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


def test_workload_settings_match_the_issue():
    xor, line, wide = (bench.Workload(n) for n in ("xor", "line", "wide"))
    assert (xor.sizes, xor.loss, xor.batch, xor.lr, xor.epochs * xor.steps_per_epoch) == \
        ([2, 8, 1], "mse", 4, 0.5, 10_000)
    assert (line.sizes, line.loss, line.batch, line.lr, line.epochs, line.n, line.shuffle) == \
        ([2, 16, 16, 1], "bce", 32, 0.1, 50, 1000, True)
    assert (wide.sizes, wide.loss, wide.batch, wide.lr, wide.epochs, wide.X.shape) == \
        ([784, 512, 512, 10], "cross_entropy", 256, 0.01, 2, (8192, 784))


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


def test_bad_arguments_name_the_choices(capsys):
    """Usage errors return 2, as argparse's own do, with one line on stderr."""
    assert bench.main(["--workloads", "nope"]) == 2
    assert capsys.readouterr().err == "fastmlp bench: error: unknown workload nope; choose from xor, line, wide.\n"
    assert bench.main(["--impls", "fastmlp,mxnet"]) == 2
    assert "unknown implementation mxnet" in capsys.readouterr().err
    assert bench.main(["--repeats", "0"]) == 2
    assert capsys.readouterr().err == "fastmlp bench: error: --repeats must be >= 1.\n"
