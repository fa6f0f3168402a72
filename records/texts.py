"""Deadline descriptions in the reader's language (#16 item 1).

DUO's registers describe deadlines in English. A Dutch reader gets the Dutch wording of a known
register text, else a sentence for the deadline's kind: never the English one beside Dutch labels.
"""

from __future__ import annotations

from records.models import DeadlineKind

SUPPORTED = ("en", "nl")

# The register's texts (records/demo.py and the import's examples) and their Dutch wording.
_DUTCH = {
    "Annual repayment for people abroad: pay before 31 December.": (
        "Jaarlijkse aflossing voor wie in het buitenland woont: betaal vóór 31 december."
    ),
    "Send proof of your income of last year to set your monthly amount.": (
        "Stuur het bewijs van uw inkomen van vorig jaar op, zodat uw maandbedrag kan worden "
        "vastgesteld."
    ),
    "Apply for a reduced monthly amount (draagkrachtmeting).": (
        "Vraag een lager maandbedrag aan (draagkrachtmeting)."
    ),
}
DUTCH_ACTION = {
    DeadlineKind.PAYMENT: "Betaal uw jaarlijkse aflossing op tijd.",
    DeadlineKind.INCOME_STATEMENT: "Stuur het bewijs van uw inkomen op tijd in.",
    DeadlineKind.APPLICATION: "Dien uw aanvraag op tijd in.",
    DeadlineKind.DOCUMENT: "Stuur de gevraagde documenten op tijd in.",
}


def language_or_default(language: str | None) -> str:
    return language if language in SUPPORTED else "en"


def deadline_description(kind: DeadlineKind, description: str, language: str) -> str:
    """The register's description, or its Dutch wording (a sentence per kind if unknown)."""
    if language != "nl":
        return description
    return _DUTCH.get(description.strip()) or DUTCH_ACTION[kind]
