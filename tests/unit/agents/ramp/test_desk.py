"""The ramp desk in the sim kernel, against a deterministic provider and wallet written here.

The provider below answers like Banxa (an order per account reference; fetch returns the status
it holds now); the tests move its statuses and deliver webhooks the way the real ones arrive:
duplicated, shuffled, late.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.ramp.actor import RampDesk, RampDeskConfig
from agents.ramp.messages import (
    AssignDepositAddress,
    ConfirmSellOrder,
    CreateRampOrder,
    CryptoSent,
    DepositAddressAssigned,
    FetchRampOrder,
    FiatPaidOut,
    PlaceRampOrder,
    RampOrderFetched,
    RampOrderPlaced,
    RampOrderRefused,
    RampOrderUpdated,
    RampWebhook,
    SellOrderConfirmed,
    SendCrypto,
    WalletChanged,
)
from agents.ramp.orders import advances
from runtime import (
    Actor,
    ActorSpec,
    ApprovalDesk,
    Approve,
    EffectReconciled,
    Message,
    Reject,
    SimKernel,
)

D = Decimal
BUY_PATH = ["pendingPayment", "waitingPayment", "paymentReceived", "inProgress",
            "coinTransferred", "complete"]  # fmt: skip
SELL_PATH = ["pendingPayment", "waitingPayment", "paymentReceived", "inProgress",
             "cryptoTransferred", "complete"]  # fmt: skip


class Provider(Actor):
    """A Banxa-like provider: one order per account reference; fetch tells the truth now."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, str]] = {}
        self.by_ref: dict[str, str] = {}
        self.fetches = 0
        self.confirms: list[str] = []

    def on_place(self, msg: PlaceRampOrder) -> None:
        pid = self.by_ref.get(msg.ramp_id)
        if pid is None:
            pid = f"bx-{len(self.orders) + 1}"
            self.by_ref[msg.ramp_id] = pid
            self.orders[pid] = {"ramp_id": msg.ramp_id, "status": "pendingPayment"}
        self.ctx.publish(
            RampOrderPlaced(
                ramp_id=msg.ramp_id,
                provider_order_id=pid,
                status="pendingPayment",
                deposit_address="bx-deposit-addr" if msg.side == "sell" else "",
                coin_amount=D("0.01") if msg.side == "buy" else None,
                fiat_amount=D("950.00") if msg.side == "sell" else None,
            )
        )

    def on_fetch(self, msg: FetchRampOrder) -> None:
        self.fetches += 1
        o = self.orders[msg.provider_order_id]
        self.ctx.publish(
            RampOrderFetched(
                ramp_id=msg.ramp_id, provider_order_id=msg.provider_order_id, status=o["status"]
            )
        )

    def on_confirm(self, msg: ConfirmSellOrder) -> None:
        self.confirms.append(msg.tx_hash)
        self.ctx.publish(
            SellOrderConfirmed(ramp_id=msg.ramp_id, provider_order_id=msg.provider_order_id)
        )


