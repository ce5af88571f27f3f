"""A validator-like DESFire transaction, client and emulated card in one process.

Select the transit application, authenticate with an AES key, read 64 bytes in full mode, write
one 32-byte record in MAC mode, debit a value file, commit.  Prints the number of APDU exchanges,
median and p95 wall-clock milliseconds, and CPU milliseconds per transaction.

With ``--baseline PATH`` the same transaction also runs with the ``ekarta`` package of another
checkout (PATH holds its ``ekarta/`` directory: ``git archive`` a commit into a temporary
directory): each checkout runs in a subprocess of its own, and the two take turns in ``--rounds``
rounds of ``--runs`` transactions, so that a machine whose speed drifts slows both alike.  Then the
figures of both are printed, and the ratio of this checkout's to the baseline's.

    python benchmarks/transaction.py [--runs N]
    python benchmarks/transaction.py --baseline PATH [--runs N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ekarta.desfire import AccessRights, DESFire, Key, KeySettings
from ekarta.readers import open_reader

AID = 0x4B4152
APP_KEY = Key.aes(bytes.fromhex("00112233445566778899AABBCCDDEEFF"))
PROFILE_FILE, LOG_FILE, PURSE_FILE = 1, 2, 3
ROOT = Path(__file__).resolve().parent.parent
TITLE = "transaction: select, AES auth, read 64 B full, write 32 B record MAC, debit, commit"


class CountingTransceiver:
    """Counts the APDU exchanges that pass through it."""

    def __init__(self, inner):
        self.inner = inner
        self.count = 0

    def transceive(self, apdu: bytes) -> bytes:
        self.count += 1
        return self.inner.transceive(apdu)


def personalise(reader) -> None:
    card = DESFire(reader)
    card.create_application(AID, KeySettings(), key_count=2, key_type="aes")
    card.select_application(AID)
    card.authenticate(0, Key.aes(bytes(16)), "aes")
    card.change_key(1, APP_KEY, Key.aes(bytes(16)))
    rights = AccessRights(read=1, write=1, read_write=1, change=0)
    card.create_std_data_file(PROFILE_FILE, 64, comm="full", access=rights)
    card.create_cyclic_record_file(LOG_FILE, 32, 10, comm="mac", access=rights)
    card.create_value_file(PURSE_FILE, lower_limit=0, upper_limit=1_000_000, value=1_000_000,
                           comm="mac", access=rights)
    card.authenticate(1, APP_KEY, "aes")
    card.write_data(PROFILE_FILE, bytes(range(64)))
    card.commit_transaction()


def transaction(reader) -> int:
    counter = CountingTransceiver(reader)
    card = DESFire(counter)
    card.select_application(AID)
    card.authenticate(1, APP_KEY, "aes")
    card.read_data(PROFILE_FILE, 0, 64, comm="full")
    card.write_record(LOG_FILE, bytes(32), comm="mac")
    card.debit(PURSE_FILE, 1, comm="mac")
    card.commit_transaction()
    return counter.count


def timed(reader, runs: int) -> tuple[list[float], float]:
    """Wall-clock milliseconds of each of ``runs`` transactions, and CPU ms per transaction."""
    wall: list[float] = []
    cpu_start = time.process_time()
    for _ in range(runs):
        start = time.perf_counter()
        transaction(reader)
        wall.append((time.perf_counter() - start) * 1000)
    return wall, (time.process_time() - cpu_start) * 1000 / runs


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def serve() -> None:
    """Worker of ``--baseline``: personalise a card, then answer ``RUNS`` lines on stdin with a
    JSON line of the wall times and the CPU time of that many transactions."""
    import ekarta

    with open_reader("emulator:") as reader:
        personalise(reader)
        exchanges = transaction(reader)  # warm-up
        print(json.dumps({"ekarta": ekarta.__file__, "exchanges": exchanges}), flush=True)
        for line in sys.stdin:
            wall, cpu = timed(reader, int(line))
            print(json.dumps({"wall": wall, "cpu": cpu}), flush=True)


class Worker:
    """A ``serve()`` subprocess importing ekarta from ``root``."""

    def __init__(self, root: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(root))
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve"], env=env, cwd=root,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        hello = self._read()
        where = Path(hello["ekarta"]).resolve()
        if not where.is_relative_to(root.resolve()):
            raise SystemExit(f"the worker for {root} imported ekarta from {where}")
        self.exchanges: int = hello["exchanges"]
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("a benchmark worker ended early")
        return json.loads(line)

    def run(self, runs: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{runs}\n")
        self.proc.stdin.flush()
        answer = self._read()
        self.wall += answer["wall"]
        self.cpu.append(answer["cpu"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def compare(baseline: Path, runs: int, rounds: int) -> None:
    if not (baseline / "ekarta" / "__init__.py").is_file():
        raise SystemExit(f"{baseline} holds no ekarta package (ekarta/__init__.py)")
    workers = {"this checkout": Worker(ROOT), "baseline": Worker(baseline)}
    try:
        names = list(workers)
        for i in range(rounds):
            for name in names if i % 2 == 0 else names[::-1]:
                workers[name].run(runs)
    finally:
        for worker in workers.values():
            worker.close()
    print(TITLE)
    print(f"{rounds} rounds of {runs} transactions each, the two checkouts taking turns")
    print(f"{'':15s} {'APDUs':>6s} {'median ms':>10s} {'p95 ms':>8s} {'CPU ms':>8s}")
    for name, worker in workers.items():
        print(f"{name:15s} {worker.exchanges:6d} {statistics.median(worker.wall):10.3f} "
              f"{p95(worker.wall):8.3f} {statistics.median(worker.cpu):8.3f}")
    mine, base = workers["this checkout"], workers["baseline"]
    median = statistics.median
    print(f"{'ratio':15s} {'':6s} {median(mine.wall) / median(base.wall):10.2f} "
          f"{p95(mine.wall) / p95(base.wall):8.2f} {median(mine.cpu) / median(base.cpu):8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int,
                        help="transactions to time (500); per round with --baseline (200)")
    parser.add_argument("--baseline", type=Path, metavar="PATH",
                        help="also time the ekarta package of the checkout at PATH")
    parser.add_argument("--rounds", type=int, default=10,
                        help="rounds each checkout runs with --baseline (10)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.baseline is not None:
        compare(args.baseline, args.runs or 200, args.rounds)
        return
    runs = args.runs or 500
    with open_reader("emulator:") as reader:
        personalise(reader)
        exchanges = transaction(reader)  # warm-up
        wall, cpu = timed(reader, runs)
    print(TITLE)
    print(f"runs:            {runs}")
    print(f"APDU exchanges:  {exchanges}")
    print(f"median:          {statistics.median(wall):.3f} ms")
    print(f"p95:             {p95(wall):.3f} ms")
    print(f"CPU:             {cpu:.3f} ms per transaction")


if __name__ == "__main__":
    main()
