"""Validating content against a form version's JSON Schema (Draft 2020-12), with field errors.

jsonschema stays inside this module. Errors come out as FieldError(path, code, message):
`path` is a JSON Pointer (RFC 6901) into the content, as JSON Schema's own output format uses
for "instanceLocation" (Draft 2020-12 core §12.4.2); "" is the content as a whole.
"""

from __future__ import annotations

import json
import re
import string
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError

Texts = Mapping[str, str]  # language -> text
LANGUAGES = ("en", "nl")


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str
    code: str
    message: str


# --- formats (custom ones named after their standard) ---------------------------------------


@cache
def _codes() -> dict[str, frozenset[str]]:
    raw = json.loads(resources.files("forms").joinpath("codes.json").read_text(encoding="utf-8"))
    return {"countries": frozenset(raw["countries"]), "currencies": frozenset(raw["currencies"])}


# IBAN lengths per country, from the SWIFT IBAN Registry; the check digits are ISO 13616 mod 97.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_BIC = re.compile(r"^[A-Z]{4}([A-Z]{2})[A-Z0-9]{2}([A-Z0-9]{3})?$")  # ISO 9362


def is_iban(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    if not _IBAN.match(compact) or IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(
        str(string.ascii_uppercase.index(c) + 10) if c.isalpha() else c for c in rearranged
    )
    return int(digits) % 97 == 1


def is_country(value: str) -> bool:
    """An ISO 3166-1 alpha-2 code of a country (forms/codes.json)."""
    return value in _codes()["countries"]


def is_bic(value: str) -> bool:
    match = _BIC.match(value.upper())
    return match is not None and match.group(1) in _codes()["countries"]


def _is_date(value: str) -> bool:
    # RFC 3339 full-date only (fromisoformat alone would also take "20260101").
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checks: dict[str, Callable[[str], bool]] = {
        "date": _is_date,
        "uuid": _is_uuid,
        "iban": is_iban,
        "bic": is_bic,
        "iso3166-alpha2": lambda v: v in _codes()["countries"],
        "iso4217": lambda v: v in _codes()["currencies"],
    }
    for name, check in checks.items():
        checker.checks(name)(_strings_only(check))
    return checker


def _strings_only(check: Callable[[str], bool]) -> Callable[[object], bool]:
    # Non-strings are the `type` keyword's business (JSON Schema Validation §7.1).
    return lambda value: not isinstance(value, str) or check(value)


FORMAT_CODES = {
    "date": "INVALID_DATE",
    "uuid": "INVALID_ID",
    "iban": "INVALID_IBAN",
    "bic": "INVALID_BIC",
    "iso3166-alpha2": "INVALID_COUNTRY",
    "iso4217": "INVALID_CURRENCY",
}


def make_validator(schema: dict[str, Any]) -> Draft202012Validator:
    """Check a schema against the Draft 2020-12 metaschema and build its validator."""
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_format_checker())


# --- messages -------------------------------------------------------------------------------

