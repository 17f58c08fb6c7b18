"""When to try a failing account again: exponential backoff with jitter.

The first retry waits `base` (one minute), every further failure doubles the
pause up to `maximum` (``[daemon] retry_max_minutes``). Each pause is then
shortened by a random fraction of up to `jitter` (20 %), so several accounts
on the same server that failed together do not all come back at the same
second, and a pause never exceeds `maximum`. A success forgets the account's
failures.

Time is passed in by the caller (`datetime` values), so replays with a fixed
clock and tests with a fake one behave exactly like the real thing; the
random generator can be injected for deterministic tests.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Backoff"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _State:
    failures: int
    retry_at: datetime


class Backoff:
    """Per-account retry times.

    :param maximum: the longest pause.
    :param base: the first pause.
    :param jitter: the largest fraction (0..1) a pause may be shortened by.
    :param rng: random generator (``random.Random(seed)`` in tests).
    :param kind: what the names are, for the log ("account work: ..."); empty
        when a name says it by itself ("digest delivery: ...").
    """

    def __init__(
        self,
        maximum: timedelta,
        base: timedelta = timedelta(minutes=1),
        jitter: float = 0.2,
        rng: random.Random | None = None,
        kind: str = "account",
    ) -> None:
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self.maximum = max(maximum, base)
        self.base = base
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._accounts: dict[str, _State] = {}
        self._kind = f"{kind} " if kind else ""

    def delay(self, failures: int) -> timedelta:
        """The pause after `failures` failures in a row (>= 1), jitter applied."""
        exponent = min(max(failures, 1) - 1, 32)  # 2**32 minutes is far beyond any maximum
        factor: int = 2**exponent  # an int: exponent >= 0 (typeshed types int ** int as Any)
        full = min(self.base * factor, self.maximum)
        return full * (1 - self.jitter * self._rng.random())

    def failed(self, account: str, now: datetime) -> datetime:
        """Record a failure of `account` at `now`; return when to try it again."""
        state = self._accounts.get(account)
        failures = state.failures + 1 if state else 1
        retry_at = now + self.delay(failures)
        self._accounts[account] = _State(failures, retry_at)
        logger.info("%s%s: failure %d in a row, next try at %s", self._kind, account, failures,
                    f"{retry_at:%Y-%m-%d %H:%M:%S %Z}".rstrip())
        return retry_at

    def succeeded(self, account: str) -> None:
        """Forget the account's failures."""
        if self._accounts.pop(account, None) is not None:
            logger.info("%s%s: working again", self._kind, account)

    def failures(self, account: str) -> int:
        """How many times in a row the account has failed."""
        state = self._accounts.get(account)
        return state.failures if state else 0

    def retry_at(self, account: str) -> datetime | None:
        """When a failing account may be tried again, or None if it is not failing."""
        state = self._accounts.get(account)
        return state.retry_at if state else None

    def ready(self, account: str, now: datetime) -> bool:
        """True if the account may be scanned at `now`."""
        state = self._accounts.get(account)
        return state is None or now >= state.retry_at

    def due_retries(self, now: datetime) -> list[str]:
        """Failing accounts whose pause is over."""
        return [name for name, state in self._accounts.items() if now >= state.retry_at]

    def forget_except(self, accounts: set[str]) -> None:
        """Drop accounts no longer configured (after a config reload)."""
        for name in list(self._accounts):
            if name not in accounts:
                del self._accounts[name]
