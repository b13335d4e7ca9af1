"""Schema-evolution rules every store pair must follow (run in memory and on Postgres).

A test writes rows with one codec (the code deployed then) and reads them with
another (the code deployed now) by switching the stores' ``codec`` attribute: the
stored rows stay exactly as written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, make_dataclass
from typing import Any

import pytest

from actorpg_lab import (
    DecodeError,
    DurableStateStore,
    Journal,
    JournalEntry,
    JournalIntegrityError,
    JsonCodec,
    PersistenceError,
    SnapshotIntegrityError,
    SnapshotStore,
    TagFilter,
    replay_state,
)

from ._types import (
    NAME,
    OLD_NAME,
    STATE,
    BalanceV1,
    BalanceV2,
    DepositedV1,
    DepositedV2,
    DepositedV3,
    codec_v1,
    codec_v2,
    codec_v3,
    codec_without_state_upcaster,
    fold,
)


@dataclass
class Stores:
    journal: Journal
    snapshots: SnapshotStore
    durable: DurableStateStore

    def use(self, codec: JsonCodec) -> None:
        """Deploy other code: the same rows, read and written through ``codec``."""
        for store in (self.journal, self.snapshots, self.durable):
            store.codec = codec  # type: ignore[union-attr]


def assert_names(exc: BaseException, *parts: str) -> None:
    text = str(exc)
    for part in parts:
        assert part in text, f"{part!r} not in {text!r}"


class SchemaEvolutionContract:
    """Subclasses provide the ``stores`` fixture (empty stores, any codec)."""

    # -- events ------------------------------------------------------------------------
    async def test_v1_rows_read_through_a_chain_of_two_upcasters(self, stores: Stores) -> None:
        stores.use(codec_v1())
        await stores.journal.append("p", [JournalEntry(DepositedV1(1250))], 0)
        stores.use(codec_v2())
        await stores.journal.append("p", [JournalEntry(DepositedV2(199, "USD"))], 1)
        stores.use(codec_v3())
        await stores.journal.append("p", [JournalEntry(DepositedV3(3, 5, "GBP"))], 2)
        events = [e.event for e in await stores.journal.read("p")]
        assert events == [DepositedV3(12, 50, "EUR"), DepositedV3(1, 99, "USD"),
                          DepositedV3(3, 5, "GBP")]

    async def test_stored_rows_are_never_rewritten(self, stores: Stores) -> None:
        old = codec_v1()
        stores.use(old)
        await stores.journal.append("p", [JournalEntry(DepositedV1(7))], 0)
        stores.use(codec_v3())
        assert [e.event for e in await stores.journal.read("p")] == [DepositedV3(0, 7, "EUR")]
        stores.use(old)  # the old code still reads its own rows unchanged
        assert [e.event for e in await stores.journal.read("p")] == [DepositedV1(7)]

    async def test_alias_resolves_a_renamed_type_and_upcasts_it(self, stores: Stores) -> None:
        stores.use(codec_v1(OLD_NAME))
        await stores.journal.append("p", [JournalEntry(DepositedV1(305))], 0)
        stores.use(codec_v3(aliases=(OLD_NAME,)))
        await stores.journal.append("p", [JournalEntry(DepositedV3(1, 0, "EUR"))], 1)
        assert [e.event for e in await stores.journal.read("p")] == [
            DepositedV3(3, 5, "EUR"), DepositedV3(1, 0, "EUR")]
        stores.use(codec_v3())  # without the alias the old name is simply unknown
        first = (await stores.journal.read("p", 1, 1))[0].event
        assert first == {"$type": OLD_NAME, "$value": {"amount": 305}}

    async def test_tag_queries_upcast_too(self, stores: Stores) -> None:
        stores.use(codec_v1())
        await stores.journal.append("p", [JournalEntry(DepositedV1(100), ("money",))], 0)
        stores.use(codec_v3())
        tagged = await stores.journal.read_by_tag(TagFilter(all=("money",)))
        assert [e.event for e in tagged] == [DepositedV3(1, 0, "EUR")]

    async def test_row_written_by_newer_code_is_an_integrity_error(self, stores: Stores) -> None:
        stores.use(codec_v1())
        await stores.journal.append("acc-9", [JournalEntry(DepositedV1(1))], 0)
        stores.use(codec_v3())
        await stores.journal.append("acc-9", [JournalEntry(DepositedV3(1, 2, "EUR"))], 1)
        stores.use(codec_v1())  # a rollback to the old code
        with pytest.raises(JournalIntegrityError) as info:
            await stores.journal.read("acc-9")
        assert info.value.persistence_id == "acc-9" and info.value.sequence_nr == 2
        assert_names(info.value, "'acc-9'", "sequence_nr 2", repr(NAME),
                     "stored at version 3", "registered version 1", "newer code")
        assert isinstance(info.value.__cause__, DecodeError)
        assert (info.value.__cause__.stored_version, info.value.__cause__.current_version) == (3, 1)
        assert [e.event for e in await stores.journal.read("acc-9", 1, 1)] == [DepositedV1(1)]

    async def test_missing_upcaster_is_an_integrity_error(self, stores: Stores) -> None:
        stores.use(codec_v1())
        await stores.journal.append("p", [JournalEntry(DepositedV1(1))], 0)
        stores.use(codec_v3(with_v1_upcaster=False))
        with pytest.raises(JournalIntegrityError) as info:
            await stores.journal.read("p")
        assert_names(info.value, "'p'", "sequence_nr 1", repr(NAME), "stored at version 1",
                     "registered version 3", "no upcaster from version 1 to 2")
        assert not isinstance(info.value, TypeError)

    async def test_value_that_does_not_fit_is_an_integrity_error(self, stores: Stores) -> None:
        stores.use(codec_v1())
        await stores.journal.append("p", [JournalEntry(DepositedV1(1))] * 3, 0)
        changed = JsonCodec()  # the class changed, but nobody bumped the version
        changed.register(DepositedV2, NAME)
        stores.use(changed)
        with pytest.raises(JournalIntegrityError) as info:
            await stores.journal.read("p", 2)
        assert info.value.sequence_nr == 2
        assert_names(info.value, "sequence_nr 2", repr(NAME), "stored at version 1",
                     "registered version 1", "does not fit DepositedV2", "currency")

    async def test_failing_upcaster_is_named(self, stores: Stores) -> None:
        stores.use(codec_v1())
        await stores.journal.append("p", [JournalEntry({"plain": True}),
                                          JournalEntry(DepositedV1(1))], 0)
        broken = JsonCodec()
        broken.register(DepositedV2, NAME, version=2)

        @broken.upcaster(NAME, 1)
        def needs_a_field(value: dict[str, Any]) -> dict[str, Any]:
            return {**value, "currency": value["currency_code"]}

        stores.use(broken)
        with pytest.raises(JournalIntegrityError) as info:
            await stores.journal.read("p")
        assert_names(info.value, "sequence_nr 2", "needs_a_field", "from version 1",
                     "KeyError", "'currency_code'")

    async def test_replay_state_folds_upcast_events(self, stores: Stores) -> None:
        stores.use(codec_v1())
        await stores.journal.append("p", [JournalEntry(DepositedV1(n)) for n in (150, 250)], 0)
        stores.use(codec_v3())
        await stores.journal.append("p", [JournalEntry(DepositedV3(1, 1, "EUR"))], 2)
        result = await replay_state(stores.journal, stores.snapshots, "p", 0, fold)
        assert (result.state, result.last_sequence_nr) == (501, 3)

    # -- snapshots ---------------------------------------------------------------------
    async def test_snapshot_state_is_upcast(self, stores: Stores) -> None:
        stores.use(codec_v1())
        await stores.snapshots.save("p", 4, BalanceV1(400))
        stores.use(codec_v3())
        snap = await stores.snapshots.load_latest("p")
        assert snap is not None and snap.state == BalanceV2(400, 0)
        await stores.snapshots.save("p", 5, BalanceV2(500, 5))
        before = await stores.snapshots.load_before("p", 5)
        assert before is not None and before.state == BalanceV2(400, 0)

    async def test_unreadable_snapshot_is_a_snapshot_integrity_error(self, stores: Stores) -> None:
        stores.use(codec_v1())
        await stores.snapshots.save("acc-3", 7, BalanceV1(1))
        stores.use(codec_without_state_upcaster())
        with pytest.raises(SnapshotIntegrityError) as info:
            await stores.snapshots.load_latest("acc-3")
        assert info.value.persistence_id == "acc-3" and info.value.sequence_nr == 7
        assert_names(info.value, "snapshot of 'acc-3'", "sequence_nr 7", repr(STATE),
                     "stored at version 1", "registered version 2", "no upcaster")

    async def test_replay_recovers_from_events_when_the_snapshot_is_unreadable(
        self, stores: Stores, caplog: pytest.LogCaptureFixture
    ) -> None:
        stores.use(codec_v1())
        await stores.journal.append("p", [JournalEntry(DepositedV1(100))] * 4, 0)
        await stores.snapshots.save("p", 2, BalanceV1(200))
        await stores.snapshots.save("p", 4, BalanceV1(400))
        stores.use(codec_without_state_upcaster())

        def fold_state(state: Any, event: Any) -> Any:
            return BalanceV2(state.total + event.units * 100 + event.cents, state.deposits + 1)

        with caplog.at_level(logging.WARNING, logger="actorpg_lab.replay"):
            result = await replay_state(stores.journal, stores.snapshots, "p",
                                        BalanceV2(0, 0), fold_state)
        assert result.state == BalanceV2(400, 4)
        assert (result.snapshot_sequence_nr, result.events_applied) == (None, 4)
        assert result.skipped_snapshots == (4, 2)
        assert "cannot be read with the current code" in caplog.text
        with pytest.raises(SnapshotIntegrityError, match="sequence_nr 4"):
            await replay_state(stores.journal, stores.snapshots, "p", BalanceV2(0, 0),
                               fold_state, unreadable_snapshot="fail")
        with pytest.raises(ValueError, match="unreadable_snapshot"):
            await replay_state(stores.journal, stores.snapshots, "p", BalanceV2(0, 0),
                               fold_state, unreadable_snapshot="ignore")  # type: ignore[arg-type]

    async def test_replay_uses_an_older_readable_snapshot(self, stores: Stores) -> None:
        stores.use(codec_v2())
        await stores.journal.append("p", [JournalEntry(DepositedV2(100, "EUR"))] * 3, 0)
        await stores.snapshots.save("p", 1, BalanceV2(100, 1))
        stores.use(codec_v3())
        await stores.snapshots.save("p", 2, BalanceV2(200, 2))
        # The newest snapshot was written by a newer state version (unreadable now).
        newer = JsonCodec()
        newer.register(BalanceV2, STATE, version=3)
        newer.register(DepositedV3, NAME, version=3)
        stores.use(newer)
        await stores.snapshots.save("p", 3, BalanceV2(300, 3))
        stores.use(codec_v3())

        def fold_state(state: Any, event: Any) -> Any:
            return BalanceV2(state.total + event.units * 100, state.deposits + 1)

        result = await replay_state(stores.journal, stores.snapshots, "p", BalanceV2(0, 0),
                                    fold_state)
        assert result.skipped_snapshots == (3,)
        assert (result.snapshot_sequence_nr, result.state) == (2, BalanceV2(300, 3))

    async def test_unreadable_snapshot_over_deleted_history_fails(self, stores: Stores) -> None:
        stores.use(codec_v1())
        await stores.journal.append("p", [JournalEntry(DepositedV1(100))] * 4, 0)
        await stores.snapshots.save("p", 3, BalanceV1(300))
        await stores.journal.delete("p", 3)
        stores.use(codec_without_state_upcaster())
        with pytest.raises(SnapshotIntegrityError) as info:
            await replay_state(stores.journal, stores.snapshots, "p", BalanceV2(0, 0),
                               lambda s, e: s)
        assert info.value.sequence_nr == 3
        assert_names(info.value, "sequence_nr 3", "cannot replace it", "no event 1",
                     "registered version 2")

    # -- durable state -----------------------------------------------------------------
    async def test_durable_state_is_upcast(self, stores: Stores) -> None:
        stores.use(codec_v1())
        await stores.durable.upsert("cart-1", 0, BalanceV1(10))
        stores.use(codec_v3())
        record = await stores.durable.load("cart-1")
        assert record is not None and record.state == BalanceV2(10, 0) and record.revision == 1
        await stores.durable.upsert("cart-1", 1, BalanceV2(11, 1))
        stores.use(codec_v1())  # rolled back: the revision-2 row is newer than this code
        with pytest.raises(PersistenceError) as info:
            await stores.durable.load("cart-1")
        assert_names(info.value, "durable state of 'cart-1'", "revision 2", repr(STATE),
                     "stored at version 2", "registered version 1")

    async def test_durable_state_without_upcaster_is_a_persistence_error(
        self, stores: Stores
    ) -> None:
        stores.use(codec_v1())
        await stores.durable.upsert("cart-2", 0, BalanceV1(10))
        stores.use(codec_without_state_upcaster())
        with pytest.raises(PersistenceError) as info:
            await stores.durable.load("cart-2")
        assert_names(info.value, "'cart-2'", "revision 1", "no upcaster from version 1")

    # -- re-registration ---------------------------------------------------------------
    async def test_re_registering_a_redefined_class_replaces_it(self, stores: Stores) -> None:
        codec = JsonCodec()
        stores.use(codec)

        def cell(*fields: str) -> Any:
            """A notebook cell defining class ``Renamed`` in ``__main__`` (run again = redefined)."""
            cls = make_dataclass("Renamed", [(f, Any) for f in fields], frozen=True)
            cls.__module__ = "__main__"
            return cls

        def define_v1() -> Any:
            return codec.register(cell("amount"), "schema.Cell")

        def define_v2() -> Any:
            cls = codec.register(cell("amount", "note"), "schema.Cell", version=2)
            codec.upcaster("schema.Cell", 1)(lambda v: {**v, "note": "-"})
            return cls

        first = define_v1()
        await stores.journal.append("p", [JournalEntry(first(5))], 0)
        again = define_v1()  # re-running the unchanged cell is fine too
        assert again is not first
        second = define_v2()
        await stores.journal.append("p", [JournalEntry(second(6, "x"))], 1)
        await stores.journal.append("p", [JournalEntry(first(7))], 2)  # a stale instance
        events = [e.event for e in await stores.journal.read("p")]
        assert events == [second(5, "-"), second(6, "x"), second(7, "-")]
        assert all(type(e) is second for e in events)

    async def corrupt_snapshot(self, stores: Stores, pid: str, seq: int) -> None:
        """Overwrite the stored snapshot text with invalid JSON (storage corruption)."""
        raise NotImplementedError

    async def test_a_corrupt_snapshot_row_still_fails_the_replay(self, stores: Stores) -> None:
        stores.use(codec_v1())
        await stores.journal.append("p", [JournalEntry(DepositedV1(100))], 0)
        await stores.snapshots.save("p", 1, BalanceV1(100))
        await self.corrupt_snapshot(stores, "p", 1)
        with pytest.raises(SnapshotIntegrityError) as info:
            await replay_state(stores.journal, stores.snapshots, "p", BalanceV1(0),
                               lambda s, e: s)
        assert info.value.sequence_nr == 1 and "JSONDecodeError" in str(info.value)