MESSAGES: dict[str, Texts] = {
    "REQUIRED": {"en": "This field is required.", "nl": "Dit veld is verplicht."},
    "UNKNOWN_FIELD": {
        "en": "This field is not part of this form.",
        "nl": "Dit veld hoort niet bij dit formulier.",
    },
    "INVALID_TYPE": {
        "en": "This value has the wrong type.",
        "nl": "Deze waarde heeft het verkeerde type.",
    },
    "NOT_ALLOWED": {"en": "Choose one of the options.", "nl": "Kies een van de mogelijkheden."},
    "TOO_SHORT": {
        "en": "Fill in at least {limit} characters.",
        "nl": "Vul minstens {limit} tekens in.",
    },
    "TOO_LONG": {
        "en": "Use at most {limit} characters.",
        "nl": "Gebruik hoogstens {limit} tekens.",
    },
    "TOO_SMALL": {
        "en": "The lowest allowed value is {limit}.",
        "nl": "De laagste toegestane waarde is {limit}.",
    },
    "TOO_LARGE": {
        "en": "The highest allowed value is {limit}.",
        "nl": "De hoogste toegestane waarde is {limit}.",
    },
    "TOO_FEW": {"en": "Add at least {limit}.", "nl": "Voeg er minstens {limit} toe."},
    "TOO_MANY": {"en": "Add at most {limit}.", "nl": "Voeg er hoogstens {limit} toe."},
    "DUPLICATE": {
        "en": "The same item is listed twice.",
        "nl": "Hetzelfde item staat er twee keer in.",
    },
    "INVALID_FORMAT": {
        "en": "This value does not have the expected format.",
        "nl": "Deze waarde heeft niet de verwachte vorm.",
    },
    "INVALID_DATE": {"en": "Enter a date as YYYY-MM-DD.", "nl": "Vul een datum in als JJJJ-MM-DD."},
    "INVALID_ID": {"en": "This reference is not valid.", "nl": "Deze verwijzing is niet geldig."},
    "INVALID_IBAN": {
        "en": "This is not a valid IBAN: check the country code, length and check digits.",
        "nl": "Dit is geen geldig IBAN: controleer de landcode, de lengte en de controlecijfers.",
    },
    "INVALID_BIC": {
        "en": "This is not a valid SWIFT/BIC code (8 or 11 characters).",
        "nl": "Dit is geen geldige SWIFT/BIC-code (8 of 11 tekens).",
    },
    "INVALID_COUNTRY": {
        "en": "Choose a country from the list.",
        "nl": "Kies een land uit de lijst.",
    },
    "INVALID_CURRENCY": {
        "en": "Choose a currency (ISO 4217 code, e.g. EUR).",
        "nl": "Kies een valuta (ISO 4217-code, bijv. EUR).",
    },
    "INVALID": {"en": "This value is not valid.", "nl": "Deze waarde is niet geldig."},
    "INVALID_CHARACTERS": {
        "en": "This text holds a character that cannot be stored (NUL). Remove it.",
        "nl": "Deze tekst bevat een teken dat niet kan worden opgeslagen (NUL). Haal het weg.",
    },
    # Beyond the schema (forms.service): attachments and the form version.
    "ATTACHMENT_NOT_FOUND": {
        "en": "This file was not found. Upload it again.",
        "nl": "Dit bestand is niet gevonden. Upload het opnieuw.",
    },
    "ATTACHMENT_INCOMPLETE": {
        "en": "This file has not finished uploading.",
        "nl": "Dit bestand is nog niet helemaal geüpload.",
    },
    "ATTACHMENT_IN_USE": {
        "en": "This file belongs to another submission. Upload it again.",
        "nl": "Dit bestand hoort bij een andere inzending. Upload het opnieuw.",
    },
    "FORM_NOT_FOUND": {"en": "This form does not exist.", "nl": "Dit formulier bestaat niet."},
    "FORM_VERSION_RETIRED": {
        "en": "This version of the form is no longer accepted. Fill in the current version.",
        "nl": "Deze versie van het formulier wordt niet meer geaccepteerd. "
        "Vul de huidige versie in.",
    },
    "CONTENT_TOO_LARGE": {
        "en": "This submission is too large.",
        "nl": "Deze inzending is te groot.",
    },
    "INVALID_CLIENT_ID": {
        "en": "The app sent an invalid submission id.",
        "nl": "De app stuurde een ongeldig inzendingsnummer.",
    },
    "IDEMPOTENCY_CONFLICT": {
        "en": "This submission id was already used for a different submission; "
        "the app must send it under a new id.",
        "nl": "Dit inzendingsnummer is al gebruikt voor een andere inzending; "
        "de app moet haar met een nieuw nummer versturen.",
    },
}


def message(
    code: str,
    language: str,
    *,
    overrides: Mapping[str, Texts] | None = None,
    params: Mapping[str, object] | None = None,
) -> str:
    texts = (overrides or {}).get(code) or MESSAGES.get(code) or MESSAGES["INVALID"]
    text = texts.get(language) or texts["en"]
    return text.format(**params) if params else text


