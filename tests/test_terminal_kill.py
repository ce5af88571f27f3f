"""A terminal killed (SIGKILL) in the middle of a sync keeps an intact store that holds exactly
the pages it applied, and goes on from its cursor."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from datetime import timedelta

import pytest

from ekarta.sync.messages import Feed, HotlistPage
from ekarta.terminal.store import TerminalStore
from ekarta.terminal.sync import apply_response
from tests.support.terminal import OFFICE_KEY, T0, hot, sealed

PAGE = 2_000
PAGES = 200

CHILD = textwrap.dedent(f"""
    import sys
    from datetime import timedelta
    from ekarta.sync.messages import Feed, HotlistPage
    from ekarta.terminal.store import TerminalStore
    from ekarta.terminal.sync import apply_response
    from tests.support.terminal import OFFICE_KEY, T0, hot, sealed
    store = TerminalStore.open(sys.argv[1])
    for number in range({PAGES}):
        page = HotlistPage(reset=number == 0, more=True,
                           items=tuple(hot(n) for n in range(number * {PAGE} + 1,
                                                             (number + 1) * {PAGE} + 1)))
        data = sealed(page, cursor=(number + 1) * {PAGE},
                      issued_at=T0 + timedelta(seconds=number))
        apply_response(store, Feed.HOTLIST, data, keys=[OFFICE_KEY.public_key()],
                       now=T0 + timedelta(hours=1))
        print(number, flush=True)
""")


@pytest.mark.slow
def test_a_sync_killed_mid_page_leaves_the_pages_it_applied(tmp_path):
    path = str(tmp_path / "store.sqlite")
    TerminalStore.open(path, create=True).close()
    child = subprocess.Popen([sys.executable, "-c", CHILD, path], stdout=subprocess.PIPE,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             text=True)
    assert child.stdout is not None
    for _ in range(3):
        child.stdout.readline()
    child.send_signal(signal.SIGKILL)
    child.wait()

    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with TerminalStore.open(path) as store:
        state = store.feed_state(Feed.HOTLIST)
        assert 3 * PAGE <= state.cursor < PAGES * PAGE and state.snapshot == 1
        assert store.status().hotlist == state.cursor, "exactly the pages applied"
        # the next sync goes on from the cursor and ends the snapshot
        done = apply_response(store, Feed.HOTLIST, sealed(
            HotlistPage(reset=False, more=False, items=(hot(PAGES * PAGE + 1),)),
            cursor=PAGES * PAGE + 1, issued_at=T0 + timedelta(minutes=30)),
            keys=[OFFICE_KEY.public_key()], now=T0 + timedelta(hours=1))
        assert done.snapshot_done and store.status().hotlist == state.cursor + 1
