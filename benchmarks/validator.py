"""The driver's validator, per tap, with a full-size local store (acceptance 4 of issue 11).

A terminal store holds ``--hotlist`` blocked cards (1,000,000) and ``--entitlements`` office
entries (300,000, one coupon each), applied as sync pages (the way ``benchmarks/terminal.py``
fills it).  An issued card with a valid coupon on it (and one the office holds for it) is tapped
``--taps`` times per round, for ``--rounds`` rounds, each tap a new validation (the clock moves
past the repeat window between taps): read, look up, judge, write the record, commit, journal.

Printed per transport (in-process ``emulator`` reader; ``pcsc``: pcscd + vpcd, when pcscd and
vsmartcard are installed):

- APDUs per tap and bytes each way (command APDUs, response APDUs with their status words);
- air time at 106 and 424 kbit/s computed from those frames (see :func:`air_time` for the
  ISO/IEC 14443 framing counted), excluding the card's own processing time;
- host time per tap, median and p95 (the whole :meth:`Validator.tap`), and the host time outside
  the card's exchanges (the tap less the time spent inside the reader's ``transceive``), the
  validator thread's CPU time outside the card (steadier than the wall clock on a busy
  machine), and how long the durable journal append (SQLite, synchronous=FULL: an fsync of the
  WAL) still took once the tap had answered: the validator appends from a thread of its own
  (:class:`~ekarta.terminal.journal.JournalWriter`), off the tap's path.

A third in-process row (``--pause-us``, 400 µs) idles the validator's thread inside each
exchange for about as long as a pcsc round trip takes, outside the measured host time: the same
code and the same card, only waiting between the exchanges.  Its host time against the first
row's shows what waiting alone costs the code that runs after each answer on this machine (its
caches and predictors go to whatever else runs meanwhile), to tell that apart from the pcsc
stack's own.

Targets on the issue's machine: host time outside the card < 2 ms median, in-process tap < 5 ms
median, air time at 106 kbit/s < 150 ms.

    python benchmarks/validator.py [--hotlist N] [--entitlements N] [--taps N] [--rounds N]
                                   [--store-dir DIR] [--no-pcsc]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from host import host_line  # noqa: E402  (benchmarks/host.py)
from terminal import T0, fill  # noqa: E402  (benchmarks/terminal.py)

from ekarta.desfire import DESFire  # noqa: E402
from ekarta.emulator import CardHost, VirtualCard  # noqa: E402
from ekarta.emulator.reader import EmulatorReader  # noqa: E402
from ekarta.readers import open_reader  # noqa: E402
from ekarta.readers.base import CardInfo  # noqa: E402
from ekarta.sync.messages import (  # noqa: E402
    EntitledCoupon,
    Entitlement,
    EntitlementPage,
    Feed,
    slot_text,
)
from ekarta.terminal.journal import JournalWriter  # noqa: E402
from ekarta.terminal.store import TerminalStore  # noqa: E402
from ekarta.terminal.tap import Position, Validator  # noqa: E402
from ekarta.transit import (  # noqa: E402
    CardKind,
    CardRecord,
    CardStatus,
    Coupon,
    CouponType,
    Profile,
    SaleChannel,
    Zones,
)
from ekarta.transit.cardio.issuance import issue_card  # noqa: E402
from ekarta.transit.cardio.loading import load_coupon  # noqa: E402
from ekarta.transit.codec.records import encode_slot  # noqa: E402
from ekarta.transit.model.card_number import MAX_SERIAL, CardNumber  # noqa: E402
from ekarta.transit.security.keystore import FileKeyStore, create_keystore  # noqa: E402
from ekarta.wire.ats import parse_ats  # noqa: E402

PAGE = 50_000
UID = bytes.fromhex("04A1B2C3D4E5F6")
NUMBER = CardNumber.from_serial(123_456_789)
FC = 13.56e6
FSD = 256
"""The reader's frame size (FSDI 8), as PC/SC readers and PN53x announce in RATS."""
FDT = 1172 / FC
"""The least time between the end of one frame and the start of the answer (ISO/IEC 14443-3
FDT, about 86 µs), counted once each way per block."""
BLOCK_OVERHEAD = 3
"""PCB and CRC_A of an ISO/IEC 14443-4 block (no CID, no NAD)."""


