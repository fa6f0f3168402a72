"""The catalogue is data: files in, checked forms out; versions, grace period, validation."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.settings import Settings, SettingsError, load_settings
from forms.catalogue import CatalogueError, load_catalogue
from forms.receipts import JoseReceiptSigner, ReceiptInvalid, canonical_json, verify_receipt
from forms.validation import is_bic, is_iban, validate_content
from tests.forms.support import ADDRESS_V1, BANK_IBAN
from tests.support import asgi_client, gql

CATALOGUE_DIR = Path(str(resources.files("forms").joinpath("catalogue")))
V2_PUBLISHED = datetime(2026, 11, 1, tzinfo=UTC)


def test_every_form_has_english_and_dutch_texts_and_a_current_version() -> None:
    catalogue = load_catalogue()
    now = datetime(2026, 11, 28, tzinfo=UTC)
    current = {f.form_id: f.version for f in catalogue.current_versions(now)}
    assert current == {
        "certified-extract-request": 1,
        "change-of-address": 2,
        "foreign-bank-account": 1,
        "general-question": 1,
        "income-statement": 1,
        "stop-study-finance": 1,
    }
    for form in catalogue:
        assert set(form.title) == set(form.description) == {"en", "nl"}
        for hints in form.ui["fields"].values():
            assert hints["label"]["en"]
            assert hints["label"]["nl"]


def test_a_version_is_accepted_until_the_grace_period_after_its_successor_ends() -> None:
    catalogue = load_catalogue()
    v1 = catalogue.get("change-of-address", 1)
    assert v1 is not None
    grace = timedelta(days=90)
    before = catalogue.acceptance(v1, now=V2_PUBLISHED - timedelta(seconds=1), grace=grace)
    assert before.current
    assert before.accepted
    assert before.accepted_until is None
    last_second = catalogue.acceptance(
        v1, now=V2_PUBLISHED + grace - timedelta(seconds=1), grace=grace
    )
    assert last_second.accepted
    assert not last_second.current
    assert last_second.accepted_until == V2_PUBLISHED + grace
    assert not catalogue.acceptance(v1, now=V2_PUBLISHED + grace, grace=grace).accepted


def test_adding_a_form_or_a_version_is_adding_a_file(tmp_path: Path) -> None:
    for path in CATALOGUE_DIR.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    v2 = json.loads((tmp_path / "general-question.v1.json").read_text())
    v2.update(version=2, publishedAt="2030-01-01T00:00:00Z")
    (tmp_path / "general-question.v2.json").write_text(json.dumps(v2))
    catalogue = load_catalogue(tmp_path)
    assert catalogue.get("general-question", 2) is not None
    # Published in the future: not current yet, so drafts keep starting on v1.
    current = catalogue.current("general-question", datetime(2026, 11, 28, tzinfo=UTC))
    assert current is not None
    assert current.version == 1
    assert catalogue.revision != load_catalogue().revision


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["ui"]["fields"]["/subject"]["label"].pop("nl"), "every language"),
        (lambda d: d["ui"]["order"].remove("/subject"), "ui.order"),
        (lambda d: d["schema"].update(type="array"), "describe an object"),
        (lambda d: d["schema"]["properties"]["subject"].update(minLength=-1), "-1"),
        (lambda d: d.update(version=3), "file name"),
        (lambda d: d["ui"]["fields"]["/topic"]["options"].pop("other"), "enum value"),
    ],
)
def test_a_bad_definition_file_stops_startup(tmp_path: Path, change: object, message: str) -> None:
    data = json.loads((CATALOGUE_DIR / "general-question.v1.json").read_text())
    change(data)  # type: ignore[operator]
    (tmp_path / "general-question.v1.json").write_text(json.dumps(data))
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(tmp_path)


def test_iban_checksums_and_bic_codes() -> None:
    assert is_iban("NL91 ABNA 0417 1643 00")
    assert is_iban("gb82west12345698765432")
    assert not is_iban("NL91 ABNA 0417 1643 01"), "check digits"
    assert not is_iban("NL91 ABNA 0417 1643 0"), "length for NL"
    assert not is_iban("ZZ91 ABNA 0417 1643 00"), "country"
    assert is_bic("DEUTDEFF")
    assert is_bic("deutdeff500")
    assert not is_bic("DEUTZZFF"), "country"
    assert not is_bic("DEUTDEF")


def test_swift_accounts_need_bic_number_bank_and_country() -> None:
    form = load_catalogue().get("foreign-bank-account", 1)
    assert form is not None
    assert validate_content(form.validator, BANK_IBAN, language="en") == []
    swift = {"accountHolder": "Ana", "accountType": "swift", "startsOn": "2026-12-01"}
    errors = validate_content(form.validator, swift, language="en")
    assert [(e.path, e.code) for e in errors] == [
        ("/accountNumber", "REQUIRED"),
        ("/bankCountry", "REQUIRED"),
        ("/bankName", "REQUIRED"),
        ("/bic", "REQUIRED"),
    ]
    complete = {
        **swift,
        "bic": "BCOMPTPL",
        "accountNumber": "0033 1234 5678 9",
        "bankName": "Millennium",
        "bankCountry": "PT",
    }
    assert validate_content(form.validator, complete, language="en") == []


def test_a_forms_own_message_replaces_the_generic_one() -> None:
    form = load_catalogue().get("change-of-address", 1)
    assert form is not None
    errors = validate_content(
        form.validator,
        {**ADDRESS_V1, "country": "NL"},
        language="nl",
        field_messages=form.field_messages(),
    )
    assert [(e.path, e.code, e.message) for e in errors] == [
        ("/country", "NOT_ALLOWED", "Dit formulier is voor adressen buiten Nederland.")
    ]


async def test_receipts_verify_only_with_the_right_key_and_type() -> None:
    signer, stranger = JoseReceiptSigner.generate(), JoseReceiptSigner.generate()
    token = await signer.sign(
        canonical_json({"type": "FormSubmissionReceipt", "x": 1}), typ=("duo-form-receipt+jwt")
    )
    assert verify_receipt(token, signer.jwks())["x"] == 1
    with pytest.raises(ReceiptInvalid):
        verify_receipt(token, stranger.jwks())
    extract_like = await signer.sign(b'{"type": "FormSubmissionReceipt"}', typ="duo-extract+jwt")
    with pytest.raises(ReceiptInvalid, match="typ"):
        verify_receipt(extract_like, signer.jwks())
    with pytest.raises(ReceiptInvalid):
        verify_receipt(token[:-4] + "AAAA", signer.jwks())


def copy_with_general_question_v2(directory: Path) -> None:
    for path in CATALOGUE_DIR.glob("*.json"):
        shutil.copy(path, directory / path.name)
    v2 = json.loads((directory / "general-question.v1.json").read_text())
    v2.update(version=2, publishedAt="2026-01-01T00:00:00Z")
    (directory / "general-question.v2.json").write_text(json.dumps(v2))


async def test_the_server_reads_its_catalogue_from_forms_catalogue_dir(
    tmp_path: Path, settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Operators add a form or a version as a file without a new release of the package."""
    copy_with_general_question_v2(tmp_path)
    assert load_settings({"FORMS_CATALOGUE_DIR": str(tmp_path)}).forms_catalogue_dir == tmp_path
    with pytest.raises(SettingsError, match="FORMS_CATALOGUE_DIR"):
        load_settings({"FORMS_CATALOGUE_DIR": str(tmp_path / "missing")})

    app = create_app(
        settings.with_overrides(forms_catalogue_dir=tmp_path), session_factory=session_factory
    )
    async with asgi_client(app) as client:
        body = await gql(client, '{ form(id: "general-question") { version } }')
    assert body["data"]["form"]["version"] == 2
