"""Start-up time and peak memory of fastmlp as whole processes.

    python bench/startup.py                 # warm x5, cold x1, memory
    python bench/startup.py --runs 10 --cold-runs 2 --json startup.json

Measures, each as a fresh child process:
* warm start: wall time of ``fastmlp train --dataset xor --quiet`` with numba's
  on-disk cache filled (one untimed run first fills it); best and median.
* cold start: the same with ``NUMBA_CACHE_DIR`` pointing at a fresh empty
  temporary directory, so every kernel compiles (and is written to that cache).
* peak memory: the maximum resident set size of training ``line`` -- the CLI
  (``fastmlp train --dataset line --quiet``) and the benchmark workload through
  the library (float32 2-16-16-1, bce, batch 32, 50 epochs) -- read with
  ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` in a wrapper process that
  runs nothing else. With PyTorch installed, the same workload in PyTorch too.
* for scale: the interpreter alone, ``import fastmlp`` and ``import torch``.

The targets are printed next to the figures; nothing here fails
on a miss: speed lives in benchmarks, not in assertions.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TARGETS = {"warm": 1.0, "cold": 6.0, "rss_mb": 170.0}

# Training `line` through the library with the benchmark's settings.
LINE_FASTMLP = """
import numpy as np, fastmlp as fm
X, y = fm.datasets.line(1000, seed=0)
model = fm.MLP([2, 16, 16, 1], activation="relu", output="sigmoid", dtype=np.float32, seed=0)
h = fm.Trainer(model, loss="bce", lr=0.1, batch_size=32, epochs=50, seed=0).fit(X, y)
assert h.final_loss < 0.1, h.final_loss
"""

LINE_TORCH = """
import numpy as np, torch, fastmlp as fm
torch.set_num_threads(2)
torch.manual_seed(0)
X, y = fm.datasets.line(1000, seed=0)
X, y = torch.from_numpy(X.astype(np.float32)), torch.from_numpy(y.astype(np.float32))
net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
                          torch.nn.Linear(16, 1))
opt = torch.optim.SGD(net.parameters(), lr=0.1)
loss_fn = torch.nn.BCEWithLogitsLoss()
g = torch.Generator().manual_seed(0)
for epoch in range(50):
    order = torch.randperm(1000, generator=g)
    for s in range(0, 1000, 32):
        idx = order[s:s + 32]
        opt.zero_grad()
        loss = loss_fn(net(X[idx]), y[idx])
        loss.backward()
        opt.step()
"""

# Runs argv[1:] as a child and prints the child's peak RSS in KiB.
RSS_WRAPPER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if sys.platform == "darwin":
    peak //= 1024  # bytes there, KiB on Linux
print(peak, code)
"""

# Appended to LINE_FASTMLP: the resident memory at the end of training, split
# into the process's own (anonymous) pages and pages of mapped files (mostly
# shared libraries; Linux only). The file part depends on the kernel's page
# cache, not on fastmlp: two venvs with the same packages had 70 MB of
# libllvmlite.so resident (installed hours before) and 82 MB (just installed).
RSS_SPLIT = """
import json
try:
    with open("/proc/self/status") as fh:
        kb = {k: int(v.split()[0]) for k, v in (l.split(":", 1) for l in fh) if k in ("VmRSS", "RssAnon", "RssFile")}
    print(json.dumps({k: v * 1024 / 1e6 for k, v in kb.items()}))
except OSError:
    pass
"""


def fastmlp_command():
    """The installed ``fastmlp`` console script next to this interpreter, else ``python -m fastmlp``."""
    script = os.path.join(os.path.dirname(sys.executable), "fastmlp")
    if os.path.exists(script):
        return [script]
    found = shutil.which("fastmlp")
    return [found] if found else [sys.executable, "-m", "fastmlp"]


