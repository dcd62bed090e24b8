"""The generic and the specialized training engine side by side.

    python bench/engines.py                       # xor, line, deep, tanh, tabular
    python bench/engines.py --workloads xor --repeats 9
    python bench/engines.py --compile             # also: compiling one new stack, cold and warm

Per workload of ``fastmlp bench`` (float32 SGD, the benchmark's settings), the
best time per step of each engine over --repeats fits, the two alternating
within each repeat so load drifts hit both alike; the first fit of each is a
warm-up (it compiles, or loads numba's cache). With --compile, two fresh
processes with an empty NUMBA_CACHE_DIR time the first XOR fit with the
generic engine, then one with the specialized engine (compiling the engine of
a new stack of layers), and a third process the same fit warm (loading it).
Nothing here fails on a number: speed lives in benchmarks.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import fastmlp as fm
from fastmlp.bench.workloads import Workload

FIRST_FIT = """
import sys, time
import numpy as np, fastmlp as fm
X, y = fm.datasets.xor()
model = fm.MLP([2, 8, 1], activation="relu", output="sigmoid", dtype=np.float32, seed=0)
t = time.process_time()
h = fm.Trainer(model, loss="mse", lr=0.5, batch_size=4, epochs=10, seed=0, engine=sys.argv[1]).fit(X, y)
print(h.engine, time.process_time() - t)
"""


def per_step(workloads, repeats):
    for name in workloads:
        wl = Workload(name)
        best = {"generic": float("inf"), "specialized": float("inf")}
        for r in range(repeats + 1):
            for engine in best:
                model = fm.MLP(wl.sizes, activation=wl.activation, output=wl.output, dtype=np.float32, seed=0)
                trainer = fm.Trainer(model, loss=wl.loss, lr=wl.lr, batch_size=wl.batch, epochs=wl.epochs, seed=0,
                                     engine=engine)
                t = time.perf_counter()
                history = trainer.fit(wl.X, wl.Y)
                seconds = time.perf_counter() - t
                if r:
                    best[engine] = min(best[engine], seconds / history.steps * 1e6)
        print(f"{name:8s} generic {best['generic']:9.3f} us/step   specialized {best['specialized']:9.3f} us/step"
              f"   generic / specialized {best['generic'] / best['specialized']:.2f}x", flush=True)


def first_fits():
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        env.pop("FASTMLP_ENGINE_DIR", None)
        for label, engine in (("cold, generic", "generic"), ("cold, specialized (new stack)", "specialized"),
                              ("warm, specialized", "specialized")):
            out = subprocess.run([sys.executable, "-c", FIRST_FIT, engine], env=env, capture_output=True,
                                 text=True, check=True).stdout.split()
            print(f"first XOR fit, {label:31s} {float(out[1]):6.2f} s CPU", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="xor,line,deep,tanh,tabular")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    per_step(args.workloads.split(","), args.repeats)
    if args.compile:
        first_fits()


if __name__ == "__main__":
    main()