def error(code: str, language: str, path: str = "") -> FieldError:
    return FieldError(path=path, code=code, message=message(code, language))


# --- jsonschema errors -> field errors ------------------------------------------------------


def pointer(parts: Iterable[str | int]) -> str:
    """An RFC 6901 JSON Pointer: '~' and '/' in names are escaped as ~0 and ~1."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


_LIMITS = {
    "minLength": "TOO_SHORT",
    "maxLength": "TOO_LONG",
    "minimum": "TOO_SMALL",
    "exclusiveMinimum": "TOO_SMALL",
    "maximum": "TOO_LARGE",
    "exclusiveMaximum": "TOO_LARGE",
    "minItems": "TOO_FEW",
    "maxItems": "TOO_MANY",
}
_PLAIN = {
    "type": "INVALID_TYPE",
    "enum": "NOT_ALLOWED",
    "const": "NOT_ALLOWED",
    "not": "NOT_ALLOWED",
    "pattern": "INVALID_FORMAT",
    "uniqueItems": "DUPLICATE",
}


def _translate(err: ValidationError) -> Iterable[tuple[str, str, dict[str, object]]]:
    """(path, code, params) for one jsonschema error; may yield several (missing fields)."""
    at = list(err.absolute_path)
    keyword = str(err.validator)
    if keyword == "required":
        present = err.instance if isinstance(err.instance, dict) else {}
        names = err.validator_value if isinstance(err.validator_value, list) else []
        for name in names:
            if name not in present:
                yield pointer([*at, name]), "REQUIRED", {}
    elif keyword in ("additionalProperties", "unevaluatedProperties"):
        allowed = set(err.schema.get("properties", {})) if isinstance(err.schema, dict) else set()
        extra = (
            [k for k in err.instance if k not in allowed] if isinstance(err.instance, dict) else []
        )
        for name in extra or [""]:
            yield pointer([*at, name]) if name else pointer(at), "UNKNOWN_FIELD", {}
    elif keyword in _LIMITS:
        yield pointer(at), _LIMITS[keyword], {"limit": err.validator_value}
    elif keyword == "format":
        yield pointer(at), FORMAT_CODES.get(str(err.validator_value), "INVALID_FORMAT"), {}
    else:
        # oneOf/anyOf and anything unforeseen: still a field-level error, never a crash.
        yield pointer(at), _PLAIN.get(keyword, "INVALID"), {}


def unstorable_text(content: object, at: tuple[str | int, ...] = ()) -> list[str]:
    """JSON Pointers of the names and texts in content that hold NUL (U+0000).

    No schema can allow NUL: PostgreSQL's jsonb refuses it (SQLite would store it), and the
    person meant no such thing (a paste from a binary file, a broken keyboard app).
    """
    found: list[str] = []
    stack: list[tuple[object, tuple[str | int, ...]]] = [(content, at)]
    while stack:  # no recursion: the content's depth is the client's choice
        value, path = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                found.append(pointer(path))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and "\x00" in key:
                    found.append(pointer((*path, key)))
                else:
                    stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(value))
    return sorted(found)


def validate_content(
    validator: Draft202012Validator,
    content: object,
    *,
    language: str,
    field_messages: Mapping[str, Mapping[str, Texts]] | None = None,
) -> list[FieldError]:
    """All field errors of content, one per (path, code), sorted by path; [] when valid.

    field_messages: per JSON Pointer, per code, texts that replace the generic message
    (the form's UI hints say "Choose the first day of a month" better than a regex does).
    """
    seen: set[tuple[str, str]] = set()
    errors: list[FieldError] = []
    for err in validator.iter_errors(content):
        for path, code, params in _translate(err):
            if (path, code) in seen:
                continue
            seen.add((path, code))
            overrides = (field_messages or {}).get(path)
            errors.append(
                FieldError(path, code, message(code, language, overrides=overrides, params=params))
            )
    return sorted(errors, key=lambda e: (e.path, e.code))
