"""Power loss during a ticket-sized write never leaves a mixed card.

A validator writes a 48-byte ticket into a backup data file, appends a 32-byte journal entry and
debits the purse, then commits (:mod:`tests.support.ticketing`).  The card is torn (power lost)
as each command of that transaction arrives and in the middle of each; afterwards the three files
must show either the old state or the new one, and all the same one: CommitTransaction is the
single moment the change takes effect.
"""

from __future__ import annotations

import pytest

from ekarta.emulator import Faults
from ekarta.errors import CardRemovedError
from ekarta.readers import open_reader
from tests.support.ticketing import (
    COMMANDS,
    COMMIT,
    NEW_STATE,
    OLD_STATE,
    contents,
    personalise,
    validate,
)


@pytest.fixture
def reader():
    with open_reader("emulator:") as reader:
        personalise(reader)
        yield reader


def test_the_transaction_without_faults_writes_every_file(reader):
    validate(reader)
    assert contents(reader) == NEW_STATE


def _tear_points():
    # "after n" tears as command n arrives (n == COMMANDS: never); "during n" half-way through
    points = [("after", n, None) for n in range(COMMANDS + 1)]
    points += [("during", n, progress) for n in range(COMMANDS) for progress in (0.1, 0.5, 0.9)]
    return points


@pytest.mark.parametrize(("kind", "n", "progress"), _tear_points(),
                         ids=lambda v: str(v))
def test_a_torn_write_leaves_the_files_old_or_new(reader, kind, n, progress):
    if kind == "after":
        reader.card.arm(Faults(tear_after=n))
    else:
        reader.card.arm(Faults(tear_during=n, tear_progress=progress))
    try:
        validate(reader)
        torn = False
    except CardRemovedError:
        torn = True
    reader.card.arm(Faults())
    reader.card.insert()
    state = contents(reader)
    if kind == "after":
        assert torn == (n < COMMANDS)
        assert state == (OLD_STATE if n < COMMANDS else NEW_STATE)
    elif n < COMMIT:
        assert torn and state == OLD_STATE
    else:
        assert torn
        assert state == (NEW_STATE if progress >= 0.5 else OLD_STATE)


def test_the_tear_points_cover_every_command(reader):
    before = reader.card.commands_processed
    validate(reader)
    assert reader.card.commands_processed - before == COMMANDS
