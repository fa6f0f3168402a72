"""A CDP virtual authenticator in a page: the phone's fingerprint reader, for tests.

It answers WebAuthn requests at once (automatic presence simulation), with user verification
unless told otherwise. Conditional (autofill) requests are answered at once too, as if the
person picked the passkey from the autofill list; with presence simulation off they stay
pending, as they do in a real browser until someone picks a passkey. See TESTING.md.
"""

from __future__ import annotations

from base64 import b64encode
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import CDPSession, Page

# An init script, a probe and not a change: tells the test when the page's autofill (conditional
# mediation) request is pending.
TRACK_AUTOFILL = """
(() => {
  const get = navigator.credentials.get.bind(navigator.credentials);
  window.autofillPending = false;
  navigator.credentials.get = (options) => {
    const request = get(options);
    if (options?.mediation === "conditional") {
      window.autofillPending = true;
      const settled = () => { window.autofillPending = false; };
      request.then(settled, settled);
    }
    return request;
  };
})();
"""


@dataclass(frozen=True, slots=True)
class VirtualAuthenticator:
    cdp: CDPSession
    authenticator_id: str

    @classmethod
    def attach(cls, page: Page) -> VirtualAuthenticator:
        """A platform authenticator with resident keys and user verification (a phone)."""
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable", {"enableUI": False})
        added = cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "ctap2Version": "ctap2_1",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        return cls(cdp=cdp, authenticator_id=str(added["authenticatorId"]))

    def credentials(self) -> list[dict[str, Any]]:
        result = self.cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id}
        )
        credentials: list[dict[str, Any]] = result["credentials"]
        return credentials

    def set_user_verified(self, verified: bool) -> None:
        """False: the fingerprint or face check fails (get() rejects with NotAllowedError)."""
        self.cdp.send(
            "WebAuthn.setUserVerified",
            {"authenticatorId": self.authenticator_id, "isUserVerified": verified},
        )

    def set_presence(self, automatic: bool) -> None:
        """False: requests wait for a person who never comes (autofill stays pending)."""
        self.cdp.send(
            "WebAuthn.setAutomaticPresenceSimulation",
            {"authenticatorId": self.authenticator_id, "enabled": automatic},
        )

    def add_credential(
        self,
        *,
        credential_id: bytes,
        private_key_pkcs8: bytes,
        user_handle: bytes,
        rp_id: str,
        sign_count: int = 0,
    ) -> None:
        """A passkey this device already holds (a discoverable credential)."""
        self.cdp.send(
            "WebAuthn.addCredential",
            {
                "authenticatorId": self.authenticator_id,
                "credential": {
                    "credentialId": b64encode(credential_id).decode(),
                    "isResidentCredential": True,
                    "rpId": rp_id,
                    "privateKey": b64encode(private_key_pkcs8).decode(),
                    "userHandle": b64encode(user_handle).decode(),
                    "signCount": sign_count,
                },
            },
        )

    def clear_credentials(self) -> None:
        self.cdp.send("WebAuthn.clearCredentials", {"authenticatorId": self.authenticator_id})