# --- the air ------------------------------------------------------------------------------------


def _frame_bits(size: int) -> int:
    # type A: start of frame, 8 data bits and an odd parity bit per byte, end of frame
    return 2 + 9 * size


def _blocks(inf: int, frame_size: int) -> list[int]:
    """The sizes (PCB to CRC) of the I-blocks that carry ``inf`` bytes, chained at
    ``frame_size``."""
    room = frame_size - BLOCK_OVERHEAD
    sizes = []
    while True:
        part = min(inf, room)
        sizes.append(part + BLOCK_OVERHEAD)
        inf -= part
        if inf <= 0:
            return sizes


def air_time(frames: Sequence[tuple[bytes, bytes]], kbit: int, fsc: int) -> float:
    """Seconds on the air for these APDU exchanges at ``kbit`` kbit/s (106, 212, 424, 848).

    Counted: each command APDU in I-blocks of at most ``fsc`` bytes (the card's FSC, from its
    ATS), every block but the last acknowledged by an R(ACK) of 3 bytes; each response APDU in
    I-blocks of at most :data:`FSD` bytes, acknowledged likewise; a block is PCB + INF + CRC_A
    (:data:`BLOCK_OVERHEAD`), a byte 9 bits (with parity) plus start and end of frame; one
    :data:`FDT` before each block.  Not counted: the card's processing time (cryptography,
    EEPROM writes: several milliseconds for a commit on a real card), S(WTX) blocks, the
    activation before the tap (REQA to ATS, about 3 ms at 106 kbit/s).
    """
    bit = 128 / FC / (kbit / 106)
    bits, blocks = 0, 0
    for command, response in frames:
        for apdu, size in ((command, fsc), (response, FSD)):
            parts = _blocks(len(apdu), size)
            acks = len(parts) - 1
            bits += sum(_frame_bits(p) for p in parts) + acks * _frame_bits(BLOCK_OVERHEAD)
            blocks += len(parts) + acks
    return bits * bit + blocks * FDT


# --- the store and the card ----------------------------------------------------------------------


def fill_entitlements(store: TerminalStore, serials: Sequence[int], slot: str) -> None:
    """``serials``' office entries, one coupon each (the same slot: never judged), as pages."""
    coupon = EntitledCoupon.model_construct(serial=1, state="pending",
                                            valid_from=date(2026, 11, 20),
                                            valid_to=date(2026, 12, 19), slot=slot)
    for start in range(0, len(serials), PAGE):
        items = tuple(Entitlement.model_construct(
            card_number=CardNumber.from_serial(serial).digits, uid=None, status="active",
            kind="personal", profile="adult-non-transferable", profile_end=None,
            expiry=date(2030, 12, 31), coupons=(coupon,))
            for serial in serials[start:start + PAGE])
        page = EntitlementPage.model_construct(reset=start == 0,
                                               more=start + PAGE < len(serials), items=items,
                                               removed=())
        store.apply_page(Feed.ENTITLEMENTS, page, cursor=start + len(items),
                         issued_at=T0 + timedelta(seconds=start // PAGE),
                         valid_until=T0 + timedelta(days=3), now=T0)


def the_card(keystore: FileKeyStore) -> tuple[VirtualCard, str]:
    """An issued card with a valid coupon, and the slot of another the office holds for it."""
    card = VirtualCard.new(uid=UID)
    reader = EmulatorReader(card=card)
    record = CardRecord(NUMBER, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 12, 31),
                        Profile.ADULT_NON_TRANSFERABLE, first_name="Jana", surname="Nováková")
    issue_card(DESFire(reader), keystore, record)

    def coupon(serial: int, start: date) -> Coupon:
        kind = CouponType.DAYS_30
        return Coupon(serial, kind, Profile.ADULT_NON_TRANSFERABLE, Zones((1, 2)), start,
                      kind.end_date(start), start, SaleChannel.TICKET_OFFICE, 0, 550)

    signer = keystore.signer()
    card.reset()
    load_coupon(DESFire(reader), keystore,
                signer.sign(coupon(501, date(2026, 11, 20)), uid=UID, card_number=NUMBER),
                at=T0)
    office = signer.sign(coupon(502, date(2026, 12, 20)), uid=UID, card_number=NUMBER)
    card.reset()
    return card, slot_text(encode_slot(office))