def wall(cmd, env=None):
    """Wall time of a child process; raises if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return seconds


def peak_rss_mb(cmd, env=None):
    """Peak RSS (MB) of cmd as a whole process, measured from a wrapper that runs nothing else."""
    out = subprocess.run([sys.executable, "-c", RSS_WRAPPER, *cmd], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    kib, code = int(out[0]), int(out[1])
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {code}")
    return kib * 1024 / 1e6


def _have(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None


def measure(runs=5, cold_runs=1, torch=True, echo=print):
    cmd = fastmlp_command() + ["train", "--dataset", "xor", "--quiet"]
    results = {"command": " ".join(["fastmlp"] + cmd[-4:]), "executable": cmd[0]}
    try:
        results["load_average_start"] = list(os.getloadavg())
    except OSError:
        pass

    # Warm: fill the default cache with an untimed run, then time.
    wall(cmd)
    times = [wall(cmd) for _ in range(runs)]
    results["warm"] = {"best": min(times), "median": statistics.median(times), "runs": times}
    echo(f"warm start  {results['command']}: best {min(times):.3f} s, median {statistics.median(times):.3f} s "
         f"({runs} runs; target < {TARGETS['warm']} s)")

    # Cold: an empty numba cache directory per run.
    cold = []
    for _ in range(cold_runs):
        tmp = tempfile.mkdtemp(prefix="fastmlp-numba-cache-")
        try:
            cold.append(wall(cmd, env={**os.environ, "NUMBA_CACHE_DIR": tmp}))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if cold:
        results["cold"] = {"best": min(cold), "median": statistics.median(cold), "runs": cold}
        echo(f"cold start  (empty NUMBA_CACHE_DIR): best {min(cold):.3f} s ({cold_runs} run(s); "
             f"target < {TARGETS['cold']} s)")

    # Peak memory of training line, each command run once untimed first so that
    # numba's cache holds its kernels (compiling raises the peak to ~290 MB).
    commands = {"fastmlp train --dataset line --quiet": fastmlp_command() + ["train", "--dataset", "line", "--quiet"],
                "library: line workload, float32": [sys.executable, "-c", LINE_FASTMLP]}
    if torch and _have("torch"):
        commands["PyTorch: line workload, float32"] = [sys.executable, "-c", LINE_TORCH]
    rss = {}
    for name, command in commands.items():
        wall(command)
        rss[name] = peak_rss_mb(command)
    results["peak_rss_mb"] = rss
    for name, mb in rss.items():
        target = f"; target < {TARGETS['rss_mb']:.0f} MB" if not name.startswith("PyTorch") else ""
        echo(f"peak RSS    {name}: {mb:.0f} MB{target}")
    split = subprocess.run([sys.executable, "-c", LINE_FASTMLP + RSS_SPLIT], capture_output=True, text=True,
                           check=True).stdout.strip()
    if split:
        split = json.loads(split.splitlines()[-1])
        results["rss_at_end_mb"] = split
        echo(f"            library run at the end of training: {split['VmRSS']:.0f} MB resident = "
             f"{split['RssAnon']:.0f} MB the process's own + {split['RssFile']:.0f} MB of mapped files "
             f"(shared libraries; llvmlite's alone is 70-82 MB, depending on the page cache)")

    # For scale: bare interpreter and imports.
    scale = {"python -c pass": wall([sys.executable, "-c", "pass"]),
             "python -c 'import fastmlp'": wall([sys.executable, "-c", "import fastmlp"])}
    if torch and _have("torch"):
        scale["python -c 'import torch'"] = wall([sys.executable, "-c", "import torch"])
    results["for_scale"] = scale
    for name, seconds in scale.items():
        echo(f"for scale   {name}: {seconds:.3f} s")
    try:
        results["load_average_end"] = list(os.getloadavg())
        echo(f"load average before {results['load_average_start'][0]:.2f}, after {results['load_average_end'][0]:.2f}"
             " (1 min; timings are unreliable when other processes run)")
    except (OSError, KeyError):
        pass
    results["targets"] = TARGETS
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="timed warm runs (default 5)")
    p.add_argument("--cold-runs", type=int, default=1, help="cold runs, each with an empty cache (default 1)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch figures")
    p.add_argument("--json", metavar="FILE", help="also write the results to FILE")
    args = p.parse_args(argv)
    results = measure(max(1, args.runs), max(0, args.cold_runs), torch=not args.no_torch)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
