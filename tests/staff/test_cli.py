"""`duo-abroad staff invite`: the operator's bootstrap prints a one-time enrolment link."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from auth.models import AuditEvent
from staff.models import Role, StaffMember, StaffRole

CLI = Path(sys.executable).parent / "duo-abroad"


async def test_staff_invite_prints_a_link_for_a_new_admin(
    engine: AsyncEngine, database_url: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        str(CLI),
        *("staff", "invite", "--name", "Operator One", "--role", "admin"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DATABASE_URL": database_url, "DUO_ENV": "test"},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    try:
        assert process.returncode == 0, err.decode()
        assert "http://localhost:8000/staff/enrol#" in out.decode()
        async with engine.connect() as conn:
            member_id = (
                await conn.execute(select(StaffMember.id).where(StaffMember.name == "Operator One"))
            ).scalar_one()
            roles = await conn.execute(
                select(StaffRole.role).where(StaffRole.staff_id == member_id)
            )
            assert list(roles.scalars()) == [Role.ADMIN]
            invited = await conn.execute(
                select(AuditEvent.details).where(AuditEvent.action == "staff.invite")
            )
            # Other tests commit invites too (the browser tests' servers): this member's only.
            mine = [d for d in invited.scalars() if d["memberId"] == str(member_id)]
            assert [d["via"] for d in mine] == ["cli"]
    finally:
        # The command committed for real (outside the tests' rolled-back transaction).
        async with engine.begin() as conn:
            await conn.execute(delete(StaffMember).where(StaffMember.name == "Operator One"))
            await conn.execute(delete(AuditEvent).where(AuditEvent.action == "staff.invite"))


def test_staff_invite_refuses_an_unknown_role() -> None:
    result = subprocess.run(  # noqa: S603 - our own console script
        [str(CLI), "staff", "invite", "--name", "X", "--role", "root"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "invalid choice: 'root'" in result.stderr
