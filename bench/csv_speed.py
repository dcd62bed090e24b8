"""Reading a large CSV: fastmlp's reader against np.loadtxt, time and peak memory.

    python bench/csv_speed.py                      # 200,000 x 20, 3 runs of each reader
    python bench/csv_speed.py --rows 50000 --runs 5 --json csv.json

Writes, in a temporary directory, a CSV with a header row and ROWS rows of
COLS numeric columns (normal draws written with 6 significant digits), and a
copy whose last column holds text class labels. Each reader then runs in a
fresh child process (so one run's memory does not count in the next), which
imports fastmlp first and then measures only the read:

* time: wall time of the call, best and median of the runs;
* peak memory: the largest resident set size during the call minus the
  resident set size just before it (Linux: /proc/self/status after resetting
  the peak through /proc/self/clear_refs; elsewhere ru_maxrss, which may
  under-report when importing peaked higher).

Readers: ``np.loadtxt`` (the C parser, the baseline), ``fastmlp.datasets.load_table``
(what ``fastmlp train --data`` reads) and ``load_labelled`` on the labelled
copy. The targets (issue 13) are printed next to the figures: within 1.5x
of np.loadtxt's time and a peak under 3x the file size. Nothing fails on a
miss: speed lives in benchmarks, not in assertions.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIME_RATIO_TARGET = 1.5
MEMORY_RATIO_TARGET = 3.0

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np
import fastmlp.datasets as ds

def rss_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False

path, reader = sys.argv[1], sys.argv[2]
calls = {{
    "np.loadtxt": lambda: np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2),
    "load_table": lambda: ds.load_table(path),
    "load_labelled": lambda: ds.load_labelled(path),
}}
before = rss_kb("VmRSS")
exact = reset_peak() and before is not None
base = before if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
result = calls[reader]()
seconds = time.perf_counter() - t0
peak = rss_kb("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": seconds, "peak_mb": (peak - base) / 1024, "exact": exact}}))
"""


def write_files(directory, rows, cols, seed=0):
    """A numeric CSV and a copy with text labels in its last column."""
    import numpy as np
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((rows, cols))
    numeric = os.path.join(directory, f"numeric-{rows}x{cols}.csv")
    header = ",".join(f"x{j + 1}" for j in range(cols - 1)) + ",y"
    np.savetxt(numeric, data, delimiter=",", fmt="%.6g", header=header, comments="")
    labelled = os.path.join(directory, f"labelled-{rows}x{cols}.csv")
    names = np.array(["alpha", "beta", "gamma"])[rng.integers(0, 3, size=rows)]
    with open(labelled, "w") as f:
        f.write(header + "\n")
        for row, name in zip(np.char.mod("%.6g", data[:, :-1]), names):
            f.write(",".join(row) + "," + name + "\n")
    return numeric, labelled


def measure(path, reader):
    proc = subprocess.run([sys.executable, "-c", CHILD.format(root=ROOT), path, reader],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{reader} on {path} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python bench/csv_speed.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3, help="runs of each reader, interleaved (default: 3)")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.cols < 2 or args.runs < 1:
        parser.error("--rows and --runs must be >= 1 and --cols >= 2")

    with tempfile.TemporaryDirectory(prefix="fastmlp-csv-") as directory:
        numeric, labelled = write_files(directory, args.rows, args.cols)
        jobs = [("np.loadtxt", numeric), ("load_table", numeric), ("load_labelled", labelled)]
        sizes = {path: os.path.getsize(path) / 2 ** 20 for _, path in jobs}
        runs = {reader: [] for reader, _ in jobs}
        measure(numeric, "load_table")          # numba's cache and the page cache warm
        for _ in range(args.runs):              # interleaved: a change in the machine's speed hits every reader alike
            for reader, path in jobs:
                runs[reader].append(measure(path, reader))

    base = min(r["seconds"] for r in runs["np.loadtxt"])
    print(f"{args.rows:,} x {args.cols} CSV, {sizes[numeric]:.1f} MB ({sizes[labelled]:.1f} MB with text labels), "
          f"{args.runs} runs each")
    print(f"{'reader':<15} {'best s':>8} {'median s':>9} {'x loadtxt':>10} {'peak MB':>8} {'x file':>7}")
    results = []
    for reader, path in jobs:
        seconds = [r["seconds"] for r in runs[reader]]
        peak = max(r["peak_mb"] for r in runs[reader])
        row = {"reader": reader, "file_mb": sizes[path], "best_seconds": min(seconds),
               "median_seconds": statistics.median(seconds), "time_ratio": min(seconds) / base,
               "peak_mb": peak, "memory_ratio": peak / sizes[path],
               "peak_exact": all(r["exact"] for r in runs[reader])}
        results.append(row)
        print(f"{reader:<15} {row['best_seconds']:>8.3f} {row['median_seconds']:>9.3f} {row['time_ratio']:>10.2f} "
              f"{row['peak_mb']:>8.1f} {row['memory_ratio']:>7.2f}")
    print(f"targets: time within {TIME_RATIO_TARGET}x of np.loadtxt, peak memory under {MEMORY_RATIO_TARGET}x "
          "the file size")
    for row in results[1:]:
        ok_time = row["time_ratio"] <= TIME_RATIO_TARGET
        ok_mem = row["memory_ratio"] < MEMORY_RATIO_TARGET
        print(f"  {row['reader']:<15} time {'met' if ok_time else 'MISSED'}, memory {'met' if ok_mem else 'MISSED'}")
    if not all(r["peak_exact"] for r in results):
        print("note: /proc/self/clear_refs was not writable; peaks come from ru_maxrss and may under-report.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": args.rows, "cols": args.cols, "runs": args.runs, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
