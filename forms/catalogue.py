"""The form catalogue: versioned definitions read from forms/catalogue/<id>.v<N>.json.

A form or a version is added by adding a file; nothing here names a form. Every file is
checked when the app starts (schema against the Draft 2020-12 metaschema, English and Dutch
texts for every field, UI hints pointing at real fields), so a bad file stops the deploy
instead of failing a customer's submission.

Versions: the current version of a form is the newest one whose `publishedAt` has passed (so a
version can ship before its day). A draft stays pinned to the version it was started on;
an older version is still accepted until `grace` after its successor was published.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from forms.validation import LANGUAGES, Texts, make_validator, pointer

_FILE_NAME = re.compile(r"^([a-z][a-z0-9-]{1,62})\.v([1-9][0-9]{0,3})\.json$")


class CatalogueError(ValueError):
    """A catalogue file is not a usable form definition (raised at startup)."""


@dataclass(frozen=True, slots=True)
class FormVersion:
    form_id: str
    version: int
    published_at: datetime
    title: Texts
    description: Texts
    schema: dict[str, Any]
    ui: dict[str, Any]
    # JSON Pointers of content fields that hold attachment ids (a string or array of them).
    attachment_fields: tuple[str, ...]
    sha256: str  # of the definition file: lets a client check it holds exactly this version
    validator: Draft202012Validator = field(repr=False, compare=False)

    def field_messages(self) -> dict[str, dict[str, Texts]]:
        """Per field pointer, the form's own error texts per code (UI hints `messages`)."""
        fields: dict[str, dict[str, Any]] = self.ui.get("fields", {})
        return {path: hints["messages"] for path, hints in fields.items() if "messages" in hints}

    def definition(self) -> dict[str, Any]:
        """The definition as the PWA caches it: schema, UI hints and texts."""
        return {
            "id": self.form_id,
            "version": self.version,
            "publishedAt": self.published_at.isoformat(),
            "title": dict(self.title),
            "description": dict(self.description),
            "attachmentFields": list(self.attachment_fields),
            "schema": self.schema,
            "ui": self.ui,
        }


@dataclass(frozen=True, slots=True)
class Acceptance:
    accepted: bool
    current: bool
    accepted_until: datetime | None  # None: no end announced (the current version)


class Catalogue:
    """All versions of all forms, immutable once loaded."""

    def __init__(self, versions: list[FormVersion]) -> None:
        by_form: dict[str, dict[int, FormVersion]] = {}
        for v in versions:
            by_form.setdefault(v.form_id, {})[v.version] = v
        for form_id, found in by_form.items():
            numbers = sorted(found)
            if numbers != list(range(1, len(numbers) + 1)):
                raise CatalogueError(f"{form_id}: versions must be 1, 2, 3, … without gaps")
            dates = [found[n].published_at for n in numbers]
            if dates != sorted(dates):
                raise CatalogueError(f"{form_id}: a later version is published earlier")
        self._forms = {k: dict(sorted(v.items())) for k, v in sorted(by_form.items())}
        digest = hashlib.sha256()
        for v in versions_sorted(self._forms):
            digest.update(f"{v.form_id}.v{v.version}:{v.sha256}\n".encode())
        # Changes whenever any file changes: the PWA compares it to refresh its offline copy.
        self.revision = digest.hexdigest()[:16]

    def __iter__(self) -> Iterator[FormVersion]:
        return versions_sorted(self._forms)

    def get(self, form_id: str, version: int) -> FormVersion | None:
        return self._forms.get(form_id, {}).get(version)

    def current(self, form_id: str, now: datetime) -> FormVersion | None:
        published = [v for v in self._forms.get(form_id, {}).values() if v.published_at <= now]
        return published[-1] if published else None

    def current_versions(self, now: datetime) -> list[FormVersion]:
        found = (self.current(form_id, now) for form_id in self._forms)
        return [v for v in found if v is not None]

    def acceptance(self, form: FormVersion, *, now: datetime, grace: timedelta) -> Acceptance:
        """Whether a submission of this version is accepted now, and until when."""
        if form.published_at > now:
            return Acceptance(accepted=False, current=False, accepted_until=None)
        successor = self._forms[form.form_id].get(form.version + 1)
        if successor is None or successor.published_at > now:
            return Acceptance(accepted=True, current=True, accepted_until=None)
        until = successor.published_at + grace
        return Acceptance(accepted=now < until, current=False, accepted_until=until)


