"""The back office at a large network's scale, on SQLite and on PostgreSQL.

For each database: a fresh office (``populate``: 300,000 cards with their entitlements, the first
100,000 of them blocked) served by a real ``ekarta office serve`` on loopback, then

- journal ingest through the API: batches of 500 validation events posted by one httpx client
  (events/s, target >= 5,000);
- a fresh validator terminal's full sync (``sync_once`` into a real terminal store: seconds and
  bytes over the wire, target < 10 s);
- a delta of 1,000 changes made by the office's feed helpers (250 cards blocked: a hotlist and an
  entitlement change each; 500 profiles changed), then ``sync_once`` (ms, median of three rounds,
  target < 200 ms);

and once, the database aside, a terminal's hotlist lookup at 1,000,000 entries
(``benchmarks/terminal.py``, target < 20 µs).  PostgreSQL is a private server
(tests/support/postgres.py) with fsync and synchronous commits on unless ``--no-fsync``; the
office's SQLite file runs as the office runs it (WAL, ``synchronous=NORMAL``).

    python -m benchmarks.office [--quick] [--database sqlite|postgresql] [--no-fsync]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository's root holds the packages
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from benchmarks.host import host_line
from benchmarks.office_data import populate
from benchmarks.terminal import measure
from ekarta.backoffice.database import open_engine
from ekarta.backoffice.feeds import list_blocked, refresh_entitlement
from ekarta.backoffice.schema import Block, Card
from ekarta.backoffice.store import add_device, migrate
from ekarta.sync.messages import DeviceView
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import TerminalConfig, init_terminal
from ekarta.terminal.sync import PAGE_LIMIT, SyncReport, sync_once
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.security.keystore import TERMINAL_KEYS, FileKeyStore, create_keystore
from tests.support.office import OfficeServer
from tests.support.postgres import PostgresServer

BATCH = 500
DELTA_ROUNDS = 3
TARGETS = {"ingest": 5_000.0, "full": 10.0, "delta": 200.0, "lookup": 20.0}


@dataclass(frozen=True)
class Scale:
    entitled: int
    blocked: int
    batches: int
    lookup_entries: int


FULL = Scale(300_000, 100_000, 40, 1_000_000)
QUICK = Scale(30_000, 10_000, 10, 100_000)


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _line(name: str, figure: str, target: str, ok: bool) -> None:
    print(f"  {name:<34} {figure:>16}   target {target:<12} {_verdict(ok)}", flush=True)


def _batches(count: int, card_numbers: Sequence[int], at: datetime) -> list[bytes]:
    """``count`` journal batches of validations, as a terminal sends them."""
    bodies = []
    for b in range(count):
        events = [{"event_id": str(uuid.uuid4()), "kind": "validation", "at": at.isoformat(),
                   "card_number": f"{card_numbers[(b * BATCH + i) % len(card_numbers)]:010d}",
                   "result": 0, "line": 22, "vehicle": 9001, "zone": 1}
                  for i in range(BATCH)]
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def ingest(server: OfficeServer, token: str, bodies: Sequence[bytes]) -> float:
    """Events per second stored through ``POST /v1/journal``."""
    with server.client(token, timeout=60.0) as client:
        client.get("/v1/device").raise_for_status()  # the connection and the token, warm
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/v1/journal", content=body,
                                   headers={"Content-Type": "application/json"})
            response.raise_for_status()
        seconds = time.perf_counter() - started
    return len(bodies) * BATCH / seconds


def _synced(config: TerminalConfig, limit: int) -> tuple[float, SyncReport, tuple[int, int]]:
    with config.open_store() as store:
        started = time.perf_counter()
        report = sync_once(config, store, datetime.now(UTC), limit=limit)
        seconds = time.perf_counter() - started
        status = store.status()
    if not report.ok:
        raise RuntimeError(f"the sync failed: {'; '.join(report.errors)}")
    return seconds, report, (status.hotlist, status.entitlements)


def change(engine: Engine, round_: int, now: datetime) -> int:
    """1,000 changes of the feeds, as office operations make them; returns how many."""
    with Session(engine) as session, session.begin():
        cards = session.scalars(select(Card).where(Card.status == "active")
                                .order_by(Card.id).offset(round_ * 750).limit(750)).all()
        for card in cards[:250]:
            card.status = "blocked"
            session.add(Block(card_id=card.id, reason="lost", blocked_at=now))
            list_blocked(session, card, now=now)
            refresh_entitlement(session, card, now=now)
        for card in cards[250:]:
            card.profile = "student"
            refresh_entitlement(session, card, now=now)
    return 250 * 2 + len(cards[250:])


def settle(engine: Engine) -> None:
    """What a running office's routine maintenance has done to tables loaded in bulk a moment
    ago: their statistics, and on PostgreSQL their rows' visibility marked (else the first
    reads of a snapshot write the whole table back)."""
    vacuum = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(vacuum))


def run(name: str, url: str, scale: Scale, folder: Path, keys: Path, validator_keys: Path,
        limit: int) -> dict[str, float]:
    print(f"{name}:", flush=True)
    now = datetime.now(UTC)
    engine = open_engine(url)
    migrate(engine)
    token = add_device(engine, "validator 1", DeviceRole.VALIDATOR, now=now)
    started = time.perf_counter()
    populate(engine, entitled=scale.entitled, blocked=scale.blocked, now=now)
    settle(engine)
    print(f"  (office populated in {time.perf_counter() - started:.1f} s)", flush=True)
    figures: dict[str, float] = {}
    numbers = [int(CardNumber.from_serial(1 + i)) for i in range(min(scale.entitled, 10_000))]
    bodies = _batches(scale.batches, numbers, now)
    with OfficeServer.running(url, keys, log=folder / f"{name}-serve.log") as server:
        figures["ingest"] = rate = ingest(server, token, bodies)
        _line(f"journal ingest ({len(bodies)} x {BATCH})", f"{rate:,.0f} events/s",
              f">= {TARGETS['ingest']:,.0f}", rate >= TARGETS["ingest"])
        settle(engine)  # each figure on its own: the ingest's maintenance is not the sync's
        config = init_terminal(str(folder / f"{name}-terminal"), office=server.url, token=token,
                               role=DeviceRole.VALIDATOR,
                               keystore=FileKeyStore.load(validator_keys),
                               device=DeviceView(name="validator 1", role=DeviceRole.VALIDATOR))
        seconds, report, (hot, held) = _synced(config, limit)
        if (hot, held) != (scale.blocked, scale.entitled):
            raise RuntimeError(f"the full sync brought {hot} blocked and {held} entitled cards")
        figures["full"] = seconds
        wire = sum(feed.bytes for feed in report.feeds)
        pages = sum(feed.pages for feed in report.feeds)
        _line(f"full sync ({hot + held:,} items, {pages} pages)", f"{seconds:.2f} s",
              f"< {TARGETS['full']:.0f} s", seconds < TARGETS["full"])
        print(f"  {'  over the wire':<34} {wire / 1e6:>13.1f} MB", flush=True)
        times = []
        for round_ in range(DELTA_ROUNDS):
            changes = change(engine, round_, datetime.now(UTC))
            seconds, report, _ = _synced(config, limit)
            items = sum(feed.items + feed.removed for feed in report.feeds)
            if items != changes:
                raise RuntimeError(f"the delta brought {items} changes, not {changes}")
            times.append(seconds * 1000)
        figures["delta"] = delta = statistics.median(times)
        _line("delta of 1,000 changes", f"{delta:.0f} ms", f"< {TARGETS['delta']:.0f} ms",
              delta < TARGETS["delta"])
    engine.dispose()
    return figures


@contextmanager
def _databases(which: str, folder: Path, durable: bool) -> Iterator[list[tuple[str, str]]]:
    chosen = []
    if which in ("both", "sqlite"):
        chosen.append(("sqlite", str(folder / "office.sqlite")))
    if which in ("both", "postgresql"):
        with PostgresServer.running(durable=durable) as postgres:
            chosen.append(("postgresql", postgres.new_database()))
            yield chosen
        return
    yield chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the network (and of the lookup's hotlist)")
    parser.add_argument("--database", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument("--no-fsync", action="store_true",
                        help="PostgreSQL without fsync and synchronous commits (as the tests)")
    parser.add_argument("--limit", type=int, default=PAGE_LIMIT,
                        help=f"items the terminal asks for per page (default {PAGE_LIMIT:,})")
    parser.add_argument("--no-lookup", action="store_true", help="leave the lookup out")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    print(host_line(), flush=True)
    print(f"office benchmark: {scale.entitled:,} entitled cards, {scale.blocked:,} blocked; "
          f"PostgreSQL fsync {'off' if args.no_fsync else 'on'}", flush=True)
    with tempfile.TemporaryDirectory(prefix="ekarta-bench-") as name:
        folder = Path(name)
        keys = folder / "keys.json"
        full = create_keystore(keys)
        validator_keys = folder / "validator.json"
        validator_keys.write_text(json.dumps(
            full.export(TERMINAL_KEYS[DeviceRole.VALIDATOR.value]).to_document()))
        os.chmod(validator_keys, 0o600)
        with _databases(args.database, folder, not args.no_fsync) as databases:
            for database, url in databases:
                run(database, url, scale, folder, keys, validator_keys, args.limit)
    if args.no_lookup:
        return 0
    figures = measure(scale.lookup_entries)
    by_number = figures.medians[0]
    worst = max(by_number[1], by_number[2])
    print("terminal:", flush=True)
    _line(f"hotlist lookup at {figures.entries:,}", f"{worst:.2f} µs",
          f"< {TARGETS['lookup']:.0f} µs", worst < TARGETS["lookup"])
    for lookup, listed, unlisted in figures.medians:
        print(f"    {lookup:<22} listed {listed:6.2f} µs   not listed {unlisted:6.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
