"""One language everywhere (#16 item 1): a reminder planned in English and pushed after the
person chose Dutch in the app arrives in Dutch, also where reminders had a language of their own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.settings import Settings
from notifications.models import PushDelivery
from tests.notifications.conftest import Receiver
from tests.notifications.support import add_deadline, make_worker, person_without_reminders
from tests.notifications.test_real_receiver import browser_subscription
from tests.support import gql, sign_in

REMINDER_LANGUAGE = """mutation($l: String) { updateReminderPreferences(input: {language: $l}) {
  language languageFollowsProfile } }"""
APP_LANGUAGE = """mutation($l: String) { updatePreferences(input: {preferredLanguage: $l}) {
  preferredLanguage } }"""
PREFERENCES = "{ viewer { reminderPreferences { language languageFollowsProfile } } }"


async def test_a_reminder_is_pushed_in_the_language_chosen_after_it_was_planned(
    client: httpx.AsyncClient,
    db: AsyncSession,
    push_receiver: Receiver,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime(2026, 11, 28, 7, 30, tzinfo=UTC)
    person_id = await person_without_reminders(
        db, preferred_language="en", time_zone="Europe/Amsterdam"
    )
    await add_deadline(db, person_id, due_in=timedelta(days=2, hours=1), now=now)
    await db.commit()
    await sign_in(client, db, person_id)
    _device, client_hash = await browser_subscription(client, push_receiver)
    # The reminder settings form saves the language shown in it: an override, in English.
    set_en = await gql(client, REMINDER_LANGUAGE, {"l": "en"})
    assert set_en["data"]["updateReminderPreferences"]["languageFollowsProfile"] is False

    worker, runtime = await make_worker(settings, session_factory, clock=lambda: now)
    try:
        assert (await worker.scan()).posted == 1  # planned (and its inbox message) in English
        chosen = await gql(client, APP_LANGUAGE, {"l": "nl"})
        assert chosen["data"]["updatePreferences"]["preferredLanguage"] == "nl"
        prefs = (await gql(client, PREFERENCES))["data"]["viewer"]["reminderPreferences"]
        assert prefs == {"language": "nl", "languageFollowsProfile": True}
        await worker.deliver(list(await db.scalars(select(PushDelivery.id))))
    finally:
        await runtime.close()

    [message] = await push_receiver.messages(client_hash)
    payload = json.loads(message)
    assert payload["lang"] == "nl"
    assert payload["title"] == "Inkomensverklaring: nog 2 dagen"
    assert "Uiterlijk" in payload["body"]
    assert "Deadline" not in payload["body"]
