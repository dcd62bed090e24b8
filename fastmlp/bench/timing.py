"""The timing protocol: warm-up, the timed runs taken round robin, the first
call's compile time and the BLAS limit of a step's matrix products."""

import gc
import math
import time

import numpy as np

from .. import datasets
from .. import kernels as K
from ..model import MLP
from ..trainer import Trainer
from .machine import load_average, machine_info
from .peers import CLASSES, IMPLEMENTATIONS, LABELS, Skipped
from .reporting import echo, format_ratio, format_time, summarize
from .targets import check_targets
from .workloads import SEED, WORKLOADS, Workload


def _pause():
    """Let the thread pools of the previous implementation go idle (OpenMP
    and XLA worker threads spin for a while after their last task)."""
    gc.collect()
    time.sleep(0.1)


def _new_row(wl, name):
    return {"workload": wl.name, "implementation": name, "label": LABELS[name]}


def warm_up(impl, wl, budget):
    """Prepare impl and run its warm-up; returns its result row so far, with
    the number of epochs each timed run will train."""
    row = _new_row(wl, impl.name)
    t0 = time.perf_counter()
    impl.prepare()
    row["prepare_seconds"] = time.perf_counter() - t0
    # Warm-up: a short run (fastmlp: compiles or loads numba's cache; JAX
    # compiles the full-length scan separately in _get, and its warm-up runs
    # the same compiled program that is timed).
    warm_epochs = wl.epochs if impl.name == "jax" else max(1, min(wl.epochs, 1 if wl.n > 1000 else 10))
    impl.reset()
    t0 = time.perf_counter()
    seconds, steps, _ = impl.run(warm_epochs)
    row["warmup_seconds"] = time.perf_counter() - t0
    row["warmup_steps"] = int(steps)
    epochs = wl.epochs
    if impl.python_loop and budget:
        per_epoch = seconds / max(warm_epochs, 1)
        if per_epoch * epochs > budget:
            epochs = max(1, int(budget / per_epoch))
    row.update(epochs=int(epochs), repeats=0, seconds_per_step=math.inf)
    return row


def _failed(exc):
    """The status of a row whose implementation raised exc."""
    return f"failed: {type(exc).__name__}: {exc}"[:200]


def timed_run(impl, wl, row):
    """One timed run of row["epochs"] epochs from the initial weights; keeps
    the best time per step and the last run's losses and scores in row."""
    _pause()
    impl.reset()
    seconds, steps, losses = impl.run(row["epochs"])
    best = min(row["seconds_per_step"], seconds / max(steps, 1))
    scores = impl.scores()
    row.update(
        status="ok",
        compile_seconds=impl.compile_seconds,
        steps=int(steps),
        full_steps=int(wl.epochs * wl.steps_per_epoch),
        repeats=row["repeats"] + 1,
        seconds_per_step=best,
        seconds_per_epoch=best * wl.steps_per_epoch,
        samples_per_second=wl.n / (best * wl.steps_per_epoch),
        gflops=wl.flops_per_epoch / (best * wl.steps_per_epoch) / 1e9,
        final_loss=float(losses[-1]) if len(losses) else float("nan"),
        accuracy=wl.accuracy(scores),
        note=impl.note,
    )
    if row["epochs"] < wl.epochs:
        extra = f"timed on {row['steps']}/{row['full_steps']} steps; loss/acc after those"
        row["note"] = f"{row['note']}; {extra}" if row["note"] else extra
    return row


def first_call_seconds(dtype=np.float32):
    """Time of the first fastmlp training and predict calls in this process:
    numba compiles the engine for dtype or loads it from its on-disk cache."""
    X, y = datasets.xor()
    model = MLP([2, 8, 1], output="sigmoid", dtype=dtype, seed=SEED)
    t0 = time.perf_counter()
    Trainer(model, loss="mse", lr=0.5, batch_size=4, epochs=1, seed=SEED).fit(X, y)
    model.predict(X)
    seconds = time.perf_counter() - t0
    hits = misses = 0
    for fn in (K.ENTRIES["train_epochs"][K.MSE], K.predict_into):  # the compiled functions of the mse fit
        stats = getattr(fn, "stats", None)
        if stats is not None:
            hits += sum(stats.cache_hits.values())
            misses += sum(stats.cache_misses.values())
    if misses:
        source = "compiled (numba cache cold)"
    elif hits:
        source = "loaded from numba's cache"
    else:
        source = "already compiled in this process"
    return {"seconds": seconds, "source": source, "cache_hits": hits, "cache_misses": misses}


