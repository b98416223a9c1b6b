"""The open-model engine (labctl.load) against plain locust and wrk, side by side.

Against nginx on loopback (Debian's nginx-light; wrk from Debian too):

1. maximum sustained rate: the engine's highest rate whose schedule it held (rates rising by
   x1.25 until one is not held, then three halvings of the gap), plain locust's FastHttpUser
   closed loop with the same process count (best of three runs), and wrk (the ceiling); each
   one's CPU per request (all its processes, start-up included; the engine's measured-window
   figure too). The engine should reach at least 0.8x plain locust.
2. the p99 each reports at a rate all three hold (locust paced by constant_throughput, wrk by a
   per-request delay).
3. the stall probe: a server that stops answering for 100 ms once a second, at a fixed rate.
   The true p99 comes from the schedule (a slot at t waits for the stall to end, plus the
   service time); the engine must be within 10% of it. Plain locust (two users) under-reports
   it: it sends what the stall lets it, and its few stalled requests fall under 1%. wrk sends
   no more, but corrects its histogram after the run (``stats_correct``: every latency longer
   than a connection's mean interval adds the samples that would have waited behind it), so
   its p99 lands near the truth.

Usage: python benchmarks/load_engine.py [--processes N] [--seconds S] [--rate R]
"""

from __future__ import annotations

import argparse
import os

from _load_tools import Figures, children_cpu, nginx, plain_locust, stalling, wrk

from labctl.load import LoadReport, Scenario, default_processes, run

STALL_MS = 100.0
BISECT = 3
LOCUST_RUNS = 3


def engine(url: str, rate: float, seconds: float, processes: int) -> tuple[Figures, LoadReport]:
    cpu0 = children_cpu()
    report = run(url, Scenario.get("/"), rate=rate, duration_s=seconds, processes=processes)
    cpu = children_cpu() - cpu0
    figures = Figures("engine", report.achieved_rps, report.latency_ms.p99, cpu, report.sent)
    return figures, report


def held(url: str, rate: float, seconds: float, processes: int) -> tuple[Figures, LoadReport, bool]:
    figures, report = engine(url, rate, seconds, processes)
    # Sustained: every request sent on time (send lag p99 within the verdict's limit) and
    # answered at the rate, no worker's CPU pegged: the verdict's own rules for the engine.
    # Not its machine-pressure rule, which is about everything else on the machine.
    own = [r for r in report.reasons if "machine's CPUs" not in r]
    ok = not own and report.achieved_rps >= 0.95 * rate
    print(
        f"  engine at {rate:7.0f} req/s: {'held' if ok else 'NOT held'} "
        f"(send lag p99 {report.send_lag_ms.p99:.1f} ms, busiest worker "
        f"{report.generator.busiest:.0%}, machine CPU pressure "
        f"{report.generator.cpu_pressure:.0%}) {own}"
    )
    return figures, report, ok


def engine_max(url: str, seconds: float, processes: int) -> tuple[Figures, LoadReport]:
    """The highest rate held: rising by x1.25 until one is not held, then halving the gap
    between the last rate held and the first one not held, BISECT times (to within ~3%)."""
    rate, best = 500.0, None
    while True:
        figures, report, ok = held(url, rate, seconds, processes)
        if not ok:
            break
        best, rate = (figures, report), rate * 1.25
    if best is None:
        raise SystemExit("the engine held no rate at all: is the machine overloaded?")
    low, high = best[1].offered_rps, rate
    for _ in range(BISECT):
        middle = (low + high) / 2
        figures, report, ok = held(url, middle, seconds, processes)
        if ok:
            best, low = (figures, report), middle
        else:
            high = middle
    return best


def true_p99(report: LoadReport, stall_ms: float, service_ms: float) -> float:
    """The p99 a perfect client sees: each slot waits for the stall it falls in, if any."""
    slots = round(report.offered_rps * report.duration_s)
    waits = []
    for k in range(slots):
        into = ((report.started_at + k / report.offered_rps) % 1.0) * 1000
        waits.append(max(0.0, stall_ms - into) + service_ms)
    waits.sort()
    return waits[min(len(waits) - 1, int(0.99 * len(waits)))]


