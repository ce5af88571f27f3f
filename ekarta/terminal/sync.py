"""One sync of a terminal with its office: pull the feeds its role may pull, push its journal.

The core takes bytes and a store and knows no network: :func:`open_page` opens one response
(the signed envelope, checked against the operator's keys, the clock and the last page
applied, then the page's typed model) and :func:`apply_response` applies it to the store in one
transaction with its cursor.  A tampered, replayed or stale page changes nothing and is
reported.  :func:`push_journal` sends the outbox in batches and marks what the office
acknowledged; the rest goes again next time.

The edge is :class:`OfficeClient` (httpx) and :func:`sync_once`, which ties them together.  A
feed is pulled page by page from the store's cursor until a page says no ``more`` follow.  A
page with ``reset`` starts a full snapshot unless one is under way (a terminal killed in the
middle of one goes on with it from its cursor); :mod:`~ekarta.terminal.store` drops what the
snapshot did not hold when its last page arrives.  A feed that asks the terminal again for a
cursor it already asked for in this sync is stopped (:class:`FeedStalled`), not followed round.
"""

from __future__ import annotations

import functools
import gc
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ValidationError

from ekarta.sync.envelope import ENVELOPE_MAX, Envelope, EnvelopeRejected, open_envelope
from ekarta.sync.messages import (
    API_PREFIX,
    FEED_ROLES,
    ActionPage,
    DeviceView,
    EntitlementPage,
    Feed,
    HotlistPage,
    JournalAck,
    JournalBatch,
    Lease,
)
from ekarta.terminal.config import TerminalConfig, envelope_keys
from ekarta.terminal.errors import (
    FeedStalled,
    LeaseRefused,
    OfficeError,
    OfficeProtocolError,
    OfficeUnreachable,
    RoleRefused,
    TokenRefused,
)
from ekarta.terminal.store import Page, PageApplied, TerminalStore

__all__ = [
    "JOURNAL_BATCH",
    "JOURNAL_KEPT",
    "PAGE_LIMIT",
    "FeedReport",
    "JournalTally",
    "OfficeClient",
    "OfficeLeases",
    "Progress",
    "SyncReport",
    "apply_response",
    "lease",
    "open_page",
    "pull_feed",
    "push_journal",
    "sync_once",
]

log = logging.getLogger(__name__)

PAGE_LIMIT = 10_000
"""Items asked for per page: a page's transaction stays short, and the apps' reads with it."""
JOURNAL_BATCH = 500
JOURNAL_KEPT = timedelta(days=7)
"""How long acknowledged events stay in the outbox (for a look at what was reported)."""
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
LEASE_TIMEOUT = httpx.Timeout(2.0, connect=1.0)
"""How long a check waits for the office's lease on an action: the card is in the field."""
MODEL_MAX = 1024 * 1024
"""The largest answer other than a feed page (a journal acknowledgement of a full batch)."""

_PAGE_TYPES: dict[Feed, type[Page]] = {Feed.HOTLIST: HotlistPage,
                                       Feed.ENTITLEMENTS: EntitlementPage,
                                       Feed.ACTIONS: ActionPage}

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class FeedReport:
    """What one feed's pull did."""

    feed: Feed
    pages: int = 0
    items: int = 0
    removed: int = 0
    cursor: int = 0
    bytes: int = 0
    snapshot_done: bool = False
    error: str | None = None


@dataclass(frozen=True)
class SyncReport:
    """What one sync did: per feed, the journal pushed and acknowledged, and what failed."""

    feeds: tuple[FeedReport, ...] = ()
    pushed: int = 0
    """Journal events sent (a resent one counts again)."""
    acknowledged: int = 0
    """Events the office acknowledged that were waiting here."""
    outbox: int = 0
    """Events still waiting after the sync."""
    errors: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.errors


# --- the core: bytes and a store ------------------------------------------------------------------


def open_page(feed: Feed, data: bytes, *, keys: Sequence[Ed25519PublicKey], now: datetime,
              last_issued_at: datetime | None) -> tuple[Envelope, Page]:
    """The envelope of the office's response ``data`` (its cursor, issue time, validity and
    the page's JSON) and the page it holds; :class:`EnvelopeRejected` for a tampered, stale or
    replayed one, :class:`OfficeProtocolError` for a signed payload that is not a page of
    ``feed``."""
    envelope = open_envelope(data, key=keys, kind=feed.value, now=now,
                             last_issued_at=last_issued_at)
    return envelope, _page(feed, envelope)


def _page(feed: Feed, envelope: Envelope) -> Page:
    try:
        return _PAGE_TYPES[feed].model_validate_json(envelope.payload)
    except ValidationError as exc:
        raise OfficeProtocolError(f"the office's {feed} page is not one "
                                  f"({exc.error_count()} errors)") from None


