"""A validator-like DESFire transaction, client and emulated card in one process.

Select the transit application, authenticate with an AES key, read 64 bytes in full mode, write
one 32-byte record in MAC mode, debit a value file, commit.  Prints the number of APDU exchanges,
median and p95 wall-clock milliseconds, and CPU milliseconds per transaction.

    python benchmarks/transaction.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from ekarta.desfire import AccessRights, DESFire, Key, KeySettings
from ekarta.readers import open_reader

AID = 0x4B4152
APP_KEY = Key.aes(bytes.fromhex("00112233445566778899AABBCCDDEEFF"))
PROFILE_FILE, LOG_FILE, PURSE_FILE = 1, 2, 3


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="transactions to time (500)")
    args = parser.parse_args()
    with open_reader("emulator:") as reader:
        personalise(reader)
        exchanges = transaction(reader)  # warm-up
        wall: list[float] = []
        cpu_start = time.process_time()
        for _ in range(args.runs):
            start = time.perf_counter()
            transaction(reader)
            wall.append((time.perf_counter() - start) * 1000)
        cpu = (time.process_time() - cpu_start) * 1000 / args.runs
    wall.sort()
    p95 = wall[min(len(wall) - 1, int(0.95 * len(wall)))]
    print("transaction: select, AES auth, read 64 B full, write 32 B record MAC, debit, commit")
    print(f"runs:            {args.runs}")
    print(f"APDU exchanges:  {exchanges}")
    print(f"median:          {statistics.median(wall):.3f} ms")
    print(f"p95:             {p95:.3f} ms")
    print(f"CPU:             {cpu:.3f} ms per transaction")


if __name__ == "__main__":
    main()
