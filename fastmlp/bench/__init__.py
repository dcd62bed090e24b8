"""Side-by-side training benchmark: fastmlp against its peers, in one process.

Run it as ``fastmlp bench``, ``python -m fastmlp.bench`` or ``make compare``::

    python -m fastmlp.bench                       # all workloads, every peer that imports
    python -m fastmlp.bench --workloads xor,line --quick
    python -m fastmlp.bench --json out.json       # also write the results as JSON

Each workload (see ``WORKLOADS``) is trained by fastmlp and then by every
peer that can be imported: the plain-numpy reference
(``fastmlp.reference.Net``, always there), PyTorch eager, JAX (``jax.jit`` +
``lax.scan``) and scikit-learn's ``MLPClassifier`` (``MLPRegressor`` for a
regression). All of them start from the
same initial weights (fastmlp's ``MLP(..., seed=0)``), use float32, plain SGD
and the same hyperparameters; fastmlp, the reference, PyTorch and JAX also see
the same minibatches (``fastmlp.trainer.shuffle_orders``). scikit-learn draws
its own shuffles and always trains a sigmoid/softmax output with log-loss, so
its loss column is its log-loss, reported as it is.

Protocol per workload: each implementation is prepared and does a warm-up run
(which for fastmlp and JAX also pays compilation; compile time is reported in
its own column, never in step times); then ``repeats`` rounds in which every
implementation makes one timed run from the initial weights, round robin, so a
drift of the machine's speed hits them alike. The best (min) time per step of
each is reported. Implementations whose steps are slow (Python loops)
are timed on fewer epochs when a full run would exceed ``budget`` seconds; the
row then says how many steps were timed, and its loss and accuracy are those
after the steps it ran. Peers that are not installed are listed as skipped.

The package keeps each part in its own module: ``workloads`` (the built-in
workloads and ``custom_workload``), ``peers`` (fastmlp and each peer's
adapter, the order and labels of the tables), ``timing`` (warm-up, the timed
round-robin runs, the first call, the BLAS limit), ``machine`` (CPU, load,
versions, the BLAS libraries loaded), ``reporting`` (tables and the report),
``targets`` (the speed fastmlp aims for, checked on each run), ``plot`` (the
chart) and ``command`` (the command line). torch, jax and scikit-learn are
imported only inside the functions that run them; importing fastmlp never
imports this package.
"""

from .workloads import ACTIVATIONS, SEED, WORKLOADS, Workload, custom_workload, workload_data
from .peers import CLASSES, IMPLEMENTATIONS, LABELS, PEERS, FastMLP, Jax, Peer, Reference, Skipped, Sklearn, Torch
from .machine import (BUSY_LOAD, OPENBLAS_AVX512, blas_libraries, blas_warning, cpu_simd, describe_blas,
                      machine_info)
from .reporting import format_summary, format_table, report, summarize
from .targets import BLAS_SHARE_TARGET, RATIO_TARGETS, check_targets
from .timing import blas_limit, first_call_seconds, run, timed_run, warm_up
from .plot import plot_results
from .command import OWN_OPTIONS, build_parser, main

__all__ = [
    "ACTIVATIONS", "SEED", "WORKLOADS", "Workload", "custom_workload", "workload_data",
    "CLASSES", "IMPLEMENTATIONS", "LABELS", "PEERS", "FastMLP", "Jax", "Peer", "Reference", "Skipped", "Sklearn",
    "Torch",
    "BUSY_LOAD", "OPENBLAS_AVX512", "blas_libraries", "blas_warning", "cpu_simd", "describe_blas", "machine_info",
    "format_summary", "format_table", "report", "summarize",
    "BLAS_SHARE_TARGET", "RATIO_TARGETS", "check_targets",
    "blas_limit", "first_call_seconds", "run", "timed_run", "warm_up",
    "plot_results",
    "OWN_OPTIONS", "build_parser", "main",
]
