"""Whatever the venue loses, drops, delays or doubles, an order is never placed twice and never
fills past its quantity, and once the faults stop, execution and the venue agree.

A hypothesis state machine drives the real risk gate, execution and simulated venue: orders,
cancels, replaces, bars that fill in parts, time passing (timeouts, queries, retries), and faults
scripted one at a time.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from adapters.venues.simulated import SimulatedVenueConfig
from agents.execution.messages import OrderFilled, SubmitOrder
from agents.execution.timeouts import TimeoutConfig
from tests.unit.agents.execution.rig import Rig

D = Decimal
FAULTS = ["lose_submit", "drop_ack", "delay_ack", "duplicate_ack", "lose_cancel",
          "drop_cancel_ack", "lose_query"]  # fmt: skip
TIMEOUTS = TimeoutConfig(ack_timeout_ms=1_000, cancel_timeout_ms=1_000, query_timeout_ms=500,
                         backoff_ms=200, max_backoff_ms=4_000, max_resubmits=2,
                         max_cancel_retries=1, max_queries=3)  # fmt: skip
QTY = st.sampled_from(["0.5", "1", "2"])
PRICE = st.sampled_from(["98", "99", "100", "101", "102"])


class OrderFlow(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        venue = SimulatedVenueConfig(relay=True, volume_share=D("0.25"))
        self.rig = Rig(timeouts=TIMEOUTS, venue=venue)
        self.n = 0
        self.issued: list[str] = []
        self.replaces: list[tuple[str, str, Decimal, Decimal]] = []
        """(old, new, qty, what the old had filled when the replace was asked)"""

    def _next(self) -> str:
        self.n += 1
        cid = f"s-{self.n}"
        self.issued.append(cid)
        return cid

    @rule(side=st.sampled_from(["buy", "sell"]), qty=QTY, price=PRICE)
    def submit(self, side: str, qty: str, price: str) -> None:
        self.n += 1
        cid = self.rig.submit(self.n, side, qty, price)
        self.issued.append(cid)

    @precondition(lambda self: self.issued)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        self.rig.cancel(data.draw(st.sampled_from(self.issued)))

    @precondition(lambda self: self.issued)
    @rule(data=st.data(), qty=QTY, price=PRICE)
    def replace(self, data: st.DataObject, qty: str, price: str) -> None:
        old = data.draw(st.sampled_from(self.issued))
        new = self._next()
        self.replaces.append((old, new, D(qty), self.rig.filled(old)))
        self.rig.replace(old, new, qty, price)

    @rule(fault=st.sampled_from(FAULTS))
    def inject(self, fault: str) -> None:
        self.rig.venue.script.append(fault)

    @rule(low=st.sampled_from(["97", "99", "100.5"]), high=st.sampled_from(["99.5", "101", "103"]),
          volume=st.sampled_from(["2", "8"]))  # fmt: skip
    def bar(self, low: str, high: str, volume: str) -> None:
        self.rig.bar(low=low, high=high, volume=volume)

    @rule(ms=st.sampled_from([100, 1_000, 3_000, 15_000]))
    def wait(self, ms: int) -> None:
        self.rig.advance(ms)

    # -- what must always hold ----------------------------------------------------------------

    @invariant()
    def never_placed_twice(self) -> None:
        venue = self.rig.venue
        assert all(n == 1 for n in venue.placed.values()), venue.placed
        assert venue.state.duplicates == 0

    @invariant()
    def never_overfilled(self) -> None:
        rig = self.rig
        for cid in self.issued:
            sent = rig.sent(SubmitOrder, cid)
            assert len({s.qty for s in sent}) <= 1  # a resubmission is the same order
            if sent:
                assert rig.filled(cid) <= sent[0].qty
            else:
                assert rig.filled(cid) == 0
        for old, new, qty, basis in self.replaces:
            # Until its cancel lands the old order may fill (even past `qty`: that is its own
            # quantity); the new order fills at most what the old left of `qty`.
            assert rig.filled(new) <= max(D(0), qty - (rig.filled(old) - basis))

    @invariant()
    def execution_counts_every_fill(self) -> None:
        for cid, order in self.rig.ex.state.open.items():
            assert order.filled == self.rig.filled(cid)

    @invariant()
    def whatever_rests_at_the_venue_is_open_at_execution(self) -> None:
        open_ = self.rig.ex.state.open
        for book in self.rig.venue.state.book.orders.values():
            for cid in book:
                assert cid in open_, cid

    def teardown(self) -> None:
        rig = self.rig
        rig.venue.script.clear()
        rig.advance(600_000)  # the faults stop: every wait ends
        st_ = rig.ex.state
        for name in ("timeouts", "resubmits", "gave_up", "unresolved", "replaced",
                     "replace_refused"):  # fmt: skip
            if getattr(st_, name):
                event(f"execution {name}")
        if any(f.qty < f.qty + f.leaves_qty for f in rig.events(OrderFilled)):
            event("partial fills")
        open_ = rig.ex.state.open
        for cid, order in open_.items():
            if order.status == "NEW":
                assert order.replaces in open_  # still waiting for the order it replaces
                continue
            resting = rig.venue.state.book.find(cid)
            assert resting is not None, (cid, order.status)
            assert resting.leaves == order.qty - order.filled
            assert order.waiting == "" or order.status == "CANCEL_PENDING"
        assert rig.ex.state.watch.keys() <= open_.keys()


OrderFlow.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_order_flow_never_duplicates_nor_overfills = OrderFlow.TestCase
