"""Budgets of the property-based tests: a few examples in the fast loop, many under ``slow``.

A property test takes ``budget`` from :data:`BUDGETS` and runs its body with :func:`budgeted`, so
the fast and the slow run share one body::

    @pytest.mark.parametrize("budget", BUDGETS)
    def test_something(budget):
        @budgeted(budget)
        @given(st.binary())
        def check(data): ...
        check()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

__all__ = ["BUDGETS", "budgeted"]

#: (examples in the fast loop, examples under the slow marker)
FAST, SLOW = 25, 1500

BUDGETS = [
    pytest.param(FAST, id="fast"),
    pytest.param(SLOW, id="slow", marks=pytest.mark.slow),
]


def budgeted(budget: int, *, fast: int | None = None) -> Callable[[Any], Any]:
    """Hypothesis settings for ``budget`` examples (``fast`` overrides the fast loop's count),
    without a deadline: the slow run shares the machine with other tests."""
    examples = fast if fast is not None and budget == FAST else budget
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
