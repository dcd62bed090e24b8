"""The speed fastmlp aims for, checked against each run: the least ratio (peer
time / fastmlp time per step) against the strongest peer, JAX jit+scan, on
each workload, and fastmlp's share of numpy's GEMM speed on the products of a
wide step."""

from .peers import LABELS
from .reporting import format_ratio

RATIO_TARGETS = [("xor", "jax", 4.0), ("line", "jax", 3.0), ("tanh", "jax", 2.0), ("deep", "jax", 2.0),
                 ("tabular", "jax", 1.5), ("wide", "jax", 1.0)]
BLAS_SHARE_TARGET = 0.85


def check_targets(results):
    """The targets against this run: a list of {target, measured, met}."""
    rows = {(r["workload"], r["implementation"]): r for r in results["rows"] if r["status"] == "ok"}
    out = []
    for wname, peer, need in RATIO_TARGETS:
        if (wname, "fastmlp") not in rows:
            continue
        r = rows.get((wname, peer))
        got = r["ratio"] if r else None
        out.append({"target": f"{wname}: >= {need:g}x {LABELS[peer]}", "measured":
                    format_ratio(got) if got is not None else "not run",
                    "met": None if got is None else got >= need})
    blas, r = results.get("blas"), rows.get(("wide", "fastmlp"))
    if blas and r and blas["workload"] == "wide":
        share = r["gflops"] / blas["gflops"]
        out.append({"target": f"wide: >= {BLAS_SHARE_TARGET:.0%} of numpy's GEMM GFLOP/s",
                    "measured": f"{share:.0%}", "met": share >= BLAS_SHARE_TARGET})
    return out
