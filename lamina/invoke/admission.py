"""Admission: may one more invocation of this function start now?

Counts busy invocations per function and for the account, against the account
limit and the function's reserved concurrency. A refused invocation raises
`TooManyRequestsException` with AWS's `Reason` before anything has started.
One `Admission` per server is the single source of truth on one machine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from lamina.errors import TooManyRequestsException


@dataclass
class Ticket:
    release: Callable[[], None]


class Admission:
    def __init__(self, account_limit: int,
                 reserved_of: Callable[[str], int | None] = lambda name: None) -> None:
        self.account_limit = account_limit
        self.reserved_of = reserved_of
        self.running: Counter[str] = Counter()
        self.unreserved_running = 0
        self.total = 0

    def admit(self, function: str, version: str, qualifier: str | None, key: str) -> Ticket:
        reserved = self.reserved_of(function)
        if reserved is not None:
            if self.running[function] >= reserved:
                raise TooManyRequestsException("ReservedFunctionConcurrentInvocationLimitExceeded")
        elif self.unreserved_running >= self.unreserved_capacity():
            raise TooManyRequestsException("ConcurrentInvocationLimitExceeded")
        self.running[function] += 1
        self.total += 1
        if reserved is None:
            self.unreserved_running += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self.running[function] -= 1
            self.total -= 1
            if reserved is None:
                self.unreserved_running -= 1

        return Ticket(release)

    def unreserved_capacity(self) -> int:
        return self.account_limit
