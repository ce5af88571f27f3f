"""Round-trip times per transport: one emulated card reached through each reader stack.

For every transport (the in-process emulator reader; pcscd + vpcd with pyscard; ekarta's PN532
driver and nfcpy's on a PN532 pseudo-terminal; nfcpy's UDP driver) this prints the median time of
a GetVersion (three APDUs) and of the validator-like transaction of ``benchmarks/transaction.py``
(select, AES authentication, 64-byte full-mode read, 32-byte MAC-mode record, debit, commit).

    python benchmarks/transports.py [--runs N] [--only NAME ...]

pcscd is started when it is not running (and stopped again); the PN532 link for nfcpy is created
under /dev, which needs root.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

import transaction as validator  # noqa: E402  (benchmarks/transaction.py)

from ekarta.desfire import DESFire  # noqa: E402
from ekarta.emulator import CardHost, VirtualCard  # noqa: E402
from ekarta.readers import open_reader  # noqa: E402
from tests.support.transports import TRANSPORTS as SERVED  # noqa: E402
from tests.support.transports import serve  # noqa: E402

TRANSPORTS = ["emulator", *SERVED]


def median_ms(action, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(reader, runs: int) -> tuple[float, float, int]:
    # GetVersion first, while no session is open (an authenticated card MACs its answer)
    get_version = median_ms(DESFire(reader).get_version, runs)
    validator.personalise(reader)
    exchanges = validator.transaction(reader)
    tx = median_ms(lambda: validator.transaction(reader), runs)
    return get_version, tx, exchanges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs per figure (50)")
    parser.add_argument("--only", nargs="*", choices=TRANSPORTS, help="transports to measure")
    args = parser.parse_args()
    print(f"{'transport':<11} {'GetVersion':>12} {'transaction':>13} {'APDUs':>6}")
    for name in args.only or TRANSPORTS:
        with contextlib.ExitStack() as stack:
            if name == "emulator":
                reader = stack.enter_context(open_reader("emulator:"))
            else:
                host = CardHost(VirtualCard.new())
                url = stack.enter_context(serve(name, host))
                reader = stack.enter_context(open_reader(url))
            reader.wait_for_card(timeout=10)
            get_version, tx, exchanges = measure(reader, args.runs)
        print(f"{name:<11} {get_version:>9.2f} ms {tx:>10.2f} ms {exchanges:>6}", flush=True)


if __name__ == "__main__":
    main()
