"""The ``fastmlp bench`` command line: options, their checks, and main()."""

import argparse
import json
import sys

import numpy as np

from ..engines import NAMES as ENGINE_NAMES
from .peers import IMPLEMENTATIONS
from .plot import plot_results
from .reporting import echo, report
from .timing import run
from .workloads import ACTIVATIONS, WORKLOADS, custom_workload


def build_parser(prog="fastmlp bench"):
    p = argparse.ArgumentParser(
        prog=prog, description="Train the benchmark workloads with fastmlp and every installed peer "
                               "(JAX, PyTorch, scikit-learn, the numpy reference) in one process and compare. "
                               "With --layers, --data or --dataset (and the options beside them), time your "
                               "own architecture and data instead.",
        epilog="examples:\n  fastmlp bench --workloads xor,tanh --quick\n"
               "  fastmlp bench --layers 2,64,64,1 --activation tanh --batch-size 64 --epochs 20 --dataset line\n"
               "  fastmlp bench --data houses.csv --target price --layers 8,32,32,1 --plot bench.png",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=None,
                   help="comma-separated subset of: " + ",".join(WORKLOADS) + " (default: all)")
    p.add_argument("--impls", default=",".join(IMPLEMENTATIONS),
                   help="comma-separated subset of: " + ",".join(IMPLEMENTATIONS) + " (fastmlp always runs)")
    p.add_argument("--quick", action="store_true", help="smoke run: few epochs, one repeat, small data")
    p.add_argument("--engine", choices=ENGINE_NAMES, default="auto",
                   help="fastmlp's training engine (the Trainer's engine option; default: auto)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed runs per implementation, best kept (default: 5 for the small workloads, "
                        "3 for tabular, wide and your own)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds a timed run of a Python-loop implementation may take before it is timed on "
                        "fewer epochs (default 5, --quick 1)")
    p.add_argument("--json", metavar="FILE", help="also write all results to FILE as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the comparison (needs the 'plot' extra)")
    own = p.add_argument_group("your own workload")
    own.add_argument("--layers", metavar="D,W,...,K", help="all widths, e.g. 2,64,64,1 (default: D,16,16,K)")
    own.add_argument("--activation", help="hidden activation: " + ", ".join(ACTIVATIONS) + " (default: relu)")
    own.add_argument("--output", help="output activation (default: from the target, as fastmlp train does)")
    own.add_argument("--loss", help="loss (default: from the output, as fastmlp train does)")
    own.add_argument("--lr", type=float, help="SGD learning rate (default: 0.1)")
    own.add_argument("--batch-size", type=int, help="samples per step (default: 32)")
    own.add_argument("--epochs", type=int, help="epochs per timed run (default: 10)")
    src = own.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="FILE", help="a .csv with a header row, or a .npy / .npz table")
    src.add_argument("--dataset", help="a built-in dataset: xor, line, celsius (default: line)")
    own.add_argument("--target", metavar="COLUMN", help="target column of --data (default: the last)")
    own.add_argument("--dtype", help="float32 (default) or float64")
    return p


class _UsageError(Exception):
    """A bad option value: main() prints it and returns 2, as argparse does."""


def _split(value, allowed, what):
    items = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad or not items:
        raise _UsageError(f"unknown {what} {', '.join(bad) or repr(value)}; choose from {', '.join(allowed)}.")
    return items


OWN_OPTIONS = ("layers", "activation", "output", "loss", "lr", "batch_size", "epochs", "data", "dataset",
               "target", "dtype")


def main(argv=None):
    """`fastmlp bench` / `python -m fastmlp.bench`. Returns an exit code."""
    args = build_parser().parse_args(argv)
    custom = None
    try:
        own = {k: getattr(args, k) for k in OWN_OPTIONS if getattr(args, k) is not None}
        if own and args.workloads is not None:
            raise _UsageError("--workloads names the built-in workloads; with --layers, --data or the other "
                              "options of your own workload, leave it out.")
        workloads = _split(args.workloads or ",".join(WORKLOADS), tuple(WORKLOADS), "workload")
        impls = _split(args.impls, IMPLEMENTATIONS, "implementation")
        if args.repeats is not None and args.repeats < 1:
            raise _UsageError("--repeats must be >= 1.")
        if args.plot:
            _plot_path(args.plot)
        if own:
            if "layers" in own:
                try:
                    own["layers"] = [int(w) for w in own["layers"].split(",")]
                except ValueError:
                    raise _UsageError(f"--layers takes comma-separated widths like 2,64,64,1; "
                                      f"got {args.layers!r}.") from None
            custom = custom_workload(**own)
            if args.quick:
                custom.epochs = custom.spec["quick_epochs"]
                custom.repeats = 1
    except (_UsageError, ValueError, TypeError, OSError) as exc:
        print(f"fastmlp bench: error: {exc}", file=sys.stderr)
        return 2
    results = run(workloads, impls, quick=args.quick, repeats=args.repeats, budget=args.budget, custom=custom,
                  engine=args.engine)
    echo("")
    echo(report(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=_json_default)
        echo(f"\nwrote {args.json}")
    if args.plot:
        plot_results(results, args.plot)
        echo(f"wrote {args.plot}")
    return 0


def _plot_path(path):
    """Refuse a --plot path that cannot be written, before anything runs."""
    from ..plot import image_formats
    from ..validation import check_file_type, missing_dependency, writable_file
    formats = image_formats()
    if formats is None:
        raise _UsageError(str(missing_dependency("--plot", "matplotlib", "plot")))
    check_file_type(writable_file(path, "--plot", expected="an image file name like bench.png"), "--plot",
                    formats, what="images")


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