@contextlib.contextmanager
def full_store(folder: str, hotlist: int, entitlements: int, office_slot: str,
               seed: int = 11) -> Iterator[tuple[TerminalStore, float]]:
    rng = random.Random(seed)
    serials = rng.sample(range(MAX_SERIAL + 1), hotlist + entitlements + 1)
    serials = [s for s in serials if s != NUMBER.serial][:hotlist + entitlements]
    started = time.perf_counter()
    with TerminalStore.open(os.path.join(folder, "store.sqlite"), create=True) as store:
        fill(store, serials[:hotlist], [rng.randbytes(7) for _ in range(hotlist)])
        others = serials[hotlist:hotlist + entitlements - 1]
        fill_entitlements(store, others, office_slot)
        # the tapped card's own entry, with the coupon the office holds for it
        entry = Entitlement(card_number=NUMBER.digits, uid=UID.hex(), status="active",
                            kind="personal", profile="adult-non-transferable",
                            expiry=date(2030, 12, 31),
                            coupons=(EntitledCoupon(serial=502, state="pending",
                                                    valid_from=date(2026, 12, 20),
                                                    valid_to=date(2027, 1, 18),
                                                    slot=office_slot),))
        store.apply_page(Feed.ENTITLEMENTS,
                         EntitlementPage(reset=False, more=False, items=(entry,)),
                         cursor=entitlements + 1, issued_at=T0 + timedelta(minutes=10),
                         valid_until=T0 + timedelta(days=3), now=T0)
        del serials, others  # a validator holds no such lists while it taps
        yield store, time.perf_counter() - started


# --- timing --------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0 + timedelta(hours=1)

    def __call__(self):
        return self.now

    def advance(self) -> None:
        self.now += timedelta(seconds=61)


class Timed:
    """Passes APDUs on, keeping the frames and the time spent inside the reader.

    ``pause``: seconds this thread sleeps in each exchange before passing it on (counted inside
    the card, as a slow card's answer would be)."""

    def __init__(self, inner, pause: float = 0.0) -> None:
        self.inner = inner
        self.pause = pause
        self.inside = 0.0
        self.inside_cpu = 0.0
        self.frames: list[tuple[bytes, bytes]] = []

    def transceive(self, apdu: bytes) -> bytes:
        started, cpu = time.perf_counter(), time.thread_time()
        if self.pause:
            time.sleep(self.pause)
        response = self.inner.transceive(apdu)
        self.inside += time.perf_counter() - started
        self.inside_cpu += time.thread_time() - cpu
        self.frames.append((bytes(apdu), bytes(response)))
        return response


@dataclass(frozen=True)
class Figures:
    transport: str
    apdus: int
    sent: int
    received: int
    air_106: float
    air_424: float
    total: tuple[float, ...]
    """Per round: the median ms of a whole tap."""
    total_p95: tuple[float, ...]
    outside: tuple[float, ...]
    outside_p95: tuple[float, ...]
    outside_cpu: tuple[float, ...]
    """Per round: the median ms of this thread's CPU time outside the card (less disturbed by
    other processes than the wall clock on a shared machine)."""
    journal: tuple[float, ...]
    """Per round: the median ms the durable journal append still took after the tap answered
    (the validator's :class:`~ekarta.terminal.journal.JournalWriter` appends off the tap's
    path; not part of the tap's time)."""


