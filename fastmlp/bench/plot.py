"""The chart of a run (``fastmlp bench --plot``); needs matplotlib."""

import numpy as np

from ..plot import figure_class
from .peers import IMPLEMENTATIONS, LABELS
from .reporting import format_ratio


def plot_results(results, path):
    """One chart of the run: time per step of every implementation on every
    workload (log scale), fastmlp highlighted, and on each group the ratio of
    the fastest peer's time to fastmlp's. Needs matplotlib (the 'plot' extra)."""
    Figure = figure_class()
    groups = [s["workload"] for s in results["summary"]]
    rows = {(r["workload"], r["implementation"]): r for r in results["rows"] if r["status"] == "ok"}
    impls = [i for i in IMPLEMENTATIONS if any((g, i) in rows for g in groups)]
    fig = Figure(figsize=(max(7.0, 0.35 * len(groups) * max(1, len(impls)) + 2.0), 5.0))
    ax = fig.add_subplot(111)
    width = 0.8 / max(1, len(impls))
    peer_colors = ["#4c72b0", "#8172b2", "#64b5cd", "#999999", "#c4ad66"]
    for q, impl in enumerate(impls):
        xs = [g + (q - (len(impls) - 1) / 2) * width for g in range(len(groups))]
        ys = [rows[(w, impl)]["seconds_per_step"] if (w, impl) in rows else np.nan for w in groups]
        ax.bar(xs, ys, width * 0.95, label=LABELS[impl],
               color="#d62728" if impl == "fastmlp" else peer_colors[(q - 1) % len(peer_colors)],
               edgecolor="black" if impl == "fastmlp" else "none", zorder=3)
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel("time per training step (s, log scale)")
    ax.grid(axis="y", which="both", alpha=0.3, zorder=0)
    top = max((r["seconds_per_step"] for r in rows.values()), default=1.0)
    ax.set_ylim(top=top * 30)
    for g, s in enumerate(results["summary"]):
        if s["fastest_peer"]:
            ax.annotate(f"{format_ratio(s['ratio_to_fastest'])} vs\n{LABELS[s['fastest_peer']]}", (g, top * 2.0),
                        ha="center", va="bottom", fontsize=8)
    ax.legend(fontsize=8, loc="upper right", ncol=min(3, len(impls)), framealpha=0.9)
    ax.set_title("fastmlp bench: time per training step, lower is better\n"
                 "(the ratio over each group: the fastest peer's time / fastmlp's)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