def blas_limit(wl, seconds=1.0):
    """GEMM GFLOP/s of numpy, in wl's dtype, for the products of one training step of
    workload wl (same shapes and transposes). The products are timed round
    robin for about `seconds` and each keeps its best time, so a burst of load
    from other processes does not spoil one product's figure. That sum of best
    calls is a best case no whole step reaches, so the best and median time of
    a whole round (every product once, in the step's order) are kept too."""
    rng = np.random.default_rng(1)
    cases = []
    for m, k, n, ta, tb in wl.gemm_shapes():
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(wl.dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(wl.dtype)
        a = a.T if ta else a
        b = b.T if tb else b
        out = np.empty((m, n), dtype=wl.dtype)
        np.matmul(a, b, out=out)
        shape = f"({m}x{k})@({k}x{n})" + (" A transposed" if ta else "") + (" B transposed" if tb else "")
        cases.append([shape, a, b, out, 2.0 * m * n * k, math.inf])
    t_end = time.perf_counter() + seconds
    rounds = []
    while len(rounds) < 5 or time.perf_counter() < t_end:
        round_seconds = 0.0
        for case in cases:
            a, b, out = case[1], case[2], case[3]
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            dt = time.perf_counter() - t0
            case[5] = min(case[5], dt)
            round_seconds += dt
        rounds.append(round_seconds)
    total_flops = sum(c[4] for c in cases)
    total_seconds = sum(c[5] for c in cases)
    products = [{"shape": c[0], "seconds": c[5], "gflops": c[4] / c[5] / 1e9} for c in cases]
    return {"workload": wl.name, "gflops": total_flops / total_seconds / 1e9,
            "seconds_per_step": total_seconds, "rounds": len(rounds),
            "sequence_seconds_best": min(rounds), "sequence_seconds_median": float(np.median(rounds)),
            "products": products}


def run(workloads=None, impls=IMPLEMENTATIONS, quick=False, repeats=None, budget=None, echo=echo,
        custom=None, engine="auto"):
    """Run the comparison on the named workloads (default: all), or on the
    Workload `custom` alone, fastmlp with the Trainer's `engine` option;
    returns the JSON-able results dict."""
    if budget is None:
        budget = 1.0 if quick else 5.0
    impls = ["fastmlp"] + [i for i in IMPLEMENTATIONS if i in impls and i != "fastmlp"]
    if custom is not None:
        workloads = [custom]
    elif workloads is None:
        workloads = tuple(WORKLOADS)
    dtype = custom.dtype if custom is not None else np.float32
    results = {"quick": bool(quick), "budget_seconds": budget, "engine": engine, "rows": [], "blas": None,
               "first_call": None,
               "load_average_start": load_average()}
    machine = machine_info()
    if machine.get("blas_warning"):
        echo(f"WARNING: {machine['blas_warning']}")
    first = first_call_seconds(dtype)
    results["first_call"] = first
    echo(f"fastmlp first call ({np.dtype(dtype).name} train + predict): {first['seconds']:.3f} s, "
         f"{first['source']} - not included in any step time")
    imports = {}
    for wname in workloads:
        wl = wname if isinstance(wname, Workload) else Workload(wname, quick=quick)
        wname = wl.name
        echo(f"\n{wl.describe()}")
        reps = wl.repeats if repeats is None else max(1, int(repeats))
        if wname in ("wide", "custom"):
            # Measured right before the implementations warm up and run, so all see the same machine.
            results["blas"] = blas_limit(wl)
            echo(f"  BLAS limit: numpy {np.dtype(wl.dtype).name} GEMM on this step's products: "
                 f"{results['blas']['gflops']:.1f} GFLOP/s")
        # Every implementation is prepared and warmed up, then the timed runs go
        # round robin (one run of each, `reps` times): a machine whose speed
        # drifts for seconds at a time (as shared VMs do) then slows all of
        # them alike instead of whichever ran while it was slow.
        entries = []
        for name in impls:
            cls = CLASSES[name]
            row = _new_row(wl, name)
            impl = None
            try:
                if name not in imports:
                    t0 = time.perf_counter()
                    if cls.module is not None:
                        try:
                            __import__(cls.module)
                        except ImportError:
                            pass
                    imports[name] = time.perf_counter() - t0
                _pause()
                impl = cls(wl)
                if name == "fastmlp":
                    impl.engine = engine
                row = warm_up(impl, wl, None if name == "fastmlp" else budget)
                row["import_seconds"] = imports[name]
            except Skipped as exc:
                row.update(status=f"skipped ({exc})")
            except Exception as exc:  # a broken peer must not hide the others
                row.update(status=_failed(exc))
            entries.append((impl, row))
        for _ in range(reps):
            for impl, row in entries:
                if row.get("status", "ok") != "ok":
                    continue
                try:
                    timed_run(impl, wl, row)
                except Exception as exc:
                    row.update(status=_failed(exc))
        base = None
        for impl, row in entries:
            name = row["implementation"]
            if row["status"] == "ok":
                if name == "fastmlp":
                    base = row["seconds_per_step"]
                row["ratio"] = row["seconds_per_step"] / base if base else None
                echo(f"  {row['label']:<18} {format_time(row['seconds_per_step']):>10}/step  "
                     f"loss {row['final_loss']:.4g}  {'R^2' if wl.task == 'regression' else 'acc'} "
                     f"{row['accuracy']:.3f}"
                     + (f"  ratio {format_ratio(row['ratio'])}" if name != "fastmlp" and row["ratio"] else "")
                     + (f"  compile {row['compile_seconds']:.2f} s" if row["compile_seconds"] else "")
                     + (f"  ({row['note']})" if row["note"] else ""))
            else:
                echo(f"  {row['label']:<18} {row['status']}")
            results["rows"].append(row)
    results["summary"] = summarize(results["rows"])
    results["targets"] = check_targets(results)
    results["machine"] = machine
    results["load_average_end"] = load_average()
    results["import_seconds"] = imports
    return results
