"""What validating after every epoch costs, on the line and tabular workloads.

    python bench/validation_cost.py                     # line and tabular, 7 rounds
    python bench/validation_cost.py --workloads line --rounds 11 --json cost.json

For each workload of ``fastmlp bench`` (float32, its network, loss, batch
size and learning rate), the same training rows are trained three ways,
each from the same initial weights and seed:

* ``none``: no validation; chunks of epochs as large as the Trainer likes
  (about 50 ms each);
* ``split``: ``Trainer(validation_split=0.2)`` on all rows, i.e. 80% trained
  on, 20% validated after every epoch (loss and accuracy or R^2, and the
  training metric on a sample of the training rows): one epoch per chunk;
* ``chunks``: no validation, but one epoch per chunk, to tell the cost of
  stepping out of the compiled engine every epoch from the cost of the
  validation passes themselves;
* ``val only``: as ``split``, without the training-metric sample.

``none`` and ``chunks`` train on exactly the rows ``split`` trains on
(``Trainer.split``), so the four differ only in what happens between
epochs. The time is the History's (the fit's loop, not the set-up). Rounds
are interleaved; the cost is the median over rounds of each round's ratio
to ``none``. The target is a cost of at most 10% for ``split``.
Nothing fails on a miss.
"""

import argparse
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)      # measure this checkout's fastmlp

import numpy as np  # noqa: E402

import fastmlp as fm  # noqa: E402
from fastmlp import trainer as trainer_mod  # noqa: E402
from fastmlp.bench import Workload  # noqa: E402

TARGET = 0.10
# Epochs per run: enough for about 0.1-1 s of training.
EPOCHS = {"line": 500, "tabular": 10}


def run(wl, kind, X, Y, epochs):
    model = wl.model0.copy()
    split = 0.2 if kind in ("split", "val only") else None
    trainer = fm.Trainer(model, loss=wl.loss, lr=wl.lr, batch_size=wl.batch, epochs=epochs, seed=0,
                         validation_split=split)
    saved = trainer_mod.CHUNK_SECONDS, trainer_mod.METRIC_SAMPLE_FRACTION, trainer_mod.MIN_METRIC_SAMPLE
    if kind == "chunks":
        trainer_mod.CHUNK_SECONDS = 0.0           # one epoch per engine call
    if kind == "val only":
        trainer_mod.METRIC_SAMPLE_FRACTION = trainer_mod.MIN_METRIC_SAMPLE = 0
    try:
        history = trainer.fit(X, Y)
    finally:
        trainer_mod.CHUNK_SECONDS, trainer_mod.METRIC_SAMPLE_FRACTION, trainer_mod.MIN_METRIC_SAMPLE = saved
    return history.seconds


def measure(name, rounds, epochs):
    wl = Workload(name, dtype=np.float32)
    rows, _ = fm.Trainer(wl.model0.copy(), loss=wl.loss, seed=0, validation_split=0.2).split(wl.X, wl.Y)
    X_train, Y_train = wl.X[rows], wl.Y[rows]
    inputs = {"none": (X_train, Y_train), "chunks": (X_train, Y_train), "val only": (wl.X, wl.Y),
              "split": (wl.X, wl.Y)}
    for kind in inputs:                       # compile or load every kernel first
        run(wl, kind, *inputs[kind], 2)
    times = {kind: [] for kind in inputs}
    for _ in range(rounds):
        for kind in inputs:
            times[kind].append(run(wl, kind, *inputs[kind], epochs))
    ratios = {kind: statistics.median(t / base for t, base in zip(times[kind], times["none"])) - 1.0
              for kind in ("chunks", "val only", "split")}
    return {"workload": name, "n_train": len(rows), "n_validation": wl.n - len(rows), "epochs": epochs,
            "median_seconds": {kind: statistics.median(t) for kind, t in times.items()},
            "per_epoch_us": {kind: 1e6 * statistics.median(t) / epochs for kind, t in times.items()},
            "cost_of_one_epoch_chunks": ratios["chunks"], "cost_without_training_metric": ratios["val only"],
            "cost_of_validation": ratios["split"]}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python bench/validation_cost.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="line,tabular", help="comma-separated (default: line,tabular)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default: 7)")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args(argv)
    names = [w for w in args.workloads.split(",") if w]
    unknown = [w for w in names if w not in EPOCHS]
    if unknown or args.rounds < 1:
        parser.error(f"workloads must be among {', '.join(EPOCHS)} and --rounds >= 1")
    results = []
    print(f"{'':<41}{'us per epoch':^32}  {'cost over none':^30}")
    print(f"{'workload':<9} {'train/val rows':>15} {'epochs':>7} {'none':>9} {'chunks':>9} {'val only':>9} "
          f"{'split':>9}  {'chunks':>9} {'val only':>9} {'split':>9}")
    for name in names:
        r = measure(name, args.rounds, EPOCHS[name])
        results.append(r)
        pe = r["per_epoch_us"]
        print(f"{name:<9} {r['n_train']:>7}/{r['n_validation']:<7} {r['epochs']:>7} {pe['none']:>9.1f} "
              f"{pe['chunks']:>9.1f} {pe['val only']:>9.1f} {pe['split']:>9.1f}  "
              f"{100 * r['cost_of_one_epoch_chunks']:>+8.1f}% {100 * r['cost_without_training_metric']:>+8.1f}% "
              f"{100 * r['cost_of_validation']:>+8.1f}%")
    print(f"target: validation (the 'split' run, chunking included) costs at most {100 * TARGET:.0f}% "
          "over no validation")
    for r in results:
        met = r["cost_of_validation"] <= TARGET
        print(f"  {r['workload']:<9} {'met' if met else 'MISSED'} ({100 * r['cost_of_validation']:+.1f}%)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": args.rounds, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
