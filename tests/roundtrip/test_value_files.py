"""Value files, client <-> card, over every authentication method and comm mode."""

from __future__ import annotations

import pytest

from ekarta.errors import AuthenticationRejected, BoundaryError, PermissionDenied

from ._support import VALUE_ACCESS, App

FILE = 4


def _create(app: App, comm: str, *, lower: int = 0, upper: int = 1000, value: int = 100,
            limited: bool = True) -> None:
    app.card.create_value_file(FILE, lower_limit=lower, upper_limit=upper, value=value,
                               limited_credit=limited, comm=comm, access=VALUE_ACCESS)


@pytest.mark.conformance(auth="ev2first-AES", comm="full")
def test_value_operations(app: App, comm: str) -> None:
    """GetValue, Credit, Debit, LimitedCredit; each change visible only after commit."""
    card = app.card
    _create(app, comm, lower=-100, upper=1000, value=100)
    app.auth(1)
    assert card.get_value(FILE) == 100

    card.credit(FILE, 50)
    assert card.get_value(FILE) == 100, "credit visible before commit"
    card.commit_transaction()
    assert card.get_value(FILE) == 150

    card.debit(FILE, 30)
    card.debit(FILE, 20)
    assert card.get_value(FILE) == 150
    card.commit_transaction()
    assert card.get_value(FILE) == 100

    # after a committed transaction with debits (30 + 20), up to 50 may be given back once
    with pytest.raises(BoundaryError):
        card.limited_credit(FILE, 51)
    app.auth(1)
    card.limited_credit(FILE, 50)
    card.commit_transaction()
    assert card.get_value(FILE) == 150
    with pytest.raises(BoundaryError):
        card.limited_credit(FILE, 1)  # used up: nothing debited since the last one
    app.auth(1)
    assert card.get_value(FILE) == 150

    # negative values within the limits
    card.debit(FILE, 230)
    card.commit_transaction()
    assert card.get_value(FILE) == -80


def test_value_limits(app: App, comm: str) -> None:
    """Debit below the lower limit and credit above the upper one are BoundaryErrors."""
    card = app.card
    _create(app, comm, lower=10, upper=100, value=50)
    app.auth(1)

    with pytest.raises(BoundaryError):
        card.debit(FILE, 41)
    assert card.session is None
    app.auth(1)
    with pytest.raises(BoundaryError):
        card.credit(FILE, 51)
    app.auth(1)
    assert card.get_value(FILE) == 50

    # the limits hold for the staged value of the whole transaction
    card.debit(FILE, 20)
    with pytest.raises(BoundaryError):
        card.debit(FILE, 21)
    app.auth(1)
    card.abort_transaction()
    assert card.get_value(FILE) == 50

    # both limits are inclusive
    card.debit(FILE, 40)
    card.commit_transaction()
    assert card.get_value(FILE) == 10
    card.credit(FILE, 90)
    card.commit_transaction()
    assert card.get_value(FILE) == 100


def test_value_abort(app: App, comm: str) -> None:
    card = app.card
    _create(app, comm, value=500)
    app.auth(1)
    card.credit(FILE, 10)
    card.debit(FILE, 300)
    card.abort_transaction()
    card.commit_transaction()
    assert card.get_value(FILE) == 500
    card.debit(FILE, 300)
    app.select()  # reselection discards the transaction too
    app.auth(1)
    card.commit_transaction()
    assert card.get_value(FILE) == 500


def test_limited_credit_disabled(app: App) -> None:
    card = app.card
    _create(app, "full", value=100, limited=False)
    app.auth(1)
    card.debit(FILE, 10)
    card.commit_transaction()
    with pytest.raises(PermissionDenied):
        card.limited_credit(FILE, 5)
    app.auth(1)
    assert card.get_value(FILE) == 90


def test_value_rights_of_weaker_key(app: App, comm: str) -> None:
    """Key 2 (Read and Write rights) may GetValue, Debit and LimitedCredit, but not Credit."""
    card = app.card
    _create(app, comm, value=100)
    app.auth(2)
    assert card.get_value(FILE) == 100
    card.debit(FILE, 7)
    card.commit_transaction()
    card.limited_credit(FILE, 7)
    card.commit_transaction()
    assert card.get_value(FILE) == 100
    with pytest.raises(AuthenticationRejected):
        card.credit(FILE, 1)
    assert card.session is None
    app.auth(1)
    assert card.get_value(FILE) == 100


def test_free_get_value_without_session(app: App) -> None:
    """The value file's "free GetValue" flag lets GetValue run without a session."""
    card = app.card
    card.create_value_file(FILE, upper_limit=1000, value=321, free_get_value=True, comm="full",
                           access=VALUE_ACCESS)
    card.create_value_file(FILE + 1, upper_limit=1000, value=123, comm="full",
                           access=VALUE_ACCESS)
    app.select()
    assert card.get_value(FILE) == 321
    with pytest.raises(AuthenticationRejected):
        card.get_value(FILE + 1)
    app.auth(1)
    assert card.get_value(FILE + 1) == 123
    assert card.get_value(FILE) == 321  # and inside a session, in the file's mode
