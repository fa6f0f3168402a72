"""Demo data is deterministic, realistic enough, and seeding is idempotent."""

from __future__ import annotations

from zoneinfo import available_timezones

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from records.demo import DEMO_CUSTOMER_NUMBER, generate, make_bundle, seed_demo
from records.models import Person
from tests.support import TODAY


def test_same_seed_gives_the_same_people() -> None:
    assert make_bundle(42, today=TODAY) == make_bundle(42, today=TODAY)
    assert make_bundle(42, today=TODAY) != make_bundle(43, today=TODAY)
    assert make_bundle(42, seed=1, today=TODAY) != make_bundle(42, seed=2, today=TODAY)


def test_people_live_abroad_across_time_zones() -> None:
    people = [b.person for b in generate(300, today=TODAY)]
    zones = {p["time_zone"] for p in people}
    assert len(zones) >= 15
    assert zones <= available_timezones()
    abroad = [p for p in people if p["country_of_residence"] != "NL"]
    assert len(abroad) / len(people) > 0.8


def test_diplomas_have_results_and_deadlines_are_upcoming() -> None:
    bundles = list(generate(50, today=TODAY))
    assert sum(len(b.diplomas) for b in bundles) >= 50
    for bundle in bundles:
        for diploma in bundle.diplomas:
            assert [r for r in bundle.results if r["diploma_id"] == diploma["id"]]
        for deadline in bundle.deadlines:
            assert deadline["due_at"].date() >= TODAY


async def test_seeding_twice_creates_nobody_new(db: AsyncSession) -> None:
    first = await seed_demo(db, persons=5, today=TODAY)
    second = await seed_demo(db, persons=5, today=TODAY)
    assert first == 5
    assert second == 0
    demo = await db.scalar(select(Person).where(Person.customer_number == DEMO_CUSTOMER_NUMBER))
    assert demo is not None
    assert demo.given_names == "Ayu"
    total = await db.scalar(select(func.count()).select_from(Person))
    assert total is not None
    assert total >= 5
