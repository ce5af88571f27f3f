"""A terminal app run as a person runs it: in a terminal of a given size, keys typed into it,
its screen read back as text.

:class:`TmuxSession` starts a command in a detached tmux session on a server of its own (a
private socket: no other tmux session on the machine is seen or touched), with the pane kept
after the command ends so that its last screen and exit status can still be read.  Keys go in
with :meth:`~TmuxSession.send_keys` (tmux's key names: ``F2``, ``Enter``, ``C-x``) and the
screen comes back from ``capture-pane`` (:meth:`~TmuxSession.screen`);
:meth:`~TmuxSession.wait_for` polls it until a text appears or the time is up, and then fails
with the screen as it was.  Closing (or leaving the ``with`` block) kills the server and
everything it runs.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Self

__all__ = ["TmuxSession", "shows_big", "shows_welcome"]


def shows_big(screen: str, text: str) -> bool:
    """Whether ``screen`` shows ``text`` in the terminal apps' block letters (as a verdict's
    headline is drawn), anywhere on it."""
    from ekarta.terminal.apps.bigtext import GLYPH_HEIGHT, render

    rows = [row.rstrip() for row in render(text)]
    lines = screen.splitlines()
    width = max(len(row) for row in rows)
    for top in range(len(lines) - len(rows) + 1):
        left = lines[top].find(rows[0])
        while left >= 0:
            # a text without accents has nothing drawn right above it (else it is another
            # text's letters under their accents)
            above = lines[top - 1][left:left + width] if top else ""
            if all(lines[top + i][left:left + len(row)] == row for i, row in enumerate(rows)) \
                    and (len(rows) > GLYPH_HEIGHT or not above.strip()):
                return True
            left = lines[top].find(rows[0], left + 1)
    return False


def shows_welcome(screen: str) -> bool:
    """Whether ``screen`` is a checking terminal's welcome in Czech (English below)."""
    return shows_big(screen, "PŘILOŽTE") and "Present your card" in screen


class TmuxSession:
    """``command`` (a list of words, or a shell line) in a ``width`` x ``height`` terminal."""

    def __init__(self, command: Sequence[str] | str, *, width: int = 80, height: int = 24,
                 env: Mapping[str, str] | None = None, cwd: str | None = None,
                 term: str = "xterm-256color") -> None:
        assert shutil.which("tmux"), "tmux is one of the test tools: run scripts/install"
        self.socket = f"ekarta-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.name = "app"
        self.width = width
        self.height = height
        line = command if isinstance(command, str) else shlex.join(command)
        environment = {"TERM": term, **(env or {})}
        exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in environment.items())
        # set before the command starts: a command that ends at once still leaves its pane
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
            conf.write("set -g remain-on-exit on\nset -g status off\n")
        self._conf = conf.name
        # the exit status goes to a file: tmux may mark a pane dead before it reaps its
        # process, and then has no status to tell
        self._status = conf.name[:-len(".conf")] + ".status"
        shell_line = f"env {exports} {line}; echo $? > {shlex.quote(self._status)}"
        try:
            self._tmux("-f", self._conf, "new-session", "-d", "-s", self.name, "-x", str(width),
                       "-y", str(height), *(("-c", cwd) if cwd else ()), shell_line)
        except BaseException:
            self.close()
            raise

    def _tmux(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                                text=True, timeout=10)
        if check and result.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def send_keys(self, *keys: str, literal: bool = False) -> None:
        """Type ``keys`` (tmux key names; ``literal``: each as the text it is)."""
        self._tmux("send-keys", "-t", self.name, *(("-l",) if literal else ()), *keys)

    def screen(self) -> str:
        """The pane's text now, one line per row (trailing blanks removed)."""
        return self._tmux("capture-pane", "-p", "-t", self.name)

    def exit_status(self) -> int | None:
        """The command's exit status once it has ended, None while it runs."""
        try:
            with open(self._status) as f:
                text = f.read().strip()
        except FileNotFoundError:
            return None
        return int(text) if text else None

    def wait_for(self, expected: str | Callable[[str], bool], *, timeout: float = 10.0,
                 interval: float = 0.05, settle: float = 0.2) -> str:
        """The screen once it shows ``expected`` (a text, or a test of the screen's text) and
        stays the same for ``settle`` seconds: an app draws a new screen in several writes, and
        a capture between them holds the new headline without the lines under it.
        AssertionError with the last screen when ``timeout`` seconds pass first."""
        test = expected if callable(expected) else (lambda screen: expected in screen)
        deadline = time.monotonic() + timeout
        matched: str | None = None
        while True:
            screen = self.screen()
            if test(screen):
                if screen == matched or time.monotonic() >= deadline:
                    return screen  # settled (or still moving at the end: it does show it)
                matched = screen
                time.sleep(settle)
                continue
            matched = None
            if time.monotonic() >= deadline:
                what = expected if isinstance(expected, str) else "the expected screen"
                raise AssertionError(f"{what!r} not on the screen within {timeout} s; it "
                                     f"shows:\n{screen}")
            time.sleep(interval)

    def wait_for_exit(self, *, timeout: float = 10.0) -> int:
        """The command's exit status, waiting up to ``timeout`` seconds for it to end."""
        deadline = time.monotonic() + timeout
        while (status := self.exit_status()) is None:
            if time.monotonic() >= deadline:
                raise AssertionError(f"still running after {timeout} s; the screen:\n"
                                     f"{self.screen()}")
            time.sleep(0.05)
        return status

    def close(self) -> None:
        """Kill the session's server and everything it runs."""
        self._tmux("kill-server", check=False)
        for path in (self._conf, self._status):
            with contextlib.suppress(OSError):
                os.unlink(path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