def measure(transport: str, reader, uid: bytes | None, validator: Validator, clock: Clock,
            taps: int, rounds: int, fsc: int, pause: float = 0.0) -> Figures:
    """Time ``taps`` taps per round, each a new validation (``clock`` moves past the window)."""
    writer = validator.journal
    assert writer is not None, "the validator journals through a JournalWriter"
    totals, totals_p95, outsides, outsides_p95, cpus, journals = [], [], [], [], [], []
    timed = Timed(reader)
    for _ in range(2):  # warm-up
        clock.advance()
        assert validator.tap(Timed(reader, pause), uid=uid).recorded
    for _ in range(rounds):
        total, outside, cpu, appended = [], [], [], []
        for _ in range(taps):
            clock.advance()
            timed = Timed(reader, pause)
            started, cpu_started = time.perf_counter(), time.thread_time()
            outcome = validator.tap(timed, uid=uid)
            elapsed = time.perf_counter() - started
            cpu.append((time.thread_time() - cpu_started - timed.inside_cpu) * 1000)
            assert outcome.ok and outcome.recorded and not outcome.repeated, outcome
            total.append(elapsed * 1000)
            outside.append((elapsed - timed.inside) * 1000)
            started = time.perf_counter()
            writer.flush()  # the journal's append, done after the answer: its remaining time
            appended.append(time.perf_counter() - started)
        totals.append(statistics.median(total))
        totals_p95.append(_p95(total))
        outsides.append(statistics.median(outside))
        outsides_p95.append(_p95(outside))
        cpus.append(statistics.median(cpu))
        journals.append(statistics.median(appended) * 1000)
    frames = timed.frames
    return Figures(transport, len(frames), sum(len(c) for c, _ in frames),
                   sum(len(r) for _, r in frames), air_time(frames, 106, fsc),
                   air_time(frames, 424, fsc), tuple(totals), tuple(totals_p95),
                   tuple(outsides), tuple(outsides_p95), tuple(cpus), tuple(journals))


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def report(figures: Figures) -> None:
    def runs(values: tuple[float, ...]) -> str:
        return (f"{statistics.median(values):6.2f} ms  (rounds: "
                + ", ".join(f"{v:.2f}" for v in values) + ")")

    print(f"[{figures.transport}]")
    print(f"  APDUs per tap           {figures.apdus}")
    print(f"  bytes to the card       {figures.sent}")
    print(f"  bytes from the card     {figures.received}")
    print(f"  air time at 106 kbit/s  {figures.air_106 * 1000:6.1f} ms")
    print(f"  air time at 424 kbit/s  {figures.air_424 * 1000:6.1f} ms")
    print(f"  tap, median             {runs(figures.total)}")
    print(f"  tap, p95                {runs(figures.total_p95)}")
    print(f"  outside the card, median{runs(figures.outside)}")
    print(f"  outside the card, p95   {runs(figures.outside_p95)}")
    print(f"  outside the card, CPU   {runs(figures.outside_cpu)}")
    print(f"  journal on disk after   {runs(figures.journal)}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hotlist", type=int, default=1_000_000)
    parser.add_argument("--entitlements", type=int, default=300_000)
    parser.add_argument("--taps", type=int, default=200, help="taps per round (200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3): medians of each")
    parser.add_argument("--store-dir", default=None,
                        help="where the store is made (default: the temporary directory)")
    parser.add_argument("--no-pcsc", action="store_true", help="skip the pcsc transport")
    parser.add_argument("--pause-us", type=float, default=400.0,
                        help="the in-process card measured again with this thread idle for "
                        "this long inside each exchange, about a pcsc round trip (400; 0: "
                        "not measured)")
    args = parser.parse_args(argv)
    if args.store_dir is not None and not os.path.isdir(args.store_dir):
        parser.error(f"--store-dir {args.store_dir}: no such directory")
    print(host_line(), flush=True)
    with tempfile.TemporaryDirectory(dir=args.store_dir) as folder:
        create_keystore(os.path.join(folder, "keys.json"))
        keystore = FileKeyStore.load(os.path.join(folder, "keys.json"))
        card, office_slot = the_card(keystore)
        fsc = parse_ats(card.ats).fsc
        with full_store(folder, args.hotlist, args.entitlements, office_slot) as (store,
                                                                                    seconds):
            print(f"store: {args.hotlist:,} hotlisted cards and {args.entitlements:,} "
                  f"entitlements, filled in {seconds:.0f} s, "
                  f"{os.path.getsize(store.path) / 1e6:.0f} MB in {folder}")
            print(f"framing: FSC {fsc} (the card's ATS), FSD {FSD}, {BLOCK_OVERHEAD} bytes per "
                  f"block, FDT {FDT * 1e6:.0f} µs before each block; card processing time "
                  "not counted")
            clock = Clock()
            writer = JournalWriter(lambda: TerminalStore.open(store.path))
            validator = Validator(store, keystore, keystore.verifier(), device=1017,
                                  position=Position(zone=1, line=14), clock=clock,
                                  journal=writer)
            with EmulatorReader(card=card) as reader:
                reader.wait_for_card(timeout=1)
                report(measure("emulator, in process, UID from the reader", reader,
                               reader.card_info.uid, validator, clock, args.taps,
                               args.rounds, fsc))
                if args.pause_us > 0:
                    report(measure(f"emulator, in process, idle {args.pause_us:.0f} µs inside "
                                   "each exchange", reader, reader.card_info.uid, validator,
                                   clock, max(args.taps // 4, 20), args.rounds, fsc,
                                   pause=args.pause_us / 1e6))
            if not args.no_pcsc:
                measure_pcsc(card, validator, clock, args, fsc, folder)
    return 0


def measure_pcsc(card: VirtualCard, validator: Validator, clock: Clock,
                 args: argparse.Namespace, fsc: int, folder: str) -> None:
    """Over pcscd and vpcd: the card served by ``ekarta emulator serve`` in its own process (a
    card outside the validator's process, as a reader's is), then by a front-end thread in this
    process (sharing the interpreter with the validator)."""
    try:
        from tests.support.pcsc import _reader_slot, ensure_pcscd, serve_pcsc, wait_reader
    except ImportError as exc:
        print(f"[pcsc] not measured: {exc}")
        return
    taps = max(args.taps // 4, 20)
    card.arm(None)
    card.reset()
    path = os.path.join(folder, "card.json")
    card.save(path)
    try:
        with ensure_pcscd(), _reader_slot() as (port, name, _lock):
            server = subprocess.Popen(
                [sys.executable, "-m", "ekarta", "emulator", "serve", path, "--vpcd",
                 f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                if not wait_reader(name, True):
                    raise RuntimeError(f"pcscd does not show the served card in {name!r}")
                with open_reader(f"pcsc:{name}") as reader:
                    info = reader.wait_for_card(timeout=10)
                    report(measure(f"pcsc, card served by 'ekarta emulator serve', {_uid_by(info)}",
                                   reader, info.uid, validator, clock, taps, args.rounds, fsc))
            finally:
                server.terminate()
                server.wait(10)
                wait_reader(name, False)
        card = VirtualCard.load(path)
        with serve_pcsc(CardHost(card)) as url, open_reader(url) as reader:
            info = reader.wait_for_card(timeout=10)
            report(measure(f"pcsc, card served by a thread of this process, {_uid_by(info)}",
                           reader, info.uid, validator, clock, taps, args.rounds, fsc))
    except (OSError, RuntimeError, TimeoutError) as exc:
        print(f"[pcsc] not measured: {exc}")


def _uid_by(info: CardInfo) -> str:
    # as the validator takes it: the reader's report (PC/SC part 3 GET DATA, asked once when
    # the card arrives), else the card's GetVersion within the tap
    return "UID from the reader" if info.uid is not None else "UID by GetVersion"


if __name__ == "__main__":
    sys.exit(main())
