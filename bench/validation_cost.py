"""What validating after every epoch costs, on the line and tabular workloads.

    python bench/validation_cost.py                     # line and tabular, 7 rounds
    python bench/validation_cost.py --workloads line --rounds 11 --json cost.json

For each workload of ``fastmlp bench`` (float32, its network, loss, batch
size and learning rate), the same training rows are trained three ways,
each from the same initial weights and seed:

* ``none``: no validation;
* ``split``: ``Trainer(validation_split=0.2)`` on all rows, i.e. 80% trained
  on, 20% scored after every epoch inside the engine (validation loss and
  accuracy or R^2, the training metric of the epoch's batches, the best
  epoch);
* ``early``: as ``split``, with early stopping that restores the best
  weights (a patience longer than the run, so it trains every epoch).

``none`` trains on exactly the rows the others train on
(``Trainer.split``), so the three differ only in what is watched. The time
is the History's (the fit's loop, not the set-up). Rounds are interleaved;
the cost is the median over rounds of each round's ratio to ``none``. The
target is a cost of at most 10% for ``split`` and ``early``. Nothing fails
on a miss.
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
from fastmlp.bench import Workload  # noqa: E402

TARGET = 0.10
# Epochs per run: enough for about 0.1-1 s of training.
EPOCHS = {"line": 500, "tabular": 10}


KINDS = ("none", "split", "early")


def run(wl, kind, X, Y, epochs):
    model = wl.model0.copy()
    trainer = fm.Trainer(model, loss=wl.loss, lr=wl.lr, batch_size=wl.batch, epochs=epochs, seed=0,
                         validation_split=None if kind == "none" else 0.2,
                         early_stopping=epochs + 1 if kind == "early" else None)
    return trainer.fit(X, Y).seconds


def measure(name, rounds, epochs):
    wl = Workload(name, dtype=np.float32)
    rows, _ = fm.Trainer(wl.model0.copy(), loss=wl.loss, seed=0, validation_split=0.2).split(wl.X, wl.Y)
    inputs = {"none": (wl.X[rows], wl.Y[rows]), "split": (wl.X, wl.Y), "early": (wl.X, wl.Y)}
    for kind in KINDS:                        # compile or load every kernel first
        run(wl, kind, *inputs[kind], 2)
    times = {kind: [] for kind in KINDS}
    for _ in range(rounds):
        for kind in KINDS:
            times[kind].append(run(wl, kind, *inputs[kind], epochs))
    costs = {kind: statistics.median(t / base for t, base in zip(times[kind], times["none"])) - 1.0
             for kind in KINDS[1:]}
    return {"workload": name, "n_train": len(rows), "n_validation": wl.n - len(rows), "epochs": epochs,
            "median_seconds": {kind: statistics.median(t) for kind, t in times.items()},
            "per_epoch_us": {kind: 1e6 * statistics.median(t) / epochs for kind, t in times.items()},
            "cost": costs}


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
    print(f"{'':<33}{'us per epoch':^30}  {'cost over none':^20}")
    print(f"{'workload':<9} {'train/val rows':>15} {'epochs':>7} {'none':>9} {'split':>9} {'early':>9}  "
          f"{'split':>9} {'early':>9}")
    for name in names:
        r = measure(name, args.rounds, EPOCHS[name])
        results.append(r)
        pe, cost = r["per_epoch_us"], r["cost"]
        print(f"{name:<9} {r['n_train']:>7}/{r['n_validation']:<7} {r['epochs']:>7} {pe['none']:>9.1f} "
              f"{pe['split']:>9.1f} {pe['early']:>9.1f}  {100 * cost['split']:>+8.1f}% {100 * cost['early']:>+8.1f}%")
    print(f"target: validating every epoch costs at most {100 * TARGET:.0f}% over no validation")
    for r in results:
        worst = max(r["cost"].values())
        print(f"  {r['workload']:<9} {'met' if worst <= TARGET else 'MISSED'} ({100 * worst:+.1f}% at most)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": args.rounds, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
