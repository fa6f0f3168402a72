"""`duo-abroad forms …`: DUO staff set a submission's status. (Stale uploads are purged by the
daily housekeeping: api/housekeeping.py.)

Heavy imports happen inside the handlers, so `duo-abroad --help` stays quick.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from typing import Any

from api.settings import Settings


def add_form_commands(sub: Any) -> None:
    """Register `forms` and its actions on the top-level subparsers of api.cli."""
    forms = sub.add_parser("forms", help="submitted forms (DUO staff, operators)")
    actions = forms.add_subparsers(dest="action", required=True, metavar="ACTION")

    status = actions.add_parser(
        "set-status",
        help="mark a received submission processed or rejected; the person's inbox is told",
    )
    status.add_argument("submission_id", metavar="ID", help="the submission's (client) UUID")
    status.add_argument("status", choices=["processed", "rejected"])
    status.add_argument("--reason", help="why (required for rejected; shown to the person)")
    status.set_defaults(handler=_set_status)


def _set_status(args: argparse.Namespace, settings: Settings) -> int:
    from api.database import begin_write, create_engine, create_session_factory
    from api.errors import DomainError
    from api.settings import SettingsError
    from forms import status
    from forms.catalogue import load_catalogue
    from forms.models import SubmissionStatus
    from notifications.runtime import PushRuntime
    from notifications.sender import Outcome
    from notifications.service import push_message

    try:
        client_id = uuid.UUID(args.submission_id)
    except ValueError:
        print(f"not a submission id: {args.submission_id}", file=sys.stderr)
        return 2

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            factory = create_session_factory(engine)
            async with factory() as db:
                await begin_write(db)
                try:
                    decided = await status.decide(
                        db,
                        client_id,
                        status=SubmissionStatus(args.status),
                        reason=args.reason,
                        catalogue=load_catalogue(settings.forms_catalogue_dir),
                    )
                except DomainError as exc:
                    print(exc.message, file=sys.stderr)
                    return 1
                await db.commit()
            # Then the person's devices, in their language (#13); the inbox already has it.
            push = PushRuntime(settings, factory)
            try:
                pushed = await push_message(factory, push.sender, decided.message_id)
            except SettingsError as exc:  # no VAPID key in production: the inbox must do
                print(f"not pushed: {exc}", file=sys.stderr)
                pushed = []
            finally:
                await push.close()
        finally:
            await engine.dispose()
        row = decided.submission
        delivered = sum(r.outcome is Outcome.DELIVERED for r in pushed)
        print(
            f"submission {row.client_id}: {row.status.value} (the person's inbox has a message;"
            f" pushed to {delivered} of {len(pushed)} devices)"
        )
        return 0

    return asyncio.run(run())