def apply_response(store: TerminalStore, feed: Feed, data: bytes, *,
                   keys: Sequence[Ed25519PublicKey], now: datetime) -> PageApplied:
    """Open the office's response ``data`` for ``feed`` and apply its page to ``store`` in one
    transaction with its cursor; the store is unchanged when it is refused."""
    with _collector_paused():
        envelope, page = open_page(feed, data, keys=keys, now=now,
                                   last_issued_at=store.feed_state(feed).issued_at)
        applied = store.apply_page(feed, page, cursor=envelope.cursor,
                                   issued_at=envelope.issued_at,
                                   valid_until=envelope.valid_until, now=now,
                                   payload=envelope.payload)
        del page  # freed while the collector is off (else its next pass walks all of it)
    return applied


_pause_lock = threading.Lock()
_pauses = 0
_resume = False


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector held off while a page is turned into models and stored.

    A page is tens of thousands of small models, none in a reference cycle, which reference
    counting frees as soon as the page is stored; the collector's passes over them while they
    are built found nothing and took a third of a full sync.  Pauses from several threads nest:
    the collector runs again when the last ends, if it ran before the first.
    """
    global _pauses, _resume
    with _pause_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()


@dataclass
class JournalTally:
    """What a push did so far: kept by the caller, so that a push the office broke off still
    counts the batches it acknowledged before."""

    sent: int = 0
    """Journal events sent (a resent one counts again)."""
    acknowledged: int = 0
    """Events the office acknowledged that were waiting here."""


def push_journal(store: TerminalStore, send: Callable[[JournalBatch], JournalAck], *,
                 now: datetime, batch: int = JOURNAL_BATCH,
                 tally: JournalTally | None = None) -> tuple[int, int]:
    """Send the outbox in batches of ``batch`` through ``send`` and mark what the office
    acknowledged; returns (sent, acknowledged), also counted in ``tally`` as it goes.  A batch
    the office acknowledges nothing of stops the push (:class:`OfficeProtocolError`; it is sent
    again next time)."""
    tally = JournalTally() if tally is None else tally
    while True:
        events = store.outbox(batch)
        if not events:
            return tally.sent, tally.acknowledged
        ack = send(JournalBatch(events=events))
        tally.sent += len(events)
        ids = {event.event_id for event in events}
        marked = store.acknowledge((i for i in ack.acknowledged if i in ids), now=now)
        tally.acknowledged += marked
        if marked == 0:
            raise OfficeProtocolError(f"the office acknowledged none of {len(events)} journal "
                                      "events")


# --- the edge: HTTP -------------------------------------------------------------------------------


class OfficeClient:
    """The office's API as one terminal's token reaches it."""

    def __init__(self, config: TerminalConfig, client: httpx.Client | None = None, *,
                 timeout: httpx.Timeout = TIMEOUT) -> None:
        self._base = config.office + API_PREFIX
        self._own = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout,
                                                                      verify=_tls())
        self._headers = {"Authorization": f"Bearer {config.token}"}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self._client.close()

    def _request(self, method: str, path: str, *, limit: int = ENVELOPE_MAX,
                 params: dict[str, int] | None = None, content: bytes | None = None) -> bytes:
        url = self._base + path
        headers = dict(self._headers)
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            with self._client.stream(method, url, headers=headers, params=params,
                                     content=content) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise OfficeProtocolError(f"the office's answer to {path} is larger "
                                                  f"than {limit} bytes")
                status = response.status_code
        except httpx.TransportError as exc:
            raise OfficeUnreachable(f"cannot reach the office at {self._base}: "
                                    f"{_reason(exc)}") from None
        _check_status(status, path)
        return bytes(body)

    def _model(self, model: type[M], method: str, path: str,
               content: bytes | None = None) -> M:
        body = self._request(method, path, limit=MODEL_MAX, content=content)
        try:
            return model.model_validate_json(body)
        except ValidationError:
            raise OfficeProtocolError(f"the office's answer to {path} is not a "
                                      f"{model.__name__}") from None

    def device(self) -> DeviceView:
        """Who the office takes this token for."""
        return self._model(DeviceView, "GET", "/device")

    def feed_page(self, feed: Feed, cursor: int, limit: int = PAGE_LIMIT) -> bytes:
        """The sealed envelope of the page of ``feed`` after ``cursor``."""
        return self._request("GET", f"/feeds/{feed.value}",
                             params={"cursor": cursor, "limit": limit})

    def push(self, batch: JournalBatch) -> JournalAck:
        return self._model(JournalAck, "POST", "/journal",
                           content=batch.model_dump_json().encode())

    def lease(self, action_id: int) -> Lease:
        return self._model(Lease, "POST", f"/actions/{action_id}/lease")


@functools.cache
def _tls() -> ssl.SSLContext:
    """The TLS settings of every client of this process: made once (loading the certificate
    authorities takes longer than a sync of a few changes)."""
    return httpx.create_ssl_context()


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or type(exc).__name__


_LEASE_REFUSALS = {404: "the office knows no action {id}",
                   409: "another device holds the lease on action {id}",
                   410: "action {id} is done or cancelled"}


def _check_status(status: int, path: str) -> None:
    if status < 300:
        return
    if status == 401:
        raise TokenRefused("the office refused this terminal's token (unknown or revoked): "
                           "ask the office for a new device and run 'ekarta terminal init' "
                           "again")
    if status == 403:
        raise RoleRefused(f"the office does not let this terminal's role use {path}")
    if path.startswith("/actions/") and status in _LEASE_REFUSALS:
        action = path.split("/")[2]
        raise LeaseRefused(_LEASE_REFUSALS[status].format(id=action), status)
    if status >= 500:
        raise OfficeUnreachable(f"the office failed to answer {path} (HTTP {status})")
    raise OfficeProtocolError(f"the office refused {path} (HTTP {status})")


# --- one sync -------------------------------------------------------------------------------------


Progress = Callable[[Feed, PageApplied], None]


def pull_feed(store: TerminalStore, office: OfficeClient, feed: Feed, *,
              keys: Sequence[Ed25519PublicKey], now: datetime,
              progress: Progress | None = None, limit: int = PAGE_LIMIT) -> FeedReport:
    """Pull ``feed`` from the store's cursor until its last page; raises what stopped it."""
    return _pull(store, office, feed, keys=keys, clock=lambda: now, progress=progress,
                 limit=limit)[0]


