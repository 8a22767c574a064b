"""Concurrency accounting: property tests of `Admission` against a model pool.

The pool model behaves like lamina.pool.Pool as admission sees it: an admitted
invocation takes an idle provisioned environment, else an idle on-demand one,
else a new one; a release puts the environment back where it came from.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from lamina.errors import TooManyRequestsException
from lamina.invoke import admission as adm
from lamina.invoke.admission import Admission, Limits, Ticket, TokenBucket

FUNCTIONS = ["a", "b", "c"]


class ModelPool:
    def __init__(self) -> None:
        self.idle: Counter[str] = Counter()
        self.prov_idle: Counter[str] = Counter()
        self.prov_size: Counter[str] = Counter()

    def idle_count(self, key: str) -> int:
        return self.idle[key]

    def provisioned_idle(self, key: str) -> int:
        return self.prov_idle[key]

    def provisioned_size(self, key: str) -> int:
        return self.prov_size[key]

    def take(self, ticket: Ticket) -> None:
        if ticket.provisioned:
            self.prov_idle[ticket.key] -= 1
        elif not ticket.cold:
            self.idle[ticket.key] -= 1

    def give_back(self, ticket: Ticket) -> None:
        if ticket.provisioned:
            self.prov_idle[ticket.key] += 1
        else:
            self.idle[ticket.key] += 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key_of(function: str) -> str:
    return f"{function}/1/digest"


class AdmissionMachine(RuleBasedStateMachine):
    @initialize(account=st.integers(1, 40),
                reserved=st.dictionaries(st.sampled_from(FUNCTIONS), st.integers(0, 10)),
                provisioned=st.dictionaries(st.sampled_from(FUNCTIONS), st.integers(1, 4)),
                rate=st.integers(1, 20), legacy=st.booleans())
    def setup(self, account: int, reserved: dict[str, int], provisioned: dict[str, int],
              rate: int, legacy: bool) -> None:
        self.pool = ModelPool()
        self.clock = Clock()
        self.reserved = reserved
        self.provisioned = provisioned
        for fn, n in provisioned.items():
            self.pool.prov_idle[key_of(fn)] = n
            self.pool.prov_size[key_of(fn)] = n
        self.rate = rate
        self.legacy = legacy
        self.adm = Admission(account, pool=self.pool,
                             limits=lambda: Limits(dict(self.reserved), dict(self.provisioned)),
                             scaling_per_10s=rate,
                             scaling_mode="legacy-burst" if legacy else "function",
                             legacy_burst_size=rate, clock=self.clock)
        self.tickets: list[Ticket] = []
        self.cold: Counter[str] = Counter()
        self.started = self.clock.now

    @rule(fn=st.sampled_from(FUNCTIONS))
    def admit(self, fn: str) -> None:
        before = (dict(self.adm.running), self.adm.unreserved_running, self.adm.total,
                  dict(self.adm.provisioned_running), dict(self.adm.cold_admissions))
        try:
            ticket = self.adm.admit(fn, "1", None, key_of(fn))
        except TooManyRequestsException as exc:
            after = (dict(self.adm.running), self.adm.unreserved_running, self.adm.total,
                     dict(self.adm.provisioned_running), dict(self.adm.cold_admissions))
            assert after == before, "a refusal must change nothing"
            reason = exc.extra["Reason"]
            assert reason in (adm.RESERVED_LIMIT, adm.ACCOUNT_LIMIT, adm.FUNCTION_RATE,
                              adm.RESERVED_RATE)
            if reason == adm.RESERVED_LIMIT:
                assert fn in self.reserved
            if reason in (adm.FUNCTION_RATE, adm.RESERVED_RATE):
                assert int(exc.headers["Retry-After"]) >= 1
            else:
                assert "Retry-After" not in exc.headers
            return
        self.pool.take(ticket)
        if ticket.cold:
            self.cold["" if self.legacy else fn] += 1
        self.tickets.append(ticket)

    @precondition(lambda self: self.tickets)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        ticket = self.tickets.pop(data.draw(st.integers(0, len(self.tickets) - 1)))
        ticket.release()
        ticket.release()          # idempotent
        self.pool.give_back(ticket)

    @rule(seconds=st.floats(0, 15))
    def tick(self, seconds: float) -> None:
        self.clock.now += seconds

    @invariant()
    def within_limits(self) -> None:
        a = self.adm
        assert a.total == len(self.tickets)
        assert a.total <= a.account_limit
        for fn, r in self.reserved.items():
            assert a.running[fn] <= r
        assert a.unreserved_running <= max(0, a.unreserved_capacity())
        for fn, n in self.provisioned.items():
            assert a.provisioned_running[key_of(fn)] <= n
        assert sum(a.running.values()) == a.total

    @invariant()
    def scaling_rate(self) -> None:
        elapsed = self.clock.now - self.started
        for n in self.cold.values():
            if self.legacy:
                assert n <= self.rate + math.floor(elapsed * adm.LEGACY_REFILL_PER_MINUTE / 60) + 1
            else:
                assert n <= self.rate + math.floor(elapsed * self.rate / 10) + 1

    def teardown(self) -> None:
        if not hasattr(self, "adm"):
            return
        for ticket in self.tickets:
            ticket.release()
        assert self.adm.total == 0 and self.adm.unreserved_running == 0
        assert not self.adm.running and not self.adm.provisioned_running


AdmissionMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=40,
                                              deadline=None)
TestAdmission = AdmissionMachine.TestCase


def test_zero_reserved_throttles_everything() -> None:
    a = Admission(100, limits=lambda: Limits({"f": 0}))
    with pytest.raises(TooManyRequestsException) as err:
        a.admit("f", "$LATEST", None, "k")
    assert err.value.extra == {"Reason": adm.RESERVED_LIMIT}
    assert a.throttles["f"] == 1 and a.total == 0


def test_unreserved_pool_excludes_reservations_and_unreserved_pc() -> None:
    a = Admission(1000, limits=lambda: Limits({"r": 300}, {"p": 50, "r": 20}))
    assert a.unreserved_limit() == 700
    assert a.unreserved_capacity() == 650


def test_provisioned_invocations_skip_the_shared_pool_and_scaling() -> None:
    pool = ModelPool()
    pool.prov_idle["k"] = pool.prov_size["k"] = 2
    a = Admission(3, pool=pool, limits=lambda: Limits({}, {"f": 2}), scaling_per_10s=1)
    tickets = []
    for _ in range(2):
        t = a.admit("f", "1", "live", "k")
        pool.take(t)
        tickets.append(t)
        assert t.provisioned and not t.unreserved and not t.cold
    assert a.provisioned_concurrent_executions("k") == 2
    assert a.provisioned_utilization("k") == 1.0
    assert a.unreserved_concurrent_executions() == 0
    spill = a.admit("f", "1", "live", "k")     # spill-over into the shared pool (3 - 2 = 1)
    assert spill.unreserved and spill.cold and not spill.provisioned
    assert a.provisioned_invocations["k"] == 2 and a.spillover_invocations["k"] == 1
    with pytest.raises(TooManyRequestsException) as err:
        a.admit("f", "1", "live", "k")
    assert err.value.extra["Reason"] == adm.ACCOUNT_LIMIT
    for t in [*tickets, spill]:
        t.release()
    assert a.provisioned_concurrent_executions() == 0 and a.concurrent_executions() == 0


def test_scaling_rate_refills_continuously_and_sends_retry_after() -> None:
    clock = Clock()
    a = Admission(1000, scaling_per_10s=10, clock=clock)
    for _ in range(10):
        a.admit("f", "$LATEST", None, "k")
    with pytest.raises(TooManyRequestsException) as err:
        a.admit("f", "$LATEST", None, "k")
    assert err.value.extra["Reason"] == adm.FUNCTION_RATE
    assert err.value.headers["Retry-After"] == "1"
    a.admit("g", "$LATEST", None, "k2")          # functions scale independently
    clock.now += 1.0                             # 10 per 10 s -> one more token per second
    a.admit("f", "$LATEST", None, "k")
    with pytest.raises(TooManyRequestsException):
        a.admit("f", "$LATEST", None, "k")


def test_legacy_burst_is_account_wide() -> None:
    clock = Clock()
    a = Admission(10_000, scaling_mode="legacy-burst", legacy_burst_size=3, clock=clock)
    for fn in "abc":
        a.admit(fn, "$LATEST", None, fn)
    with pytest.raises(TooManyRequestsException) as err:
        a.admit("d", "$LATEST", None, "d")
    assert int(err.value.headers["Retry-After"]) == math.ceil(60 / adm.LEGACY_REFILL_PER_MINUTE)
    clock.now += 60 / adm.LEGACY_REFILL_PER_MINUTE
    a.admit("d", "$LATEST", None, "d")
    assert adm.legacy_burst("us-east-1") == 3000 and adm.legacy_burst("eu-central-1") == 1000
    assert adm.legacy_burst("sa-east-1") == 500


@given(capacity=st.integers(1, 50), rate=st.floats(0.1, 100),
       steps=st.lists(st.tuples(st.floats(0, 5), st.integers(1, 20)), max_size=30))
def test_token_bucket_never_exceeds_capacity_plus_refill(capacity: int, rate: float,
                                                         steps: list[tuple[float, int]]) -> None:
    now = 0.0
    bucket = TokenBucket(capacity, rate, now)
    taken = 0
    for dt, tries in steps:
        now += dt
        taken += sum(bucket.take(now) for _ in range(tries))
        assert taken <= capacity + rate * now + 1e-9
        assert 0 <= bucket.tokens <= capacity
