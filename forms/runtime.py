"""What the forms feature needs at run time, built once by create_app and kept in app.state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.settings import Settings
from forms.attachments import AttachmentStore, FileSystemStore
from forms.catalogue import Catalogue, load_catalogue
from forms.receipts import ReceiptSigner
from forms.service import Policy
from forms.uploads import UploadLimits

STATE_KEY = "forms"


@dataclass(frozen=True, slots=True)
class FormsRuntime:
    catalogue: Catalogue
    store: AttachmentStore
    policy: Policy
    limits: UploadLimits


def build_runtime(
    settings: Settings, *, signer: ReceiptSigner, store: AttachmentStore | None = None
) -> FormsRuntime:
    """Load and check the catalogue (a bad definition file stops startup here)."""
    catalogue = load_catalogue(settings.forms_catalogue_dir)
    return FormsRuntime(
        catalogue=catalogue,
        store=store or FileSystemStore(settings.forms_attachment_dir),
        policy=Policy(
            catalogue=catalogue,
            signer=signer,
            grace=settings.forms_grace_period,
            # Receipts share the extracts' key, so also their `iss` (PUBLIC_ORIGIN by default).
            issuer=settings.extract_issuer or settings.public_origin,
        ),
        limits=UploadLimits(max_bytes=settings.forms_attachment_max_bytes),
    )


def runtime_of(state: Any) -> FormsRuntime:
    """The runtime from a Litestar app's state (resolvers reach it via the request)."""
    runtime: FormsRuntime = state[STATE_KEY]
    return runtime
