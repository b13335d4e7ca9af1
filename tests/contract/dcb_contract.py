"""The DCB contract (conditional appends across streams): memory and PostgreSQL run
the same tests (``test_memory.py``, ``test_postgres.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from actorpg_lab import (
    AppendCondition,
    AppendConditionError,
    ConsistencyToken,
    JournalConcurrencyError,
    JournalEntry,
    Query,
    QueryItem,
    event_type,
)
from actorpg_lab.query import TagOffset


@event_type("tests.contract.CourseDefined", aliases=("tests.contract.CourseCreated",))
@dataclass(frozen=True)
class CourseDefined:
    course: str
    capacity: int


@event_type("tests.contract.Subscribed")
@dataclass(frozen=True)
class Subscribed:
    course: str
    student: str


def course(c: str, capacity: int = 2) -> JournalEntry:
    return JournalEntry(CourseDefined(c, capacity), tags=(f"course:{c}",))


def subscribed(c: str, s: str) -> JournalEntry:
    return JournalEntry(Subscribed(c, s), tags=(f"course:{c}", f"student:{s}"))


DEFINED = "tests.contract.CourseDefined"
SUBSCRIBED = "tests.contract.Subscribed"


def keys(read: Any) -> list[tuple[str, int]]:
    return [(t.event.persistence_id, t.event.sequence_nr) for t in read.events]


class DcbContract:
    async def _seed(self, journal: Any) -> None:
        await journal.append("course-a", [course("a")], 0)
        await journal.append("course-b", [course("b")], 0)
        await journal.append("student-1", [subscribed("a", "1")], 0)
        await journal.append("student-2", [subscribed("a", "2"), subscribed("b", "2")], 0)
        await journal.append("plain", [JournalEntry({"n": 1}, tags=("course:a",))], 0)

    async def test_read_matching_types_tags_and_items(self, journal: Any) -> None:
        await self._seed(journal)
        by_type = await journal.read_matching(Query([QueryItem(types=[SUBSCRIBED])]))
        assert keys(by_type) == [("student-1", 1), ("student-2", 1), ("student-2", 2)]
        assert all(t.event.event_type == SUBSCRIBED for t in by_type.events)
        by_tag = await journal.read_matching(Query([QueryItem(tags=["course:a"])]))
        assert keys(by_tag) == [("course-a", 1), ("student-1", 1), ("student-2", 1),
                                ("plain", 1)]
        both = await journal.read_matching(
            Query([QueryItem(types=[SUBSCRIBED], tags=["course:a", "student:2"])]))
        assert keys(both) == [("student-2", 1)]
        either = await journal.read_matching(Query([
            QueryItem(types=[DEFINED], tags=["course:b"]),
            QueryItem(types=[SUBSCRIBED], tags=["student:1"]),
            QueryItem(tags=["course:b"])]))  # overlaps the first item: each event once
        assert keys(either) == [("course-b", 1), ("student-1", 1), ("student-2", 2)]
        everything = await journal.read_matching(Query.all())
        assert len(everything.events) == 6
        assert [t.event.key for t in everything.events] == sorted(
            t.event.key for t in everything.events)
        assert keys(await journal.read_matching(Query([QueryItem()]))) == keys(everything)
        assert keys(await journal.read_matching(Query([QueryItem(types=["nope"])]))) == []

    async def test_aliases_match_both_ways(self, journal: Any) -> None:
        await journal.append("course-a", [course("a")], 0)
        old = await journal.read_matching(Query([QueryItem(types=["tests.contract.CourseCreated"])]))
        assert keys(old) == [("course-a", 1)]
        assert old.events[0].event.event_type == DEFINED

    async def test_condition_fails_on_an_unseen_match_and_names_it(self, journal: Any) -> None:
        await self._seed(journal)
        q = Query([QueryItem(types=[SUBSCRIBED], tags=["course:a"])])
        read = await journal.read_matching(q)
        await journal.append("student-3", [subscribed("a", "3")], 0)   # the race
        with pytest.raises(AppendConditionError) as info:
            await journal.append("student-4", [subscribed("a", "4")], 0,
                                 condition=AppendCondition(q, read.token))
        err = info.value
        assert isinstance(err, JournalConcurrencyError)
        assert err.conflict[1:] == ("student-3", 1)
        assert err.event_type == SUBSCRIBED and "course:a" in err.tags
        assert "student-3" in str(err) and err.persistence_id == "student-4"
        assert await journal.highest_seq("student-4") == 0  # nothing written
        # what is new since the failed decision's token: exactly the racing event
        assert keys(await journal.read_matching(q, after=read.token)) == [("student-3", 1)]
        fresh = await journal.read_matching(q)
        written = await journal.append("student-4", [subscribed("a", "4")], 0,
                                       condition=AppendCondition(q, fresh.token))
        assert [e.sequence_nr for e in written] == [1]

    async def test_condition_passes_when_nothing_matches_unseen(self, journal: Any) -> None:
        await self._seed(journal)
        q = Query([QueryItem(types=[SUBSCRIBED], tags=["course:b"])])
        read = await journal.read_matching(q)
        # unrelated writes after the read do not fail the condition
        await journal.append("student-1", [subscribed("a", "1")], 1)
        await journal.append("course-c", [course("c")], 0)
        await journal.append("student-5", [subscribed("b", "5")], 0,
                             condition=AppendCondition(q, read.token))
        # after=None: any match fails; none matching passes
        with pytest.raises(AppendConditionError):
            await journal.append("x", [JournalEntry({"n": 1})], 0,
                                 condition=AppendCondition(q, None))
        await journal.append("x", [JournalEntry({"n": 1})], 0,
                             condition=AppendCondition(Query([QueryItem(tags=["none"])])))

    async def test_offset_after(self, journal: Any) -> None:
        await self._seed(journal)
        q = Query([QueryItem(tags=["course:a"])])
        read = await journal.read_matching(q)
        last = read.events[-1].offset
        assert isinstance(last, TagOffset)
        await journal.append("y", [JournalEntry({"n": 1})], 0,
                             condition=AppendCondition(q, last))
        before_last = read.events[-2].offset
        with pytest.raises(AppendConditionError) as info:
            await journal.append("y", [JournalEntry({"n": 2})], 1,
                                 condition=AppendCondition(q, before_last))
        assert info.value.conflict == read.events[-1].event.key
        assert keys(await journal.read_matching(q, after=before_last)) == [("plain", 1)]

    async def test_limited_read_token_covers_only_the_page(self, journal: Any) -> None:
        await self._seed(journal)
        q = Query([QueryItem(tags=["course:a"])])
        page = await journal.read_matching(q, limit=2)
        assert keys(page) == [("course-a", 1), ("student-1", 1)]
        assert isinstance(page.token, ConsistencyToken)
        with pytest.raises(AppendConditionError) as info:  # the rest was not seen
            await journal.append("z", [JournalEntry({"n": 1})], 0,
                                 condition=AppendCondition(q, page.token))
        assert info.value.conflict[1:] == ("student-2", 1)
        rest = await journal.read_matching(q, after=page.token)
        assert keys(rest) == [("student-2", 1), ("plain", 1)]

    async def test_all_query_condition(self, journal: Any) -> None:
        read = await journal.read_matching(Query.all())
        assert read.events == []
        await journal.append("a", [JournalEntry({"n": 1})], 0,
                             condition=AppendCondition(Query.all(), read.token))
        with pytest.raises(AppendConditionError):
            await journal.append("b", [JournalEntry({"n": 1})], 0,
                                 condition=AppendCondition(Query.all(), read.token))
        again = await journal.read_matching(Query.all())
        await journal.append("b", [JournalEntry({"n": 1})], 0,
                             condition=AppendCondition(Query.all(), again.token))

    async def test_head_check_still_applies(self, journal: Any) -> None:
        await journal.append("s", [JournalEntry({"n": 1})], 0)
        with pytest.raises(JournalConcurrencyError) as info:
            await journal.append("s", [JournalEntry({"n": 2})], 0,
                                 condition=AppendCondition(Query([QueryItem(tags=["t"])])))
        assert not isinstance(info.value, AppendConditionError)
        assert info.value.actual_seq == 1

    async def test_course_example(self, journal: Any) -> None:
        """Subscriptions limited by the course's capacity, decided across streams."""
        await journal.append("course-c1", [course("c1", capacity=2)], 0)

        async def subscribe(student: str) -> bool:
            q = Query([QueryItem(types=[DEFINED, SUBSCRIBED], tags=["course:c1"])])
            read = await journal.read_matching(q)
            events = [t.event.event for t in read.events]
            capacity = next(e.capacity for e in events if isinstance(e, CourseDefined))
            if sum(isinstance(e, Subscribed) for e in events) >= capacity:
                return False
            await journal.append(f"student-{student}", [subscribed("c1", student)], 0,
                                 condition=AppendCondition(q, read.token))
            return True

        assert [await subscribe(s) for s in "123"] == [True, True, False]

    async def test_bad_input_rejected_before_writing(self, journal: Any) -> None:
        with pytest.raises(TypeError, match="AppendCondition"):
            await journal.append("s", [JournalEntry({"n": 1})], 0, condition="x")
        with pytest.raises(TypeError, match="Query"):
            AppendCondition("x")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="after"):
            AppendCondition(Query.all(), after=3)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="comma"):
            QueryItem(tags=["a,b"])
        with pytest.raises(TypeError, match="not a str"):
            QueryItem(types="abc")
        with pytest.raises(TypeError, match="Query"):
            await journal.read_matching("q")
        with pytest.raises(ValueError):
            ConsistencyToken("garbage")
        assert await journal.highest_seq("s") == 0
