"""Hash-chain every envelope of a run and batch the rows a store makes durable.

One definition of the chain holds at every journal level::

    head_0 = 32 zero bytes
    head_n = sha256(head_{n-1} || msgpack(envelope_n))      for every envelope, in seq order

so a run's head hash names its content whatever was stored: `full` stores every envelope with its
head; `inputs` stores the inputs (each with the head before and after it) and a checkpoint row of
the running head every `checkpoint_every` outputs; `off` stores nothing and still computes the head.
Replay re-derives the outputs and compares heads at every stored row, so both `full` and `inputs`
name the first divergence (exactly for `full`, to within one checkpoint window for `inputs`).

This module does no I/O: the kernels hand `take_batch()` to a `Store` (group commit).
"""

from __future__ import annotations

import bisect
import hashlib
import operator
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Literal, NamedTuple, Protocol

import msgspec

from runtime._errors import JournalBrokenError, JournalClosedError, StoreBrokenError
from runtime._message import CODEC, HEADER_DECODER, Envelope, Message

JournalLevel = Literal["full", "inputs", "off"]
RowKind = Literal["in", "out", "ck"]

GENESIS = bytes(32)
"""The head before the first envelope of every run."""

_sha256 = hashlib.sha256
_new_row = tuple.__new__  # NamedTuple.__new__ runs Python code; this builds the same row in C
_seq_of = operator.itemgetter(0)
_env_seq = operator.attrgetter("seq")


class JournalRow(NamedTuple):
    """One stored row. `prev` is set only where the previous row may be absent (level `inputs`)."""

    seq: int
    ts: int
    kind: RowKind
    type: str
    src: str
    corr: str
    prev: bytes | None
    hash: bytes
    data: bytes


class RunInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Describe a run: what ran it, at what level, with which config and seed."""

    run_id: str
    kernel: Literal["sim", "live"]
    mode: str
    level: JournalLevel
    seed: int
    config: str
    """The effective config as JSON, secrets redacted; replay rebuilds the actors from it."""
    created_ns: int = 0
    """Wall-clock creation time, for people; never hashed."""
    status: Literal["open", "closed"] = "open"


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Persist actor and kernel state at `seq`, with the chain head at that point."""

    run_id: str
    seq: int
    head: bytes
    data: bytes