AHEAD = 2
"""Pages a feed's pull fetches beyond the one being stored (each a few megabytes)."""

_MORE = b'"more":true'
_MORE_WITHIN = 64
"""Where the office's page says whether more follow: a hint to fetch the next page before this
one is parsed (the parsed page decides; a wrong guess costs one request)."""


@dataclass(frozen=True)
class _Fetched:
    """A page fetched and its envelope checked; its parsing under way, and the fetch of the
    page after it if its payload says more follow."""

    envelope: Envelope
    size: int
    parsed: Future[Page]
    following: Future[_Fetched | None] | None


def _pull(store: TerminalStore, office: OfficeClient, feed: Feed, *,
          keys: Sequence[Ed25519PublicKey], clock: Callable[[], datetime],
          progress: Progress | None, limit: int,
          keep_going: bool = False) -> tuple[FeedReport, OfficeError | None]:
    """The feed's report so far, and (with ``keep_going``) the office's error that stopped it
    (a refused page is reported in the report, not raised).

    Three threads work on a feed's pages at once: one fetches them from the office and checks
    their envelopes, in order, up to :data:`AHEAD` pages ahead; one parses them; this one
    stores them.  SQLite lets go of the interpreter while it stores a page, so on a machine
    with a second core the parsing of the next page and the office's reading of the one after
    it go on meanwhile.

    Each fetch runs in a daemon thread of its own (one after the other: a fetch starts the
    next): a request to an office that does not answer can be neither broken off nor waited
    for when the pull stops, or the process ends, as an executor's threads are."""
    state = store.feed_state(feed)
    report = FeedReport(feed, cursor=state.cursor)
    parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ekarta-{feed}-parse")
    room = threading.Semaphore(AHEAD)
    stopped = threading.Event()

    def fetch(cursor: int, last_issued_at: datetime | None) -> _Fetched | None:
        while not room.acquire(timeout=0.1):
            if stopped.is_set():
                return None
        if stopped.is_set():
            return None
        data = office.feed_page(feed, cursor, limit)
        envelope = open_envelope(data, key=keys, kind=feed.value, now=clock(),
                                 last_issued_at=last_issued_at)
        parsed = parser.submit(_page, feed, envelope)
        following = None
        if _MORE in envelope.payload[:_MORE_WITHIN] and envelope.cursor > cursor \
                and not stopped.is_set():
            following = fetcher(envelope.cursor, envelope.issued_at)
        return _Fetched(envelope, len(data), parsed, following)

    def fetcher(cursor: int, last_issued_at: datetime | None) -> Future[_Fetched | None]:
        return _in_daemon_thread(f"ekarta-{feed}-fetch", fetch, cursor, last_issued_at)

    asked = {state.cursor}
    try:
        with _collector_paused():
            current: Future[_Fetched | None] | None = fetcher(state.cursor,
                                                              state.issued_at)
            while current is not None:
                fetched = current.result()
                assert fetched is not None  # only a stopped pull gives None
                envelope, page = fetched.envelope, fetched.parsed.result()
                current = None
                if page.more:
                    if envelope.cursor in asked:
                        raise FeedStalled(f"the office's {feed} feed announced more pages but "
                                          f"does not move on from cursor {envelope.cursor}")
                    asked.add(envelope.cursor)
                    current = fetched.following or fetcher(envelope.cursor,
                                                           envelope.issued_at)
                elif fetched.following is not None:
                    stopped.set()  # a wrong guess: the page after the last is not wanted
                applied = store.apply_page(feed, page, cursor=envelope.cursor,
                                           issued_at=envelope.issued_at,
                                           valid_until=envelope.valid_until, now=clock(),
                                           payload=envelope.payload)
                room.release()
                size = fetched.size
                del fetched, envelope, page  # the page's models go while the collector is off
                report = FeedReport(feed, report.pages + 1, report.items + applied.items,
                                    report.removed + applied.removed, applied.cursor,
                                    report.bytes + size,
                                    report.snapshot_done or applied.snapshot_done)
                if progress is not None:
                    progress(feed, applied)
        return report, None
    except (EnvelopeRejected, OfficeError) as exc:
        if not keep_going:
            raise
        log.warning("%s: %s", feed, exc)
        return replace(report, error=str(exc)), exc if isinstance(exc, OfficeError) else None
    finally:
        stopped.set()
        parser.shutdown(wait=True, cancel_futures=True)


