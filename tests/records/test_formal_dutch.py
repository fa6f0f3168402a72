"""DUO addresses the person as "u" in Dutch, everywhere: the app's texts, the inbox messages, the
reminders, the deadline sentences and the forms. Never "je", "jij", "jouw" or "jou" beside "uw"."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from notifications.messages import CATALOGUE, PUSH_BODY, recognise, render
from notifications.texts import health_text, reminder_text
from records.models import DeadlineKind
from records.texts import DUTCH_ACTION, deadline_description

NL_JSON = Path(__file__).resolve().parents[2] / "pwa" / "locales" / "nl.json"
INFORMAL = re.compile(r"\b(je|jij|jouw|jou|jezelf)\b", re.IGNORECASE)
REGISTER_TEXTS = (  # records/demo.py's deadline descriptions, which have a Dutch wording
    "Annual repayment for people abroad: pay before 31 December.",
    "Send proof of your income of last year to set your monthly amount.",
    "Apply for a reduced monthly amount (draagkrachtmeting).",
)


def dutch_in(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every Dutch string of a form definition: the value under each "nl" key."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "nl" and isinstance(inner, str):
                yield where, inner
            else:
                yield from dutch_in(inner, f"{where}/{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from dutch_in(inner, f"{where}/{i}")


def dutch_texts() -> Iterator[tuple[str, str]]:
    for key, text in json.loads(NL_JSON.read_text(encoding="utf-8")).items():
        yield f"nl.json {key}", text
    params = {"title": "T", "day": "1 mei", "ref": "R", "reason": "-", "name": "Pixel 8"}
    for key in CATALOGUE:
        rendered = render(key, params, "nl")
        assert rendered is not None, key
        yield f"message {key}", f"{rendered.title}\n{rendered.body}"
    yield "push body", PUSH_BODY["nl"]
    zone = ZoneInfo("Europe/Amsterdam")
    for kind in DeadlineKind:
        yield f"deadline {kind}", DUTCH_ACTION[kind]
        for days in (0, 1, 7):
            text = reminder_text(
                kind=kind,
                description="A text the register wrote in English.",
                deadline=datetime(2027, 1, 1, tzinfo=UTC),
                days_left=days,
                zone=zone,
                language="nl",
            )
            yield f"reminder {kind} {days}", f"{text.title}\n{text.body}"
    for description in REGISTER_TEXTS:
        yield (
            f"register {description}",
            deadline_description(DeadlineKind.PAYMENT, description, "nl"),
        )
    health = health_text("nl")
    yield "push test", f"{health.title}\n{health.body}"
    catalogue = resources.files("forms").joinpath("catalogue")
    for path in sorted(catalogue.iterdir(), key=lambda p: p.name):
        if path.name.endswith(".json"):
            yield from dutch_in(json.loads(path.read_text(encoding="utf-8")), path.name)


def test_every_dutch_text_the_person_reads_says_u_never_je() -> None:
    texts = list(dutch_texts())
    assert len(texts) > 300  # the app's strings, the messages and the forms were all found
    informal = [(where, text) for where, text in texts if INFORMAL.search(text)]
    assert informal == []


def test_the_dutch_messages_say_u_and_uw() -> None:
    params = {"name": "Pixel 8", "reason": "verloren telefoon"}
    added = render("passkey.added", params, "nl")
    assert added is not None
    assert added.title == "Er is een passkey toegevoegd aan uw account"
    assert "kunt u nu inloggen op DUO Abroad. Was u dit niet?" in added.body
    renewed = render("recovery.renewed", params, "nl")
    assert renewed is not None
    assert renewed.title == "U hebt een nieuwe herstelsleutel"
    welcome = render("welcome", {}, "nl")
    assert welcome is not None
    assert welcome.body.startswith("U kunt hier uw gegevens")


def test_a_message_stored_in_the_earlier_je_wording_is_still_recognised_and_now_says_u() -> None:
    """Migration 0017 gives keys to rows stored before keys existed, in the wording of then."""
    found = recognise(
        "Er is een passkey toegevoegd aan je account",
        "Met de nieuwe passkey “Pixel 8” kun je nu inloggen op DUO Abroad. "
        "Was jij dit niet? Verwijder hem onder Beveiliging en neem contact op met DUO.",
    )
    assert found == ("passkey.added", {"name": "Pixel 8"})
    again = render(*found, "nl")
    assert again is not None
    assert again.title == "Er is een passkey toegevoegd aan uw account"