def row(f: Figures, extra: str = "") -> None:
    print(
        f"  {f.tool:<7} {f.rps:>9.0f} req/s  p99 {f.p99_ms:>8.2f} ms  "
        f"{f.cpu_ms_per_request:>7.3f} ms CPU/request  {extra}"
    )


def max_rates(url: str, seconds: float, processes: int) -> Figures:
    print(f"\n1. maximum sustained rate against nginx ({processes} processes, {seconds:g} s runs)")
    best, report = engine_max(url, seconds, processes)
    # Plain locust's closed-loop rate varies by a third from run to run here: the engine is
    # compared with its best of LOCUST_RUNS.
    runs = [
        plain_locust(url, users=32 * processes, processes=processes, seconds=seconds + 1)
        for _ in range(LOCUST_RUNS)
    ]
    locust = max(runs, key=lambda f: f.rps)
    ceiling = wrk(url, threads=processes, connections=32, seconds=seconds)
    row(best, f"(measured window: {report.generator.cpu_ms_per_request:.3f} ms/request)")
    spread = ", ".join(f"{f.rps:.0f}" for f in runs)
    row(locust, f"(closed loop, 32 users per process; best of {spread} req/s)")
    row(ceiling, "(closed loop, 32 connections)")
    print(f"  engine / plain locust: {best.rps / locust.rps:.2f}x (target >= 0.8x)")
    print(f"  engine / wrk:          {best.rps / ceiling.rps:.3f}x")
    return locust


def same_rate(url: str, rate: float, seconds: float, processes: int) -> None:
    print(f"\n2. reported p99 at {rate:g} req/s against nginx")
    figures, report = engine(url, rate, seconds, processes)
    row(figures, f"(open model, from intended send) verdict {report.verdict} {report.reasons}")
    row(plain_locust(url, users=20, processes=processes, seconds=seconds + 1, rate=rate))
    row(wrk(url, threads=processes, connections=20, seconds=seconds, rate=rate))


def stall_probe(rate: float, seconds: float, processes: int) -> None:
    print(f"\n3. stall probe: {STALL_MS:g} ms stall once a second, {rate:g} req/s, {seconds:g} s")
    with stalling(STALL_MS) as url:
        figures, report = engine(url, rate, seconds, processes)
        truth = true_p99(report, STALL_MS, report.service_latency_ms.p50)
        # A closed loop sees a stall only through the requests it has in flight: with as many
        # users as the stall spans slots (50 at 500 req/s), it sees it all; with fewer, the
        # slots it never sent are missing from its percentiles. Two, one per process, as a
        # tester would: two stalled requests a second are under 1% of what they send, so their
        # p99 misses the stall. (At 200 req/s the two are just over 1% and their p99 lands in
        # the stall by chance of rounding, not because they measure it.)
        locust = plain_locust(
            url, users=processes, processes=processes, seconds=seconds + 1, rate=rate
        )
        ceiling = wrk(url, threads=processes, connections=processes, seconds=seconds, rate=rate)
    print(f"  true p99 from the schedule: {truth:.1f} ms (engine verdict {report.verdict})")
    for f in (figures, locust, ceiling):
        row(f, f"p99 / true p99 = {f.p99_ms / truth:.2f}, sent {f.rps / rate:.0%} of the rate")
    error = abs(figures.p99_ms - truth) / truth
    print(f"  engine within {error:.1%} of the true p99 (target <= 10%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=default_processes())
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="the rate of part 2")
    parser.add_argument("--stall-rate", type=float, default=500.0, help="the rate of part 3")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    with nginx() as url:
        max_rates(url, args.seconds, args.processes)
        same_rate(url, args.rate, args.seconds, args.processes)
    stall_probe(args.stall_rate, args.seconds * 2, args.processes)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