def _in_daemon_thread(name: str, call: Callable[..., T], *args: Any) -> Future[T]:
    """``call(*args)`` in a new daemon thread; its result or exception in the future."""
    future: Future[T] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(call(*args))
        except BaseException as exc:  # the future carries it to whoever waits
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def sync_once(config: TerminalConfig, store: TerminalStore, now: datetime, *,
              client: httpx.Client | None = None, progress: Progress | None = None,
              batch: int = JOURNAL_BATCH, limit: int = PAGE_LIMIT) -> SyncReport:
    """Pull every feed ``config.role`` may pull, then push the journal outbox.  Failures are
    in the report's ``errors``: a refused page stops its feed (the store keeps its last
    applied page), an unreachable office or a refused token stops the sync."""
    keys = envelope_keys(config.load_keystore())
    started = time.monotonic()

    def clock() -> datetime:
        # a long sync (a million entries on a slow card) must not take the office's later
        # pages for pages from the future
        return now + timedelta(seconds=time.monotonic() - started)

    feeds: list[FeedReport] = []
    errors: list[str] = []
    tally = JournalTally()
    with OfficeClient(config, client) as office:
        stopped = False
        for feed in Feed:
            if config.role not in FEED_ROLES[feed]:
                continue
            report, failure = _pull(store, office, feed, keys=keys, clock=clock,
                                    progress=progress, limit=limit, keep_going=True)
            feeds.append(report)
            if report.error is not None:
                errors.append(report.error)
            if isinstance(failure, OfficeUnreachable | TokenRefused):
                stopped = True  # nothing more to try now
                break
        if not stopped:
            try:
                push_journal(store, office.push, now=clock(), batch=batch, tally=tally)
            except OfficeError as exc:
                log.warning("journal: %s", exc)
                errors.append(str(exc))
    store.prune_journal(now - JOURNAL_KEPT)
    return SyncReport(tuple(feeds), tally.sent, tally.acknowledged, store.status().outbox,
                      tuple(errors))


def lease(config: TerminalConfig, store: TerminalStore, action_id: int, *,
          client: httpx.Client | None = None, timeout: httpx.Timeout = LEASE_TIMEOUT) -> Lease:
    """Take the office's lease on an action before doing it (:class:`LeaseRefused` when
    another device holds it or it is gone; the other :class:`OfficeError` when the office
    cannot be asked, within ``timeout``) and remember it in the store."""
    with OfficeClient(config, client, timeout=timeout) as office:
        taken = office.lease(action_id)
    if taken.action_id != action_id:
        raise OfficeProtocolError(f"the office leased action {taken.action_id}, not {action_id}")
    store.note_lease(taken)
    return taken


class OfficeLeases:
    """:func:`lease` for one terminal, as its checks ask: each lease is asked with a card in the
    field, so the connection to the office (its TLS handshake) is made once and kept, not made
    again for every action.  Belongs to the thread of ``store``; :meth:`close` ends it."""

    def __init__(self, config: TerminalConfig, store: TerminalStore, *,
                 timeout: httpx.Timeout = LEASE_TIMEOUT) -> None:
        self._config = config
        self._store = store
        self._timeout = timeout
        self._client: httpx.Client | None = None

    def __call__(self, action_id: int) -> Lease:
        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout, verify=_tls())
        return lease(self._config, self._store, action_id, client=self._client)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
