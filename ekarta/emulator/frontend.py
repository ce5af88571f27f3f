"""The life cycle the emulator's front-ends share: one daemon thread that serves until stopped.

A front-end (vpcd, PN532, UDP, and the control interface) opens what it serves on, runs one
daemon thread, and stops within a bounded time.  :class:`FrontEnd` holds that life cycle; a
subclass fills in the steps:

* ``_open()`` — take the sockets, ptys and listeners it needs; on failure it releases what it
  took and raises (:class:`~ekarta.errors.EmulatorError` for what the user can fix);
* ``_run()`` — the thread: serve until ``self._stopping`` is set;
* ``_wake()`` — make a ``_run`` blocked in ``select()``/``poll()`` see the stop at once;
* ``_close(ended)`` — release what ``_open`` took; ``ended`` is False when the thread is still
  running (it did not end within the join timeout, or ``stop()`` was called from it), so that
  what the thread may still touch can be kept;
* ``_started()`` — optional, after the thread started (outside the life-cycle lock);
* ``describe()`` — the one-line banner, logged once serving.

``start()`` does nothing when the front-end is already started; ``stop()`` is idempotent and
waits for the thread at most ``timeout`` seconds (default :attr:`FrontEnd.JOIN_TIMEOUT`).
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Self

__all__ = ["FrontEnd"]


class FrontEnd:
    """Start/stop/context manager around one serving daemon thread (see the module docstring)."""

    #: How long stop() waits for the thread by default.
    JOIN_TIMEOUT = 5.0

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._life = threading.Lock()
        self._log = logging.getLogger(type(self).__module__)

    # --- what subclasses fill in -----------------------------------------------------------------

    def describe(self) -> str:
        raise NotImplementedError

    def _thread_name(self) -> str:
        return type(self).__name__

    def _open(self) -> None:
        """Take what the thread serves on; release it again and raise on failure."""

    def _run(self) -> None:
        raise NotImplementedError

    def _wake(self) -> None:
        """Make a blocked ``_run`` notice ``_stopping`` at once."""

    def _close(self, ended: bool) -> None:
        """Release what ``_open`` took; ``ended`` is False while the thread still runs."""

    def _started(self) -> None:
        """Called once the thread runs, outside the life-cycle lock."""

    # --- the life cycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the serving thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Open and start serving on a daemon thread; nothing when already started."""
        with self._life:
            if self._thread is not None:
                return
            self._open()
            self._stopping.clear()
            thread = threading.Thread(target=self._run, name=self._thread_name(), daemon=True)
            self._thread = thread
            thread.start()
        self._started()
        self._log.info("%s", self.describe())

    def stop(self, timeout: float | None = None) -> None:
        """Stop serving and release everything; waits for the thread at most ``timeout`` s."""
        wait = self.JOIN_TIMEOUT if timeout is None else timeout
        with self._life:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._stopping.set()
            self._wake()
            ended = False
            if thread is not threading.current_thread():
                thread.join(wait)
                ended = not thread.is_alive()
                if not ended:
                    # only a card slower than this to answer can hold the thread
                    self._log.error("%s: the thread did not stop within %.1f s",
                                    self._thread_name(), wait)
            self._close(ended)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
