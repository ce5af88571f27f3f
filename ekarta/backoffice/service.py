"""Running the office: its API on uvicorn (:func:`serve`) and the jobs it runs every day
(:func:`run_daily_jobs`, :class:`DailyJobs`).

One process serves by default.  With ``workers`` > 1 uvicorn starts that many processes, each
building the app from the environment (:func:`app_from_environment`); they
share one database, which then had better be PostgreSQL (an SQLite file serialises every write).
The daily jobs run once, in the process that started the workers.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ekarta.backoffice import maintenance
from ekarta.backoffice.api import create_app
from ekarta.backoffice.database import open_engine, redacted
from ekarta.backoffice.errors import DatabaseError, OfficeError
from ekarta.backoffice.feeds import prune
from ekarta.backoffice.store import newest_version, schema_version
from ekarta.errors import EkartaError
from ekarta.sync.envelope import envelope_key
from ekarta.transit.security.keystore import FileKeyStore
from ekarta.transit.security.signing import CouponSigner

__all__ = [
    "DAY",
    "ENV_DATABASE",
    "ENV_KEYS",
    "POOL_SIZE",
    "DailyJobs",
    "OfficeKeys",
    "app_from_environment",
    "open_office",
    "run_daily_jobs",
    "serve",
]

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
POOL_SIZE = 20
"""Database connections a serving process keeps (and as many more at a peak): about as many as
requests it handles at once."""
HTTP_LOGGER = "ekarta.backoffice.http"
ENV_DATABASE = "EKARTA_OFFICE_DB"
ENV_KEYS = "EKARTA_KEYS"
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class OfficeKeys:
    """What the office signs with: sync responses (``envelope``) and the coupons it sells
    (``signer``), both the operator's one signing key."""

    envelope: Ed25519PrivateKey
    signer: CouponSigner


def open_office(database: str, keys: str) -> tuple[Engine, OfficeKeys]:
    """The engine of an office database at this version and the keys of the keystore ``keys``:
    what serving needs, checked before anything is served."""
    try:
        signer = FileKeyStore.load(keys).signer()
        office_keys = OfficeKeys(envelope_key(signer), signer)
    except EkartaError as exc:
        raise OfficeError(f"cannot sign sync responses: {exc}") from exc
    engine = open_engine(database, pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
    try:
        version = schema_version(engine)
        if version != newest_version():
            raise DatabaseError(
                f"{redacted(database)} is not an office database at this version "
                f"({version or 'none'}): run 'ekarta office init --db ...' first")
    except BaseException:
        engine.dispose()
        raise
    return engine, office_keys


def app_from_environment() -> FastAPI:
    """The API as each worker process of ``ekarta office serve --workers N`` builds it: the
    database from ``$EKARTA_OFFICE_DB``, the envelope key from the keystore ``$EKARTA_KEYS``
    (``uvicorn --factory ekarta.backoffice.service:app_from_environment``)."""
    try:
        database, keys = os.environ[ENV_DATABASE], os.environ[ENV_KEYS]
    except KeyError as exc:
        raise OfficeError(f"set ${exc.args[0]} to serve the office's API") from None
    _end_with_parent()
    engine, office_keys = open_office(database, keys)
    return create_app(engine, envelope_key=office_keys.envelope, signer=office_keys.signer,
                      dispose=True)


def _end_with_parent() -> None:
    """Have the kernel stop this worker when the process that started it dies, however it
    dies: a worker left behind would go on serving the port (Linux only; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def run_daily_jobs(engine: Engine, now: datetime) -> None:
    """What the office does every day: the maintenance (purge, expiries, unreturned
    replacements...) and pruning the feeds' old removals."""
    maintenance.run_daily(engine, now)
    with Session(engine) as session, session.begin():
        prune(session, now)


class DailyJobs:
    """Runs :func:`run_daily_jobs` in a thread: at start, then every ``every``; a failed run is
    logged and tried again at the next."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 every: timedelta = DAY) -> None:
        self._engine = engine
        self._clock = clock
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="office-daily", daemon=True)
        self.runs = 0

    def start(self) -> DailyJobs:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while True:
            try:
                run_daily_jobs(self._engine, self._clock())
                log.info("daily jobs done")
            except Exception:  # the server keeps serving; the next run tries again
                log.exception("the daily jobs failed")
            self.runs += 1
            if self._stop.wait(self._every.total_seconds()):
                return


class _ToEkarta(logging.Handler):
    """Passes uvicorn's log records on to ekarta's log (``ekarta.backoffice.http``)."""

    def emit(self, record: logging.LogRecord) -> None:
        target = logging.getLogger(HTTP_LOGGER)
        if target.isEnabledFor(record.levelno):
            record.name = HTTP_LOGGER
            target.handle(record)


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"ekarta": {"()": f"{__name__}._ToEkarta"}},
    "loggers": {name: {"handlers": ["ekarta"], "level": "INFO", "propagate": False}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
}
"""uvicorn's logging, sent through ekarta's (uvicorn applies it in every worker)."""


def _check_listen(host: str, port: int) -> None:
    """Refuse an address that cannot be listened on, before anything starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as exc:
        raise OfficeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(database: str, keys: str, *, host: str = "127.0.0.1", port: int = 8000,
          workers: int = 1) -> None:
    """Serve the API on ``host:port`` until SIGINT or SIGTERM, with the daily jobs running."""
    import uvicorn  # only the serving process loads the server

    _check_listen(host, port)
    engine, office_keys = open_office(database, keys)
    stopped: list[int] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        # uvicorn shuts down gracefully on the signal, then raises it again: it is noted here
        # rather than ending the process, so that the command exits 0
        stopped.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    daily = DailyJobs(engine).start()
    log.info("serving the office's API on http://%s:%d (%d worker%s)", host, port, workers,
             "" if workers == 1 else "s")
    try:
        if workers == 1:
            app = create_app(engine, envelope_key=office_keys.envelope,
                             signer=office_keys.signer)
            uvicorn.run(app, host=host, port=port, log_config=LOG_CONFIG, server_header=False)
        else:
            os.environ[ENV_DATABASE] = database
            os.environ[ENV_KEYS] = keys
            uvicorn.run(f"{__name__}:app_from_environment", factory=True, host=host,
                        port=port, workers=workers, log_config=LOG_CONFIG, server_header=False)
    finally:
        daily.stop()
        engine.dispose()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("the office's API stopped%s",
             f" on signal {signal.Signals(stopped[0]).name}" if stopped else "")
