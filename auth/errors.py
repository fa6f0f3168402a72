"""Authentication failures. Their code is what the client sees; the reason goes to the audit log."""

from __future__ import annotations

from api.errors import DomainError


class AuthError(DomainError):
    """A refused authentication step.

    Ceremonies record their failure (audit event, consumed challenge, attempt counter) before
    raising, so the edge commits on AuthError instead of rolling back.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        reason: str,
        status: int = 400,
        details: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.status = status
        self.details = details or {}  # for the audit event (e.g. which field), never secrets


# One message per family: precise enough to act on, silent about which check failed.
ACTIVATION_FAILED = "This activation code and date of birth do not match a valid activation."
RECOVERY_FAILED = "This recovery key is not valid."
ACCESS_REQUEST_FAILED = (
    "This access request cannot continue here. Open it in the browser where you made it, "
    "after DUO approved it."
)
LINK_FAILED = "This link is not valid any more. Create a new one on your signed-in device."
CEREMONY_FAILED = "This sign-in attempt expired or was already used. Please try again."
VERIFICATION_FAILED = "Your passkey could not be verified. Please try again."
PASSKEY_UNKNOWN = "This passkey is not registered with DUO Abroad (or it was removed)."
MALFORMED = "The passkey response was malformed."
