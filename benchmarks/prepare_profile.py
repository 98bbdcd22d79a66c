"""Issue 19: where `analysis.prepare`'s time and memory go, step by step (one fresh process per run).

    ADOPTION_KIT_CACHE=off .venv/bin/python benchmarks/prepare_profile.py FOLDER     # cold
    ADOPTION_KIT_CACHE=/tmp/c .venv/bin/python benchmarks/prepare_profile.py FOLDER  # twice: the second is warm

Runs the same steps as `prepare` in the same order and prints, per step, wall and CPU seconds and the process's
resident set after it (and its peak so far), as one JSON line.
"""
from __future__ import annotations

import json
import resource
import sys
import time


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


def main(folder: str) -> int:
    import polars as pl

    from adoption_kit import analysis
    from adoption_kit.compute import worklist
    from adoption_kit.compute.history import snapshot_history
    from adoption_kit.compute.metrics import compute, low_adoption_ranking

    steps: list[dict] = []
    last = [time.perf_counter(), time.process_time()]

    def mark(name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        steps.append({"step": name, "s": round(now - last[0], 2), "cpu": round(cpu - last[1], 2),
                      "rss_mib": round(rss_mib()), "peak_mib": round(peak)})
        last[:] = [now, cpu]
        print(json.dumps(steps[-1]), flush=True)

    everything = analysis.load(folder)
    mark("load_exports")
    exports = analysis.select_snapshot(everything, "latest")
    mark("latest")
    metrics = compute(exports)
    mark("compute")
    history = snapshot_history(everything, current=metrics)
    mark("history")
    today = metrics.portfolio.get_column("processed_at_max")[0].date()
    worklist.renewal_queue(metrics.products, everything.subscriptions, today=today)
    worklist.own_seats(metrics.products, everything.subscriptions)
    worklist.idle_cost(metrics.products, everything.prices)
    worklist.support_load(metrics.customers, everything.tickets,
                          today=today)
    mark("worklist")
    low_adoption_ranking(metrics.customers)
    pl.concat([exports.deployment.select("processed_at"), exports.usage.select("processed_at")])
    mark("ranking")
    del history
    total = {"step": "total", "s": round(sum(s["s"] for s in steps), 2), "cpu": round(sum(s["cpu"] for s in steps), 2),
             "peak_mib": steps[-1]["peak_mib"], "usage_rows": everything.usage.height}
    print(json.dumps(total), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
