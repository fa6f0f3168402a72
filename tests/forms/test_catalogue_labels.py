"""The catalogue's field labels are the single source of what a person reads (#16 item 2).

The app adds nothing to a label, so the catalogue marks each optional field itself, once, in
both languages; a field the schema requires (always, or when another answer asks for it) is
not marked optional.
"""

from __future__ import annotations

from typing import Any

import pytest

from forms.catalogue import FormVersion, load_catalogue

OPTIONAL = {"en": "(optional)", "nl": "(niet verplicht)"}
CATALOGUE = list(load_catalogue())


def _requirement(schema: dict[str, Any], pointer: str) -> str:
    """'required', 'conditional' (if/then asks for it) or 'optional' for a field's pointer."""
    *parents, key = pointer.split("/")[1:]
    node = schema
    for part in parents:
        node = node["properties"][part]
    if key in node.get("required", []):
        return "required"
    branches = [node, *node.get("allOf", [])]
    if any(key in branch.get("then", {}).get("required", []) for branch in branches):
        return "conditional"
    return "optional"


def _fields(form: FormVersion) -> list[tuple[str, dict[str, Any]]]:
    return [
        (pointer, hint)
        for pointer, hint in form.ui["fields"].items()
        if hint.get("widget") != "group"
    ]


@pytest.mark.parametrize("form", CATALOGUE, ids=lambda f: f"{f.form_id}.v{f.version}")
def test_every_optional_field_says_so_once_and_no_other_field_does(form: FormVersion) -> None:
    wrong = []
    for pointer, hint in _fields(form):
        expected = 1 if _requirement(form.schema, pointer) == "optional" else 0
        for lang, marker in OPTIONAL.items():
            label = hint["label"][lang]
            if label.count(marker) != expected:
                wrong.append(f"{pointer} [{lang}] {label!r}: {marker} expected {expected}x")
    assert wrong == []


@pytest.mark.parametrize("form", CATALOGUE, ids=lambda f: f"{f.form_id}.v{f.version}")
def test_no_label_repeats_a_parenthesised_remark(form: FormVersion) -> None:
    for pointer, hint in _fields(form):
        for lang, label in hint["label"].items():
            remarks = [part.split(")")[0] for part in label.split("(")[1:]]
            assert len(remarks) == len(set(remarks)), f"{form.form_id} {pointer} [{lang}]: {label}"