def versions_sorted(forms: Mapping[str, Mapping[int, FormVersion]]) -> Iterator[FormVersion]:
    for versions in forms.values():
        yield from versions.values()


def load_catalogue(directory: Traversable | None = None) -> Catalogue:
    """Read and check every definition file (forms/catalogue/ by default)."""
    directory = directory or resources.files("forms").joinpath("catalogue")
    versions = []
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise CatalogueError(f"{entry.name}: name files <form-id>.v<version>.json")
        raw = entry.read_bytes()
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CatalogueError(f"{entry.name}: not JSON: {exc}") from exc
        try:
            version = _parse(data, hashlib.sha256(raw).hexdigest())
        except (KeyError, TypeError, ValueError, SchemaError) as exc:
            raise CatalogueError(f"{entry.name}: {exc}") from exc
        if (version.form_id, str(version.version)) != match.groups():
            raise CatalogueError(f"{entry.name}: id and version differ from the file name")
        versions.append(version)
    if not versions:
        raise CatalogueError("the form catalogue is empty")
    return Catalogue(versions)


def _texts(value: object, where: str) -> Texts:
    if not isinstance(value, dict) or any(not value.get(lang) for lang in LANGUAGES):
        raise ValueError(f"{where}: needs a text in every language ({', '.join(LANGUAGES)})")
    return {lang: str(value[lang]) for lang in LANGUAGES}


def _parse(data: dict[str, Any], sha256: str) -> FormVersion:
    published_at = datetime.fromisoformat(data["publishedAt"])
    if published_at.tzinfo is None:
        raise ValueError("publishedAt needs a time zone (end it with Z)")
    schema = data["schema"]
    if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
        raise ValueError("schema must declare JSON Schema Draft 2020-12 ($schema)")
    if schema.get("type") != "object":
        raise ValueError("schema must describe an object")
    validator = make_validator(schema)
    ui = data["ui"]
    _check_ui(schema, ui)
    attachment_fields = tuple(data.get("attachmentFields", []))
    known = dict(_field_schemas(schema))
    for path in attachment_fields:
        if path not in known:
            raise ValueError(f"attachmentFields: {path} is not a field of the schema")
    return FormVersion(
        form_id=data["id"],
        version=int(data["version"]),
        published_at=published_at,
        title=_texts(data["title"], "title"),
        description=_texts(data["description"], "description"),
        schema=schema,
        ui=ui,
        attachment_fields=attachment_fields,
        sha256=sha256,
        validator=validator,
    )


def _field_schemas(
    schema: dict[str, Any], at: tuple[str, ...] = ()
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(JSON Pointer, subschema) of every field, nested objects included."""
    for name, sub in schema.get("properties", {}).items():
        yield pointer([*at, name]), sub
        if isinstance(sub, dict) and sub.get("type") == "object":
            yield from _field_schemas(sub, (*at, name))


def _check_ui(schema: dict[str, Any], ui: dict[str, Any]) -> None:
    """Every field has a label and UI hints, in both languages; hints name only real fields."""
    fields = dict(_field_schemas(schema))
    hints: dict[str, Any] = ui["fields"]
    if sorted(ui["order"]) != sorted(fields):
        raise ValueError("ui.order must list every field of the schema exactly once")
    if set(hints) != set(fields):
        raise ValueError(f"ui.fields must describe exactly the schema's fields: {sorted(fields)}")
    for path, hint in hints.items():
        if not isinstance(hint.get("widget"), str):
            raise ValueError(f"ui.fields[{path}]: needs a widget")
        _texts(hint.get("label"), f"ui.fields[{path}].label")
        if "help" in hint:
            _texts(hint["help"], f"ui.fields[{path}].help")
        options = hint.get("options", {})
        for option, label in options.items():
            _texts(label, f"ui.fields[{path}].options[{option}]")
        if sorted(options) != sorted(fields[path].get("enum", [])):
            raise ValueError(f"ui.fields[{path}].options: one label per enum value, no others")
        for code, texts in hint.get("messages", {}).items():
            _texts(texts, f"ui.fields[{path}].messages[{code}]")
        for other in hint.get("visibleWhen", {}):
            if other not in fields:
                raise ValueError(f"ui.fields[{path}].visibleWhen: {other} is not a field")
