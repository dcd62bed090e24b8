"""The text of a run: the table of every row, the summary of each peer's
ratio, and the report printed after a run."""

import math

from .machine import BUSY_LOAD, describe_blas
from .peers import LABELS, PEERS


def echo(*args):
    """print, flushed at once: the progress lines of a run show as they come."""
    print(*args, flush=True)


def format_time(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def format_ratio(r):
    if r is None or not math.isfinite(r):
        return "-"
    return f"{r:.0f}x" if r >= 100 else f"{r:.3g}x"


def _num(value, fmt):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, fmt)


def _columns(header, lines):
    """The header, a rule and the lines, each column as wide as its widest cell."""
    widths = [max(len(h), *(len(str(l[i])) for l in lines)) if lines else len(h) for i, h in enumerate(header)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths)), "-+-".join("-" * w for w in widths)]
    out += [" | ".join(str(c).ljust(w) for c, w in zip(l, widths)) for l in lines]
    return "\n".join(out)


def format_table(rows):
    header = ["workload", "implementation", "time/step", "time/epoch", "samples/s", "GFLOP/s",
              "final loss", "acc / R^2", "ratio", "compile", "steps timed"]
    lines = []
    for r in rows:
        if r["status"] != "ok":
            lines.append([r["workload"], r["label"], r["status"]] + [""] * (len(header) - 3))
            continue
        lines.append([
            r["workload"], r["label"], format_time(r["seconds_per_step"]), format_time(r["seconds_per_epoch"]),
            _num(r["samples_per_second"], ".3g"), _num(r["gflops"], ".3g"), _num(r["final_loss"], ".4g"),
            _num(r["accuracy"], ".3f"), ("1 (base)" if r["implementation"] == "fastmlp"
                                         else format_ratio(r.get("ratio"))),
            format_time(r["compile_seconds"]) if r["compile_seconds"] is not None else "-",
            f"{r['steps']}/{r['full_steps']}" + (f" x{r['repeats']}" if r["repeats"] > 1 else ""),
        ])
    return _columns(header, lines)


def summarize(rows):
    """Per workload: fastmlp's time per step, each peer's ratio (peer time /
    fastmlp time) and the fastest peer that ran."""
    out = []
    for wname in dict.fromkeys(r["workload"] for r in rows):
        ok = {r["implementation"]: r for r in rows if r["workload"] == wname and r["status"] == "ok"}
        if "fastmlp" not in ok:
            continue
        peers = [(ok[p]["seconds_per_step"], p) for p in PEERS if p in ok]
        fastest = min(peers)[1] if peers else None
        out.append({"workload": wname, "fastmlp_seconds_per_step": ok["fastmlp"]["seconds_per_step"],
                    "ratios": {p: ok[p]["ratio"] for p in PEERS if p in ok}, "fastest_peer": fastest,
                    "ratio_to_fastest": ok[fastest]["ratio"] if fastest else None})
    return out


def format_summary(summary):
    """The comparison in one table: a row per workload, a column per peer."""
    header = ["workload", "fastmlp/step"] + [LABELS[p] for p in PEERS] + ["fastest peer"]
    lines = []
    for s in summary:
        fastest = s["fastest_peer"]
        lines.append([s["workload"], format_time(s["fastmlp_seconds_per_step"])]
                     + [format_ratio(s["ratios"].get(p)) for p in PEERS]
                     + [f"{LABELS[fastest]} ({format_ratio(s['ratio_to_fastest'])})" if fastest else "-"])
    return _columns(header, lines)


def report(results):
    """The summary printed after a run."""
    lines = []
    m = results["machine"]
    v = m["versions"]
    start, end = results.get("load_average_start"), results.get("load_average_end")
    fmt = lambda load: ", ".join(f"{x:.2f}" for x in load) if load else "n/a"  # noqa: E731
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable); "
                 f"load average before the run {fmt(start)}, after {fmt(end)}")
    if start and start[0] > BUSY_LOAD:
        lines.append(f"WARNING: the machine was busy before the run (1-minute load {start[0]:.2f}): other "
                     f"processes compete for the cores and the timings are not reliable.")
    lines.append(describe_blas(m))
    if m.get("blas_warning"):
        lines.append(f"WARNING: {m['blas_warning']}")
    lines.append("Versions: " + ", ".join(f"{k} {val if val else 'not installed'}" for k, val in v.items()))
    lines.append("")
    lines.append(format_table(results["rows"]))
    lines.append("")
    lines.append("time/step: best of the timed runs (taken round robin, after a warm-up run of each); ratio: "
                 "that implementation's time per step / fastmlp's (above 1: fastmlp is faster); GFLOP/s counts "
                 "2*m*n*k per matrix product "
                 "(forward 1 per Linear, backward 2 except dX of the first layer).")
    first = results["first_call"]
    lines.append(f"fastmlp first call in this process: {first['seconds']:.3f} s ({first['source']}); "
                 f"never included in step times. JAX compile time is in the 'compile' column.")
    lines.append(f"fastmlp engine option: {results.get('engine', 'auto')} (the engine each workload ran is in "
                 f"its note; see fastmlp.engines).")
    blas = results.get("blas")
    if blas:
        fm_row = next((r for r in results["rows"] if r["workload"] == blas["workload"]
                       and r["implementation"] == "fastmlp" and r["status"] == "ok"), None)
        line = (f"BLAS limit ({blas['workload']} shapes, numpy GEMM): {blas['gflops']:.1f} GFLOP/s "
                f"({blas['seconds_per_step'] * 1e3:.3g} ms of products per step, each product's best call; "
                f"all of them back to back: best {blas['sequence_seconds_best'] * 1e3:.3g} ms, median "
                f"{blas['sequence_seconds_median'] * 1e3:.3g} ms)")
        if fm_row:
            line += f"; fastmlp reaches {fm_row['gflops']:.1f} GFLOP/s = {100 * fm_row['gflops'] / blas['gflops']:.0f}%"
        lines.append(line)
    if results.get("summary"):
        lines.append("")
        lines.append("Peer time per step / fastmlp's (above 1: fastmlp is faster):")
        lines.append(format_summary(results["summary"]))
    if results.get("targets"):
        lines.append("")
        lines.append("Targets, this run:")
        for t in results["targets"]:
            mark = "-" if t["met"] is None else ("met" if t["met"] else "MISSED")
            lines.append(f"  {t['target']:<46} {t['measured']:>10}  {mark}")
    return "\n".join(lines)
