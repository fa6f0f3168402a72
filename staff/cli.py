"""`duo-abroad staff …`: the operator's bootstrap of DUO staff accounts.

`staff invite --name NAME --role admin` prints a one-time enrolment link (24 hours); after
that, administrators invite everyone else from the staff UI. Heavy imports stay inside the
handler, so `duo-abroad --help` stays quick.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from api.settings import Settings

ROLES = ("helpdesk", "forms", "credentials", "auditor", "admin")


def add_staff_commands(sub: Any) -> None:
    """Register `staff` and its actions on the top-level subparsers of api.cli."""
    staff = sub.add_parser("staff", help="DUO staff accounts (operators)")
    actions = staff.add_subparsers(dest="action", required=True, metavar="ACTION")
    invite = actions.add_parser(
        "invite", help="create a staff member and print a one-time enrolment link (24 h)"
    )
    invite.add_argument("--name", required=True, help="the staff member's name")
    invite.add_argument(
        "--role",
        action="append",
        required=True,
        choices=ROLES,
        help="a role to give (repeat for several)",
    )
    invite.set_defaults(handler=_invite)


def _invite(args: argparse.Namespace, settings: Settings) -> int:
    from api.database import begin_write, create_engine, create_session_factory
    from api.errors import DomainError
    from auth.audit import RequestMeta
    from staff import accounts

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with create_session_factory(engine)() as db:
                await begin_write(db)
                try:
                    issued = await accounts.invite(
                        db,
                        name=args.name,
                        roles=accounts.parse_roles(args.role),
                        origin=settings.staff_public_origin,
                        by=None,
                        meta=RequestMeta(user_agent="duo-abroad staff invite"),
                    )
                except DomainError as exc:
                    print(exc.message, file=sys.stderr)
                    return 1
                await db.commit()
        finally:
            await engine.dispose()
        roles = ", ".join(sorted(set(args.role)))
        print(f"enrolment link for {issued.member.name} ({roles}):")
        print(f"\n    {issued.url}\n")
        print(
            f"valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC, single use. Open it in the "
            "browser where the staff member will sign in; it sets up their passkey."
        )
        return 0

    return asyncio.run(run())
