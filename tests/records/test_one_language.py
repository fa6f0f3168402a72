"""One language everywhere (#16 item 1): the chosen language is the profile's, and every text the
server made is shown in it, also texts sent before the switch."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.persisted import OPERATIONS_DIR
from auth.notices import announce
from forms import status
from forms.catalogue import load_catalogue
from forms.models import SubmissionStatus
from notifications.messages import CATALOGUE, REMINDER, reminder_params
from notifications.models import MessageKind
from notifications.service import post_message
from records.models import Deadline, DeadlineKind
from records.texts import DUTCH_ACTION
from tests.forms.support import QUESTION, entry, submit
from tests.support import gql, sign_in

DASHBOARD = (OPERATIONS_DIR / "Dashboard.graphql").read_text()
UPDATE = (OPERATIONS_DIR / "UpdatePreferences.graphql").read_text()
INBOX_PAGE = (OPERATIONS_DIR / "InboxPage.graphql").read_text()


def fragments(language: str) -> set[str]:
    """The fixed words of every catalogued message in one language (placeholders cut out)."""
    found: set[str] = set()
    for texts in CATALOGUE.values():
        for template in texts[language]:
            for part in re.split(r"\{\w+\}", template):
                for sentence in re.split(r"[.“”\n]", part):
                    if len(sentence.strip()) >= 12:
                        found.add(sentence.strip())
    return found


ENGLISH_ONLY = {
    # Server texts that are English (register descriptions, reminder wording, form titles).
    "Annual repayment for people abroad",
    "Send proof of your income",
    "Apply for a reduced monthly amount",
    "due in",
    "Deadline:",
    "Ask DUO a question",
    *fragments("en"),
}
DUTCH_ONLY = {
    "Jaarlijkse aflossing voor wie in het buitenland woont",
    "Vraag een lager maandbedrag aan",
    "Uiterlijk",
    "Een vraag stellen aan DUO",
    *fragments("nl"),
}


def texts_of(data: Any) -> str:
    """Every string of a GraphQL answer, one per line."""
    if isinstance(data, dict):
        return "\n".join(texts_of(v) for v in data.values())
    if isinstance(data, list):
        return "\n".join(texts_of(v) for v in data)
    return data if isinstance(data, str) else ""


async def screens(client: httpx.AsyncClient) -> str:
    dashboard = await gql(client, DASHBOARD)
    assert "errors" not in dashboard, dashboard
    inbox = await gql(client, INBOX_PAGE, {"first": 50, "after": None})
    assert "errors" not in inbox, inbox
    return texts_of(dashboard["data"]) + "\n" + texts_of(inbox["data"])


async def choose(client: httpx.AsyncClient, language: str) -> None:
    body = await gql(client, UPDATE, {"input": {"preferredLanguage": language}})
    assert body["data"]["updatePreferences"]["preferredLanguage"] == language, body


async def everything_the_server_says(
    client: httpx.AsyncClient, db: AsyncSession, person_id: uuid.UUID
) -> None:
    """A welcome (demo data), a security notice, a form decision and a reminder, all in English."""
    await announce(db, person_id, "passkey.added", name="Pixel 8")
    item = entry("general-question", 1, QUESTION)
    assert (await submit(client, item))["status"] == "ACCEPTED"
    await status.decide(
        db,
        uuid.UUID(item["clientId"]),
        status=SubmissionStatus.REJECTED,
        reason="-",
        catalogue=load_catalogue(),
    )
    await post_message(
        db,
        person_id,
        kind=MessageKind.REMINDER,
        key=REMINDER,
        params=reminder_params(
            kind=DeadlineKind.PAYMENT,
            description="Annual repayment for people abroad: pay before 31 December.",
            deadline=utcnow() + timedelta(days=3),
            days_left=3,
            zone="Asia/Jakarta",
        ),
    )
    await db.commit()


async def test_switching_language_renders_every_server_text_in_it_also_older_ones(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(preferred_language="en")
    await sign_in(client, db, me.person["id"])
    await everything_the_server_says(client, db, me.person["id"])

    english = await screens(client)
    assert "Welcome to DUO Abroad" in english
    assert "A passkey was added to your account" in english
    assert "Your form could not be processed" in english
    assert "Payment due in 3 days" in english
    assert [s for s in DUTCH_ONLY if s in english] == []

    await choose(client, "nl")
    dutch = await screens(client)
    # Sent before the switch, shown in the language chosen after it.
    for said in (
        "Welkom bij DUO Abroad",
        "Er is een passkey toegevoegd aan uw account",
        "Met de nieuwe passkey “Pixel 8”",
        "Uw formulier kon niet worden verwerkt",
        "“Een vraag stellen aan DUO”",
        "Betaling: nog 3 dagen",
        "Jaarlijkse aflossing voor wie in het buitenland woont",
        "Asia/Jakarta",
    ):
        assert said in dutch, said
    assert [s for s in ENGLISH_ONLY if s in dutch] == []

    await choose(client, "en")
    assert [s for s in DUTCH_ONLY if s in await screens(client)] == []


async def test_a_deadline_the_register_describes_in_unknown_words_gets_a_dutch_sentence(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(preferred_language="nl")
    me_id = me.person["id"]
    db.add(
        Deadline(
            person_id=me_id,
            kind=DeadlineKind.DOCUMENT,
            due_at=utcnow() + timedelta(days=9),
            description="Send a certified copy of your new passport.",
        )
    )
    await db.commit()
    await sign_in(client, db, me_id)
    dutch = await screens(client)
    assert DUTCH_ACTION[DeadlineKind.DOCUMENT] in dutch
    assert "certified copy" not in dutch


async def test_a_message_from_before_keys_keeps_its_text(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(preferred_language="nl")
    await post_message(
        db, me.person["id"], kind=MessageKind.INFO, subject="Een oude brief", body="Zoals hij was."
    )
    await db.commit()
    await sign_in(client, db, me.person["id"])
    assert "Een oude brief\nZoals hij was." in await screens(client)


async def test_a_devices_own_language_never_overrides_a_choice_made_in_the_app(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(preferred_language="nl")  # DUO's register's, not a choice
    await sign_in(client, db, me.person["id"])

    async def send(language: str, *, from_device: bool) -> Any:
        body = await gql(
            client,
            UPDATE,
            {"input": {"preferredLanguage": language, "languageFromDevice": from_device}},
        )
        assert "errors" not in body, body
        return body["data"]["updatePreferences"]

    assert await send("en", from_device=True) == {
        "id": str(me.person["id"]),
        "preferredLanguage": "en",
        "languageChosen": False,
        "timeZone": me.person["time_zone"],
    }
    chosen = await send("nl", from_device=False)
    assert (chosen["preferredLanguage"], chosen["languageChosen"]) == ("nl", True)
    kept = await send("en", from_device=True)  # another phone, in English by its settings
    assert (kept["preferredLanguage"], kept["languageChosen"]) == ("nl", True)
    assert "Welkom bij DUO Abroad" in await screens(client)