class Wallets(Actor):
    """Deterministic addresses; each transfer id sent once, counted."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def on_addr(self, msg: AssignDepositAddress) -> None:
        self.ctx.publish(
            DepositAddressAssigned(user=msg.user, asset=msg.asset, address=f"addr-{msg.user}")
        )

    def on_send(self, msg: SendCrypto) -> None:
        self.sent.append(msg.transfer_id)
        self.ctx.publish(
            CryptoSent(transfer_id=msg.transfer_id, ramp_id=msg.ramp_id, tx_hash="0xfeed")
        )


class Tape(Actor):
    def __init__(self) -> None:
        self.got: list[Message] = []

    def on_start(self) -> None:
        for t in (RampOrderUpdated, RampOrderRefused, WalletChanged, FiatPaidOut):
            self.ctx.subscribe(t)

    def on_any(self, msg: Message) -> None:
        self.got.append(msg)

    def of(self, t: type[Message]) -> list[Message]:
        return [m for m in self.got if isinstance(m, t)]


class World:
    def __init__(self, **params: object) -> None:
        self.k = SimKernel(start_ns=0)
        self.desk = RampDesk(RampDeskConfig(**params))  # type: ignore[arg-type]
        self.provider, self.wallets, self.tape = Provider(), Wallets(), Tape()
        self.k.add_actor(ActorSpec("ramp", lambda: self.desk))
        self.k.add_actor(ActorSpec("banxa", lambda: self.provider))
        self.k.add_actor(ActorSpec("wallets", lambda: self.wallets))
        self.k.add_actor(ActorSpec("approvals", ApprovalDesk))
        self.k.add_actor(ActorSpec("tape", lambda: self.tape))

    def send(self, msg: Message, src: str = "operator:alice") -> None:
        self.k.emit_input(src, msg)
        self.k.run(until_ns=self.k.now_ns() + 1)

    def status(self, pid: str, status: str, *, webhooks: int = 1) -> None:
        self.provider.orders[pid]["status"] = status
        for _ in range(webhooks):
            self.send(RampWebhook(provider="banxa", provider_order_id=pid, status=status), "hook")

    def onramp(self, ramp_id: str = "r1", user: str = "u1") -> str:
        self.send(
            CreateRampOrder(ramp_id=ramp_id, side="buy", user=user, fiat="EUR", coin="BTC",
                            fiat_amount=D("1000.00"), requested_by="alice")
        )  # fmt: skip
        return self.provider.by_ref[ramp_id]


def test_an_onramp_credits_the_wallet_once_when_the_provider_says_complete() -> None:
    w = World()
    pid = w.onramp()
    for s in BUY_PATH:
        w.status(pid, s)
    assert w.desk.wallet("u1", "BTC") == (D("0.01"), D(0))
    credits = w.tape.of(WalletChanged)
    assert [(c.delta, c.reason) for c in credits] == [(D("0.01"), "onramp")]  # type: ignore[attr-defined]
    last = w.tape.of(RampOrderUpdated)[-1]
    assert (last.stage, last.provider_status) == ("complete", "complete")  # type: ignore[attr-defined]
    w.desk.ledger.audit()  # double entry holds


def test_a_hundred_duplicate_webhooks_make_one_transition_and_one_fetch() -> None:
    w = World()
    pid = w.onramp()
    w.status(pid, "paymentReceived", webhooks=100)
    moved = [m for m in w.tape.of(RampOrderUpdated) if m.provider_status == "paymentReceived"]  # type: ignore[attr-defined]
    assert len(moved) == 1
    assert w.provider.fetches == 1
    assert w.desk.state.duplicates == 99


@settings(max_examples=60, deadline=None)
@given(st.permutations(BUY_PATH), st.lists(st.sampled_from(BUY_PATH), max_size=8))
def test_shuffled_webhooks_end_complete_with_one_credit(order: list[str], extra: list[str]) -> None:
    w = World()
    pid = w.onramp()
    w.provider.orders[pid]["status"] = "complete"  # the provider is done; webhooks straggle in
    for s in [*order, *extra]:
        w.send(RampWebhook(provider="banxa", provider_order_id=pid, status=s), "hook")
    assert w.desk.wallet("u1", "BTC") == (D("0.01"), D(0))
    assert len(w.tape.of(WalletChanged)) == 1


def test_a_forged_status_in_a_webhook_moves_nothing_the_provider_does_not_confirm() -> None:
    w = World()
    pid = w.onramp()
    w.send(RampWebhook(provider="banxa", provider_order_id=pid, status="complete"), "hook")
    assert w.desk.wallet("u1", "BTC") == (D(0), D(0))  # the fetch said pendingPayment
    assert w.desk.state.orders["r1"].provider_status == "pendingPayment"


def test_an_offramp_holds_sends_once_confirms_and_records_the_payout() -> None:
    w = World()
    pid = w.onramp()
    for s in BUY_PATH:
        w.status(pid, s)
    w.send(CreateRampOrder(ramp_id="s1", side="sell", user="u1", fiat="EUR", coin="BTC",
                           coin_amount=D("0.004"), requested_by="alice"))  # fmt: skip
    spid = w.provider.by_ref["s1"]
    assert w.wallets.sent == ["send-s1"]
    assert w.provider.confirms == ["0xfeed"]
    assert w.desk.wallet("u1", "BTC") == (D("0.006"), D(0))
    for s in SELL_PATH:
        w.status(spid, s, webhooks=3)
    assert w.wallets.sent == ["send-s1"]
    paid = w.tape.of(FiatPaidOut)
    assert [(p.fiat, p.amount) for p in paid] == [("EUR", D("950.00"))]  # type: ignore[attr-defined]
    w.desk.ledger.audit()


def test_an_offramp_beyond_the_wallet_is_refused_and_changes_nothing() -> None:
    w = World()
    w.send(CreateRampOrder(ramp_id="s1", side="sell", user="u1", fiat="EUR", coin="BTC",
                           coin_amount=D("1"), requested_by="alice"))  # fmt: skip
    (refused,) = w.tape.of(RampOrderRefused)
    assert refused.code == "insufficient_funds"  # type: ignore[attr-defined]
    assert "s1" not in w.desk.state.orders
    assert w.wallets.sent == []


@pytest.mark.parametrize(
    ("decision", "sent"),
    [(Approve(request_id="ramp:s1", by="bob"), ["send-s1"]),
     (Reject(request_id="ramp:s1", by="bob", reason="no"), [])],
)  # fmt: skip
def test_a_large_offramp_waits_for_an_approval(decision: Message, sent: list[str]) -> None:
    w = World(approval_above={"BTC": D("0.001")})
    pid = w.onramp()
    for s in BUY_PATH:
        w.status(pid, s)
    w.send(CreateRampOrder(ramp_id="s1", side="sell", user="u1", fiat="EUR", coin="BTC",
                           coin_amount=D("0.004"), requested_by="alice"))  # fmt: skip
    assert w.desk.state.orders["s1"].stage == "awaiting_approval"
    assert w.desk.wallet("u1", "BTC") == (D("0.006"), D("0.004"))
    assert w.wallets.sent == []
    w.send(Approve(request_id="ramp:s1", by="alice"), "operator:alice")  # own request: refused
    assert w.desk.state.orders["s1"].stage == "awaiting_approval"
    w.send(decision, "operator:bob")
    w.send(decision, "operator:bob")  # a second decision changes nothing
    assert w.wallets.sent == sent
    if not sent:
        assert w.desk.wallet("u1", "BTC") == (D("0.01"), D(0))
        assert w.desk.state.orders["s1"].stage == "rejected"


def test_an_approval_that_times_out_rejects_and_releases_the_coins() -> None:
    w = World(approval_above={"BTC": D("0")}, approval_timeout_secs=60)
    pid = w.onramp()
    for s in BUY_PATH:
        w.status(pid, s)
    w.send(CreateRampOrder(ramp_id="s1", side="sell", user="u1", fiat="EUR", coin="BTC",
                           coin_amount=D("0.004"), requested_by="alice"))  # fmt: skip
    w.k.run(until_ns=w.k.now_ns() + 61 * 10**9)
    assert w.desk.state.orders["s1"].stage == "rejected"
    assert w.desk.wallet("u1", "BTC") == (D("0.01"), D(0))


def test_a_place_never_done_before_a_crash_is_placed_again_with_the_same_key() -> None:
    w = World()
    w.send(CreateRampOrder(ramp_id="r9", side="buy", user="u1", fiat="EUR", coin="BTC",
                           fiat_amount=D("10"), requested_by="alice"))  # fmt: skip
    before = len(w.provider.orders)
    w.send(EffectReconciled(command_seq=1, idem_key="ramp:place:r9", outcome="not_done"), "banxa")
    assert len(w.provider.orders) == before  # the provider found it by account reference


def test_bad_create_commands_are_refused_with_a_reason() -> None:
    w = World()
    w.send(CreateRampOrder(ramp_id="x", side="buy", user="u1", fiat="EUR", coin="BTC"))
    w.send(CreateRampOrder(ramp_id="y", side="sell", user="u1", fiat="EUR", coin="BTC",
                           coin_amount=D("-1")))  # fmt: skip
    codes = [m.code for m in w.tape.of(RampOrderRefused)]  # type: ignore[attr-defined]
    assert codes == ["invalid", "invalid"]
    w.onramp("r1")
    w.onramp("r1")
    assert [m.code for m in w.tape.of(RampOrderRefused)][-1] == "duplicate"  # type: ignore[attr-defined]


def test_the_desk_restores_mid_flow_and_still_credits_once() -> None:
    w = World()
    pid = w.onramp()
    w.status(pid, "paymentReceived")
    blob = w.desk.snapshot()
    fresh = RampDesk()
    assert blob is not None
    fresh.restore(blob)
    assert fresh.state.orders["r1"].provider_status == "paymentReceived"
    assert fresh.wallet("u1", "BTC") == (D(0), D(0))


PATH = st.sampled_from([BUY_PATH, ["pendingPayment", "waitingPayment", "expired",
                                   "paymentReceived", "inProgress", "coinTransferred", "complete"],
                        ["pendingPayment", "waitingPayment", "expired"],
                        ["pendingPayment", "cancelled"], ["pendingPayment", "paymentReceived",
                                                          "declined"]])  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_shuffle_of_a_real_progression_ends_where_it_ends(data: st.DataObject) -> None:
    path = data.draw(PATH)
    shuffled = data.draw(st.permutations(path))
    dupes = data.draw(st.lists(st.sampled_from(path), max_size=6))
    current = ""
    for s in [*shuffled, *dupes]:
        if advances("buy", current, s):
            current = s
    # an out-of-order path may stop early at `expired`, but never past where the path ends
    assert current == path[-1] or (current == "expired" and "expired" in path) or (
        path[-1] in ("complete",) and current in path
    )
