"""A terminal's hotlist lookup at 1,000,000 entries (target: under 20 µs).

Fills a fresh terminal store with ``--entries`` blocked cards (random card numbers and 7-byte
UIDs, applied as snapshot pages of 50,000 as a sync applies them), then prints the median
microseconds of a lookup by card number (``TerminalStore.is_hotlisted``, the validator's path:
the integer the card record holds), by UID (``hotlisted_uid``) and by card number text
(``hotlisted``, which checks the check digit first), each for listed and unlisted cards, and the
store's size on disk.

    python benchmarks/terminal.py [--entries N] [--lookups N] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ekarta.sync.messages import Feed, HotlistItem, HotlistPage
from ekarta.terminal.store import TerminalStore
from ekarta.transit.model.card_number import MAX_SERIAL, CardNumber

PAGE = 50_000
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def fill(store: TerminalStore, serials: Sequence[int], uids: Sequence[bytes]) -> float:
    started = time.perf_counter()
    for start in range(0, len(serials), PAGE):
        items = tuple(HotlistItem.model_construct(
            card_number=CardNumber.from_serial(serial).digits, uid=uid.hex(),
            expiry=date(2030, 12, 31))
            for serial, uid in zip(serials[start:start + PAGE], uids[start:start + PAGE],
                                   strict=True))
        page = HotlistPage.model_construct(reset=start == 0, more=start + PAGE < len(serials),
                                           items=items, removed=())
        store.apply_page(Feed.HOTLIST, page, cursor=start + len(items),
                         issued_at=T0 + timedelta(seconds=start // PAGE),
                         valid_until=T0 + timedelta(days=3), now=T0)
    return time.perf_counter() - started


def median_us(lookup: Callable[[object], object], keys: Sequence[object], rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for key in keys:
            lookup(key)
        times.append((time.perf_counter() - started) / len(keys))
    return statistics.median(times) * 1e6


@dataclass(frozen=True)
class LookupFigures:
    entries: int
    fill_seconds: float
    size_bytes: int
    medians: tuple[tuple[str, float, float], ...]
    """Per lookup: its name, the median µs for a listed card and for one not listed."""


def measure(entries: int, lookups: int = 20_000, seed: int = 10) -> LookupFigures:
    """A store of ``entries`` blocked cards, and the median time of each lookup in it."""
    rng = random.Random(seed)
    serials = rng.sample(range(MAX_SERIAL + 1), entries)
    uids = [rng.randbytes(7) for _ in serials]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "store.sqlite")
        with TerminalStore.open(path, create=True) as store:
            seconds = fill(store, serials, uids)
            size = os.path.getsize(path)
            listed = rng.sample(range(entries), min(lookups, entries))
            hit = [int(CardNumber.from_serial(serials[i])) for i in listed]
            miss = [int(CardNumber.from_serial(rng.randrange(MAX_SERIAL + 1)))
                    for _ in range(lookups)]
            medians = tuple(
                (name, median_us(lookup, found), median_us(lookup, missed))
                for name, lookup, found, missed in (
                    ("is_hotlisted(int)", store.is_hotlisted, hit, miss),
                    ("hotlisted_uid(bytes)", store.hotlisted_uid, [uids[i] for i in listed],
                     [rng.randbytes(7) for _ in range(lookups)]),
                    ("hotlisted(text)", store.hotlisted, [f"{n:010d}" for n in hit],
                     [f"{n:010d}" for n in miss])))
    return LookupFigures(entries, seconds, size, medians)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args(argv)
    figures = measure(args.entries, args.lookups, args.seed)
    print(f"hotlist of {figures.entries:,} entries applied in {figures.fill_seconds:.1f} s, "
          f"{figures.size_bytes / 1e6:.0f} MB on disk")
    for name, listed, unlisted in figures.medians:
        print(f"{name:<22} listed {listed:6.2f} µs   not listed {unlisted:6.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
