"""The audit log for auditors: search by person (with a reason the person sees), staff
member, action and time; CSV export that a spreadsheet cannot turn into formulas."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from auth import audit
from auth.audit import RequestMeta
from staff.audit_log import safe_cell
from staff.models import Role
from tests.staff.support import events, signed_in_member
from tests.support import add_person


async def test_search_by_staff_member_and_action(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    auditor = await signed_in_member(db, client, frozenset({Role.AUDITOR}), name="Iris")
    other = await signed_in_member(db, httpx.AsyncClient(), frozenset({Role.FORMS}), name="Joost")
    await client.get("/staff/admin/staff")  # refused: audited as staff.forbidden for Iris

    mine = await client.get("/staff/audit", params={"staff": str(auditor.id), "action": "staff."})
    assert mine.status_code == 200
    assert "staff.forbidden" in mine.text
    theirs = await client.get("/staff/audit", params={"staff": str(other.id)})
    assert "staff.forbidden" not in theirs.text
    assert len(await events(db, "staff.audit_search")) == 2


async def test_searching_a_person_needs_a_reason_and_is_a_view(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    bundle = await add_person(db)
    person = bundle.person
    await audit.record(
        db, action="login", outcome="success", meta=RequestMeta(), person_id=person["id"]
    )
    await signed_in_member(db, client, frozenset({Role.AUDITOR}))

    refused = await client.get("/staff/audit", params={"person": person["customer_number"]})
    assert refused.status_code == 400
    assert 'href="#reason"' in refused.text
    found = await client.get(
        "/staff/audit",
        params={"person": person["customer_number"], "reason": "Complaint 2026-114"},
    )
    assert found.status_code == 200
    assert "login" in found.text
    [view] = await events(db, "staff.view_person")
    assert (view.person_id, view.details["staffRole"], view.details["purposeReason"]) == (
        person["id"],
        "auditor",
        "Complaint 2026-114",
    )


async def test_time_range_and_bad_input(client: httpx.AsyncClient, db: AsyncSession) -> None:
    await signed_in_member(db, client, frozenset({Role.AUDITOR}))
    today = utcnow().date()

    for params, field in (
        ({"since": "yesterday"}, "since"),
        ({"since": today.isoformat(), "until": (today - timedelta(days=2)).isoformat()}, "until"),
        ({"person": "NOBODY"}, "person"),
        ({"staff": "not-an-id"}, "staff"),
    ):
        answer = await client.get("/staff/audit", params=params)
        assert answer.status_code == 400, params
        assert f'href="#{field}"' in answer.text
    ahead = await client.get(
        "/staff/audit", params={"since": (today + timedelta(days=1)).isoformat()}
    )
    assert "Geen gebeurtenis gevonden." in ahead.text


async def test_the_csv_export_neutralises_formulas(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await audit.record(
        db,
        action="login",
        outcome="failure",
        reason="=HYPERLINK(1)",
        meta=RequestMeta(ip_address="10.0.0.1", user_agent="=cmd|' /C calc'!A0"),
    )
    await db.commit()
    await signed_in_member(db, client, frozenset({Role.AUDITOR}))

    answer = await client.get("/staff/audit/export.csv", params={"action": "login"})

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["occurred_at", "action", "outcome"]
    [row] = rows[1:]
    assert row[3] == "'=HYPERLINK(1)"
    assert row[9] == "'=cmd|' /C calc'!A0"
    assert [e.details.get("action") for e in await events(db, "staff.audit_export")] == ["login"]


def test_safe_cell_guards_every_formula_start() -> None:
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert safe_cell(f"{start}1").startswith("'")
    assert safe_cell("login") == "login"
    assert safe_cell(None) == ""
