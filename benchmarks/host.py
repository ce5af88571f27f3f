"""How fast this machine runs Python right now, printed beside every benchmark's figures.

The machines the benchmarks run on are shared and their speed changes over the day (a virtual
machine's neighbours, a slowed core): a figure read without it cannot be compared with one taken
at another moment.  The yardstick is a plain Python loop of ten million additions, the kind of
work an interpreter does everywhere, timed three times (the fastest counts).
"""

from __future__ import annotations

import time

__all__ = ["host_line", "loop_seconds"]

STEPS = 10_000_000


def loop_seconds(runs: int = 3) -> float:
    """The fastest of ``runs`` timings of the yardstick loop, in seconds."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        total = 0
        for i in range(STEPS):
            total += i
        best = min(best, time.perf_counter() - started)
    return best


def host_line() -> str:
    """One line for a benchmark's header."""
    return (f"host: a loop of {STEPS:,} Python additions takes {loop_seconds():.2f} s "
            "(the fastest of 3; compare figures only at similar values)")