class Store(Protocol):
    """Persist runs, journal rows and snapshots. Implemented by the SQLite and PostgreSQL adapters.

    Every method is a cancellation point. `append` returns once the rows are durable. Journal and
    snapshot rows are append-only: the store rejects UPDATE and DELETE on them (triggers).
    """

    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create_run(self, run: RunInfo, /) -> None: ...

    async def get_run(self, run_id: str, /) -> RunInfo | None: ...

    async def list_runs(self) -> list[RunInfo]: ...

    async def set_run_status(self, run_id: str, status: Literal["open", "closed"], /) -> None: ...

    async def append(self, run_id: str, rows: Sequence[JournalRow], /) -> None: ...

    def read(
        self, run_id: str, /, *, after_seq: int = 0, batch: int = 10_000
    ) -> AsyncIterator[list[JournalRow]]: ...

    async def last_row(self, run_id: str, /) -> JournalRow | None: ...

    async def query(
        self,
        run_id: str,
        /,
        *,
        types: Sequence[str] = (),
        corr: str | None = None,
        src_prefix: str | None = None,
        after_seq: int = 0,
        before_seq: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[JournalRow]:
        """Return one page of the envelope rows of `run_id` that match every filter given.

        Rows have `after_seq < seq` (and `seq < before_seq` when given), a `type` in `types`
        (any when empty), `corr == corr` when given (`""` matches rows without one), and a `src`
        starting with `src_prefix` (literally: no wildcards). They come in seq order, newest
        first when `newest_first` (page back with `before_seq` = the last seq seen), at most
        `limit` (1..`QUERY_LIMIT_MAX`, else `ValueError`). Checkpoint rows are never returned.
        """

    async def save_snapshot(self, snapshot: Snapshot, /) -> None: ...

    async def latest_snapshot(self, run_id: str, /) -> Snapshot | None: ...


QUERY_LIMIT_MAX = 10_000
"""The most rows one `Store.query` call returns."""


def check_query(types: Sequence[str], limit: int, /) -> tuple[str, ...]:
    """Validate the arguments of `Store.query`; return `types` without duplicates, in order."""
    if isinstance(types, str):
        raise TypeError(f"`types` must be a sequence of type tags, not the str {types!r}")
    if not 1 <= limit <= QUERY_LIMIT_MAX:
        raise ValueError(f"`limit` must be in 1..{QUERY_LIMIT_MAX}, got {limit}")
    return tuple(dict.fromkeys(types))


class Checkpoint(msgspec.Struct, frozen=True, array_like=True):
    """The payload of a checkpoint row: how many outputs the running head covers."""

    outputs: int


_CKPT_ENC = msgspec.msgpack.Encoder()


class Journal:
    """Chain envelopes and buffer the rows to store; the writer drains them in batches.

    `append` only queues the envelope: encoding and hashing run in one tight loop per batch
    (`take_batch`, or reading `head`), which is where a Python kernel saves its microseconds.
    Invariant: `head` covers every envelope appended so far, in seq order, at every level.
    """

    def __init__(
        self,
        *,
        level: JournalLevel = "full",
        head: bytes = GENESIS,
        last_seq: int = 0,
        checkpoint_every: int = 1024,
    ) -> None:
        if level not in ("full", "inputs"):
            raise ValueError(f"`level` must be full or inputs (off: no journal), got {level!r}")
        self.level: JournalLevel = level
        self._head = head
        self.last_seq = last_seq
        self.durable_seq = last_seq
        self.durable_head = head
        """The head at `durable_seq`: what the store holds (the writer sets both)."""
        self.checkpoint_every = checkpoint_every
        self._outputs_since_ckpt = 0
        self._outputs = 0
        self._last_was_input = True
        self._pending: list[Envelope] = []
        self._done = 0
        """How many of `_pending` are chained already (a sliced backlog; else 0). Invariant:
        `_done < len(_pending)`, or both are 0, so a non-empty `_pending` has work left."""
        self._rows: list[JournalRow] = []
        self._tags: dict[type[Message], str] = {}
        self._encode = CODEC.raw_encoder.encode
        self.append = self._pending.append  # type: ignore[method-assign]

    def append(self, env: Envelope, /) -> None:  # replaced per instance by list.append
        """Queue `env`; its seq must follow the last one (the kernel guarantees it)."""
        self._pending.append(env)

    @property
    def head(self) -> bytes:
        """Return the chain head over every envelope appended so far."""
        if self._pending:
            self._chain()
        return self._head

    @head.setter
    def head(self, value: bytes) -> None:
        if self._pending:
            self._chain()
        self._head = value

    @property
    def appended(self) -> int:
        """Return how many envelopes wait to be chained (for tests and metrics)."""
        return len(self._pending) - self._done

    def _tag(self, mtype: type[Message]) -> str:
        tag = self._tags.get(mtype)
        if tag is None:
            tag = str(mtype.__struct_config__.tag)
            self._tags[mtype] = tag
        return tag

    def chain(self, limit: int, /) -> None:
        """Encode, hash and row the oldest `limit` queued envelopes now.

        What `take_batch` and `head` would do anyway, in pieces (a writer slicing a backlog so
        the loop is not held): the chain and the rows are the same however the work is split.
        """
        self._chain(limit)

    def mark(self, seq: int, /) -> None:
        """Keep the head at `seq` (appended, maybe not chained yet) as `marked` when the chain
        reaches it, so a snapshot can take its head without hashing the backlog at once."""
        if seq < self.last_seq:
            raise ValueError(f"cannot mark seq {seq}: the chain is already at {self.last_seq}")
        if seq == self.last_seq:
            self.marked = (seq, self._head)
        else:
            self._mark = seq

    _mark = 0
    marked: tuple[int, bytes] | None = None
    """`(seq, head)` of the last `mark` the chain reached; the taker clears it."""

    def _chain(self, limit: int | None = None) -> None:
        """Encode, hash and row every queued envelope (at most `limit`), in order.

        A pending `mark` splits the work where the chain reaches it, to note the head there.
        """
        mark = self._mark
        if mark:
            pending = self._pending
            upto = bisect.bisect_right(pending, mark, self._done, len(pending), key=_env_seq)
            before = upto - self._done
            if limit is None or before <= limit:
                if before:
                    self._chain_some(before)
                self._mark = 0
                self.marked = (mark, self._head)
                if limit is not None:
                    limit -= before
                    if not limit:
                        return
        self._chain_some(limit)

    def _chain_some(self, limit: int | None = None) -> None:
        """Encode, hash and row every queued envelope (at most `limit`), in order."""
        pending = self._pending
        if not pending:
            return
        start, end = self._done, len(pending)
        if limit is not None and end - start > limit:
            end = start + limit
        todo = pending if start == 0 and end == len(pending) else pending[start:end]
        encode = self._encode
        sha = _sha256
        new_row = _new_row
        row_type = JournalRow
        tags = self._tags
        rows = self._rows
        head = self._head
        last = self.last_seq
        add = rows.append
        if self.level == "full":
            for env in todo:
                seq = env.seq
                # Invariant: seqs strictly increase, so the chain has exactly one order.
                if seq <= last:
                    raise AssertionError(f"journal seq {seq} after {last}")
                last = seq
                data = encode(env)
                head = sha(head + data).digest()
                mtype = type(env.msg)
                add(
                    new_row(
                        row_type,
                        (
                            seq,
                            env.ts,
                            "in" if env.inp else "out",
                            tags.get(mtype) or self._tag(mtype),
                            env.src,
                            env.corr,
                            None,
                            head,
                            data,
                        ),
                    )
                )
        else:
            outputs = self._outputs
            since = self._outputs_since_ckpt
            every = self.checkpoint_every
            for env in todo:
                seq = env.seq
                if seq <= last:
                    raise AssertionError(f"journal seq {seq} after {last}")
                last = seq
                data = encode(env)
                if env.inp:
                    prev = head
                    head = sha(prev + data).digest()
                    mtype = type(env.msg)
                    add(
                        new_row(
                            row_type,
                            (
                                seq,
                                env.ts,
                                "in",
                                tags.get(mtype) or self._tag(mtype),
                                env.src,
                                env.corr,
                                prev,
                                head,
                                data,
                            ),
                        )
                    )
                else:
                    head = sha(head + data).digest()
                    outputs += 1
                    since += 1
                    if since >= every:
                        self._head = head
                        self._outputs = outputs
                        self._checkpoint(seq, env.ts)
                        since = 0
            self._outputs = outputs
            self._outputs_since_ckpt = since
        self._last_was_input = todo[-1].inp
        # In place (`append` is this list's bound method); a slice only moves the offset until
        # half the list is done, so compacting costs O(1) per envelope, not O(backlog).
        if end == len(pending):
            pending.clear()
            end = 0
        elif end * 2 > len(pending):
            del pending[:end]
            end = 0
        self._done = end
        self._head = head
        self.last_seq = last

    def _checkpoint(self, seq: int, ts: int) -> None:
        self._outputs_since_ckpt = 0
        self._rows.append(
            JournalRow(
                seq,
                ts,
                "ck",
                "kernel.Checkpoint",
                "kernel",
                "",
                None,
                self._head,
                _CKPT_ENC.encode(Checkpoint(self._outputs)),
            )
        )

    def seal(self) -> None:
        """Write a final checkpoint so the end of an `inputs` run is verifiable; idempotent."""
        self._chain()
        # When the run ends on an input, that input's row already pins the head (and a
        # checkpoint would collide with its seq).
        if self.level == "inputs" and self._outputs_since_ckpt and not self._last_was_input:
            self._checkpoint(self.last_seq, 0)

    def take_batch(self, limit: int | None = None, /) -> list[JournalRow]:
        """Chain what is queued and hand (at most `limit`) rows to the writer, oldest first.

        With a `limit`, only as many envelopes are chained as `limit` rows need (at level `full`
        one row each); the rest stay queued for the next batch, `head` still covers them.
        """
        if limit is None:
            self._chain()
        elif (need := limit - len(self._rows)) > 0:
            self._chain(need)
        rows = self._rows
        if limit is not None and len(rows) > limit:
            self._rows = rows[limit:]
            return rows[:limit]
        self._rows = []
        return rows

    @property
    def buffered(self) -> int:
        """Return how many envelopes and rows wait for the writer."""
        return len(self._pending) - self._done + len(self._rows)

    def close(self) -> None:
        """Refuse further appends."""
        self._chain()

        def closed(env: Envelope, /) -> None:
            raise JournalClosedError("journal is closed")

        self.append = closed  # type: ignore[method-assign]



class VerifyResult(NamedTuple):
    """What `verify_rows` found: rows checked, the last seq and the head hash."""

    rows: int
    last_seq: int
    head: bytes


def verify_rows(
    run_id: str, rows: Iterable[JournalRow], /, *, state: VerifyResult | None = None
) -> VerifyResult:
    """Check the chain over `rows` (in seq order); raise `JournalBrokenError` at the first bad link.

    A row without `prev` must follow its predecessor directly (level `full`): its hash is
    recomputed from the previous row's hash. A row with `prev` (level `inputs`) is checked on its
    own and, when its seq follows the previous stored row directly, linked to it. Checkpoint rows
    carry the running head over outputs that are not stored: replay verifies those.
    """
    n, last_seq, head = state if state is not None else VerifyResult(0, 0, GENESIS)
    for row in rows:
        if row.seq <= last_seq and row.kind != "ck":
            raise JournalBrokenError(
                f"seq {row.seq} is not after seq {last_seq}", run_id=run_id, seq=row.seq
            )
        if row.kind == "ck":
            head = row.hash
        else:
            contiguous = row.seq == last_seq + 1
            if row.prev is None:
                if not contiguous:
                    raise JournalBrokenError(
                        f"seq {row.seq} follows seq {last_seq}: rows are missing",
                        run_id=run_id,
                        seq=row.seq,
                    )
                prev = head
            else:
                if contiguous and row.prev != head:
                    raise JournalBrokenError(
                        f"seq {row.seq} does not link to seq {last_seq}", run_id=run_id, seq=row.seq
                    )
                prev = row.prev
            if _sha256(prev + row.data).digest() != row.hash:
                raise JournalBrokenError(
                    f"seq {row.seq} hash does not match its content", run_id=run_id, seq=row.seq
                )
            try:
                env = HEADER_DECODER.decode(row.data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise JournalBrokenError(
                    f"seq {row.seq} does not decode: {exc}", run_id=run_id, seq=row.seq
                ) from exc
            if env.seq != row.seq:
                raise JournalBrokenError(
                    f"seq {row.seq} holds an envelope with seq {env.seq}",
                    run_id=run_id,
                    seq=row.seq,
                )
            head = row.hash
        last_seq = max(last_seq, row.seq)
        n += 1
    return VerifyResult(n, last_seq, head)


class MemoryStore:
    """Keep runs in memory: for tests, parameter sweeps and the `testing` module.

    It honours the same contract as the SQL stores (the contract suite runs on it): duplicate
    runs, seqs and conflicting snapshots are refused with `StoreBrokenError`.
    """

    name = "memory"

    def __init__(self) -> None:
        self._runs: dict[str, RunInfo] = {}
        self._rows: dict[str, list[JournalRow]] = {}
        self._snapshots: dict[str, dict[int, Snapshot]] = {}

    @classmethod
    def from_config(cls, cfg: object, /, *, data_dir: object) -> MemoryStore:
        """Build an empty store; nothing of it outlives the process."""
        return cls()

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close; the data stays for inspection."""

    async def create_run(self, run: RunInfo, /) -> None:
        if run.run_id in self._runs:
            raise StoreBrokenError(f"memory store: create run `{run.run_id}`: it exists")
        self._runs[run.run_id] = run
        self._rows.setdefault(run.run_id, [])

    async def get_run(self, run_id: str, /) -> RunInfo | None:
        return self._runs.get(run_id)

    async def list_runs(self) -> list[RunInfo]:
        return sorted(self._runs.values(), key=lambda r: (r.created_ns, r.run_id))

    async def set_run_status(self, run_id: str, status: Literal["open", "closed"], /) -> None:
        if run_id not in self._runs:
            raise StoreBrokenError(f"memory store: no run `{run_id}`")
        self._runs[run_id] = msgspec.structs.replace(self._runs[run_id], status=status)

    async def append(self, run_id: str, rows: Sequence[JournalRow], /) -> None:
        stored = self._rows.setdefault(run_id, [])
        last = stored[-1].seq if stored else 0
        for row in rows:
            if row.seq <= last:
                raise StoreBrokenError(
                    f"memory store: append seq {rows[0].seq}..{rows[-1].seq} of run `{run_id}`: "
                    f"seq {row.seq} is stored already"
                )
            last = row.seq
        stored.extend(rows)

    async def read(
        self, run_id: str, /, *, after_seq: int = 0, batch: int = 10_000
    ) -> AsyncIterator[list[JournalRow]]:
        rows = [r for r in self._rows.get(run_id, []) if r.seq > after_seq]
        for i in range(0, len(rows), batch):
            yield rows[i : i + batch]

    async def last_row(self, run_id: str, /) -> JournalRow | None:
        rows = self._rows.get(run_id)
        return rows[-1] if rows else None

    async def query(
        self,
        run_id: str,
        /,
        *,
        types: Sequence[str] = (),
        corr: str | None = None,
        src_prefix: str | None = None,
        after_seq: int = 0,
        before_seq: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[JournalRow]:
        wanted = frozenset(check_query(types, limit))
        rows = self._rows.get(run_id, [])
        # Rows are stored in seq order: bisect to the window, then walk it from the wanted end.
        lo = bisect.bisect_right(rows, after_seq, key=_seq_of)
        hi = len(rows) if before_seq is None else bisect.bisect_left(rows, before_seq, key=_seq_of)
        page: list[JournalRow] = []
        for i in range(hi - 1, lo - 1, -1) if newest_first else range(lo, hi):
            row = rows[i]
            if (
                row.kind != "ck"
                and (not wanted or row.type in wanted)
                and (corr is None or row.corr == corr)
                and (src_prefix is None or row.src.startswith(src_prefix))
            ):
                page.append(row)
                if len(page) == limit:
                    break
        return page

    async def save_snapshot(self, snapshot: Snapshot, /) -> None:
        snaps = self._snapshots.setdefault(snapshot.run_id, {})
        known = snaps.get(snapshot.seq)
        if known is not None and known != snapshot:
            raise StoreBrokenError(
                f"memory store: snapshot of `{snapshot.run_id}` at seq {snapshot.seq}: "
                "another one is stored there"
            )
        snaps[snapshot.seq] = snapshot

    async def latest_snapshot(self, run_id: str, /) -> Snapshot | None:
        snaps = self._snapshots.get(run_id)
        return snaps[max(snaps)] if snaps else None
