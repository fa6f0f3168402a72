"""The whole passkey journey through the API: activate, sign in, manage, recover."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import ActivationCode, AuditEvent
from notifications.models import InboxMessage, MessageKind
from tests.auth.flows import (
    ORIGIN,
    activate,
    error_code,
    login,
    new_code,
    passkey_count,
    post,
    viewer_name,
)
from tests.support import asgi_client, gql
from tests.webauthn_soft import SoftAuthenticator


async def test_activation_registers_a_passkey_and_signs_in(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(given_names="Priya")
    code = await new_code(db, me.person["customer_number"])
    phone = SoftAuthenticator()
    finished = await activate(client, phone, code, me.person["date_of_birth"])
    assert finished.status_code == 200, finished.text
    body = finished.json()
    assert body["signedIn"] is True
    assert len(body["recoveryKey"].replace("-", "")) == 25
    cookie = finished.headers.get_list("set-cookie")
    assert any(c.startswith("duo_session=") and "HttpOnly" in c for c in cookie)
    assert await viewer_name(client) == "Priya"
    # The code is spent, and stored only as a hash.
    row = await db.scalar(select(ActivationCode).where(ActivationCode.person_id == me.person["id"]))
    assert row is not None
    assert row.used_at is not None
    assert code.encode() not in row.code_hash
    # Announced in the inbox, and in the audit trail.
    db.expire_all()
    notices = (
        await db.scalars(
            select(InboxMessage).where(
                InboxMessage.person_id == me.person["id"], InboxMessage.kind == MessageKind.SECURITY
            )
        )
    ).all()
    assert len(notices) == 1
    events = (
        await db.scalars(
            select(AuditEvent.action).where(
                AuditEvent.person_id == me.person["id"], AuditEvent.outcome == "success"
            )
        )
    ).all()
    assert "activation.issue" in events
    assert "passkey.register" in events


async def test_usernameless_login_rotates_the_session(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(given_names="Lukas")
    phone = SoftAuthenticator()
    await activate(
        client, phone, await new_code(db, me.person["customer_number"]), me.person["date_of_birth"]
    )
    first_cookie = client.cookies.get("duo_session", domain="testserver.local")
    await gql(client, "mutation { signOut }")
    client.cookies.clear()
    assert await viewer_name(client) is None

    # A session cookie from before sign-in (e.g. a fixation attempt) is replaced, not reused.
    client.cookies.set("duo_session", "planted-by-someone-else", domain="testserver.local")
    response = await login(client, phone)
    assert response.status_code == 200, response.text
    new_cookie = client.cookies.get("duo_session", domain="testserver.local")
    assert new_cookie not in (None, first_cookie, "planted-by-someone-else")
    assert await viewer_name(client) == "Lukas"


async def test_manage_passkeys_add_rename_revoke(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    phone = SoftAuthenticator()
    finished = await activate(
        client, phone, await new_code(db, me.person["customer_number"]), me.person["date_of_birth"]
    )
    recovery_key = finished.json()["recoveryKey"]
    security = await gql(
        client, "{ viewer { passkeys { id name deviceBound } needsSecondPasskey } }"
    )
    passkeys = security["data"]["viewer"]["passkeys"]
    assert len(passkeys) == 1
    assert security["data"]["viewer"]["needsSecondPasskey"] is True  # only one, device-bound

    # Add a synced passkey from the signed-in session.
    laptop = SoftAuthenticator(backup_eligible=True, backed_up=True)
    options = await post(client, "/auth/passkeys/options", {})
    assert options.status_code == 200
    added = await post(
        client, "/auth/passkeys", laptop.create(options.json()["publicKey"], origin=ORIGIN)
    )
    assert added.status_code == 200, added.text
    assert "recoveryKey" not in added.json()
    after = await gql(client, "{ viewer { passkeys { id name synced } needsSecondPasskey } }")
    assert len(after["data"]["viewer"]["passkeys"]) == 2
    assert after["data"]["viewer"]["needsSecondPasskey"] is False

    first_id = passkeys[0]["id"]
    renamed = await gql(
        client,
        'mutation($id: ID!) { renamePasskey(id: $id, name: "  My\\u0000 phone  ") { name } }',
        {"id": first_id},
    )
    assert renamed["data"]["renamePasskey"]["name"] == "My phone"

    revoked = await gql(client, "mutation($id: ID!) { revokePasskey(id: $id) }", {"id": first_id})
    assert revoked["data"]["revokePasskey"] is True
    assert await passkey_count(db, me.person["id"]) == 1
    # The last one needs the recovery key in hand.
    last_id = added.json()["passkey"]["id"]
    refused = await gql(client, "mutation($id: ID!) { revokePasskey(id: $id) }", {"id": last_id})
    assert refused["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "recoveryKey"}
    assert await passkey_count(db, me.person["id"]) == 1
    allowed = await gql(
        client,
        "mutation($id: ID!, $k: String) { revokePasskey(id: $id, recoveryKey: $k) }",
        {"id": last_id, "k": recovery_key.lower()},
    )
    assert allowed["data"]["revokePasskey"] is True
    # The revoked phone can no longer sign in.
    client.cookies.clear()
    assert error_code(await login(client, phone)) == "PASSKEY_UNKNOWN"


async def test_device_link_adds_a_passkey_on_a_second_device(
    app: Any, client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(given_names="Siti")
    await activate(
        client,
        SoftAuthenticator(),
        await new_code(db, me.person["customer_number"]),
        me.person["date_of_birth"],
    )
    link = (await gql(client, "mutation { createDeviceLink { url expiresAt qrSvgDataUri } }"))[
        "data"
    ]["createDeviceLink"]
    assert link["url"].startswith(f"{ORIGIN}/#/link/")
    assert link["qrSvgDataUri"].startswith("data:image/svg+xml")
    token = link["url"].rsplit("/", 1)[1]

    tablet = SoftAuthenticator()
    async with asgi_client(app) as other_device:
        started = await post(other_device, "/auth/device-link", {"token": token})
        assert started.status_code == 200, started.text
        done = await post(
            other_device,
            "/auth/passkeys",
            tablet.create(started.json()["publicKey"], origin=ORIGIN),
        )
        assert done.status_code == 200, done.text
        assert await viewer_name(other_device) == "Siti"
        # Single use.
        again = await post(other_device, "/auth/device-link", {"token": token})
        assert again.status_code == 400
        assert error_code(again) == "DEVICE_LINK_INVALID"
    assert await passkey_count(db, me.person["id"]) == 2


async def test_recovery_key_registers_a_new_passkey_once(
    app: Any, client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(given_names="Kwame", preferred_language="en")
    finished = await activate(
        client,
        SoftAuthenticator(),
        await new_code(db, me.person["customer_number"]),
        me.person["date_of_birth"],
    )
    recovery_key = finished.json()["recoveryKey"]

    async with asgi_client(app) as new_phone:
        started = await post(new_phone, "/auth/recovery", {"recoveryKey": recovery_key})
        assert started.status_code == 200, started.text
        done = await post(
            new_phone,
            "/auth/passkeys",
            SoftAuthenticator().create(started.json()["publicKey"], origin=ORIGIN),
        )
        assert done.status_code == 200, done.text
        new_key = done.json()["recoveryKey"]
        assert new_key != recovery_key
        assert await viewer_name(new_phone) == "Kwame"
        reuse = await post(new_phone, "/auth/recovery", {"recoveryKey": recovery_key})
        assert reuse.status_code == 400
        assert error_code(reuse) == "RECOVERY_FAILED"
    assert await passkey_count(db, me.person["id"]) == 2  # old ones stay unless revoked
    inbox = await gql(client, "{ viewer { inbox(first: 10) { nodes { subject } } } }")
    subjects = [n["subject"] for n in inbox["data"]["viewer"]["inbox"]["nodes"]]
    assert any("recovery key was used" in s for s in subjects)


async def test_reenrolment_with_a_new_activation_code(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    """Lost every device and the recovery key: DUO issues a new code after an identity check."""
    me = await person_factory()
    await activate(
        client,
        SoftAuthenticator(),
        await new_code(db, me.person["customer_number"]),
        me.person["date_of_birth"],
    )
    client.cookies.clear()
    second = await activate(
        client,
        SoftAuthenticator(),
        await new_code(db, me.person["customer_number"]),
        me.person["date_of_birth"],
    )
    assert second.status_code == 200, second.text
    assert "recoveryKey" not in second.json()  # the existing one still works
    assert await passkey_count(db, me.person["id"]) == 2


async def test_sessions_list_and_end_one(
    app: Any, client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    phone = SoftAuthenticator()
    await activate(
        client, phone, await new_code(db, me.person["customer_number"]), me.person["date_of_birth"]
    )
    async with asgi_client(app) as laptop:
        assert (await login(laptop, phone)).status_code == 200
        listed = await gql(client, "{ viewer { sessions { id current } } }")
        sessions = listed["data"]["viewer"]["sessions"]
        assert len(sessions) == 2
        other = next(s for s in sessions if not s["current"])
        await gql(client, "mutation($id: ID!) { endSession(id: $id) }", {"id": other["id"]})
        assert await viewer_name(laptop) is None
        assert await viewer_name(client) is not None


async def test_backup_state_is_kept_current_and_drives_the_nudge(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    """WebAuthn §7.2 step 24: BS is updated at every sign-in. A passkey that may be synced but
    is not backed up yet lives on one device only, so the nudge shows until it is."""
    me = await person_factory()
    phone = SoftAuthenticator(backup_eligible=True, backed_up=False)
    code = await new_code(db, me.person["customer_number"])
    assert (await activate(client, phone, code, me.person["date_of_birth"])).status_code == 200
    query = "{ viewer { passkeys { synced deviceBound } needsSecondPasskey } }"

    async def state() -> tuple[bool, bool, bool]:
        viewer = (await gql(client, query))["data"]["viewer"]
        (passkey,) = viewer["passkeys"]
        return passkey["synced"], passkey["deviceBound"], viewer["needsSecondPasskey"]

    assert await state() == (False, False, True)
    phone.credentials[0].backed_up = True  # the provider has synced it since
    assert (await login(client, phone)).status_code == 200
    assert await state() == (True, False, False)
    phone.credentials[0].backed_up = False  # e.g. the person left the provider's sync
    assert (await login(client, phone)).status_code == 200
    assert await state() == (False, False, True)


async def test_a_device_link_is_checked_before_use_without_being_used(
    app: Any, client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    """#16 item 16: the link page learns until when the link works and whose account it is."""
    me = await person_factory(given_names="Siti")
    await activate(
        client,
        SoftAuthenticator(),
        await new_code(db, me.person["customer_number"]),
        me.person["date_of_birth"],
    )
    link = (await gql(client, "mutation { createDeviceLink { url expiresAt } }"))["data"][
        "createDeviceLink"
    ]
    token = link["url"].rsplit("/", 1)[1]
    async with asgi_client(app) as other_device:
        for _ in range(2):  # checking uses nothing
            checked = await post(other_device, "/auth/device-link/check", {"token": token})
            assert checked.status_code == 200, checked.text
            assert checked.json()["accountName"].startswith("Siti ")
            assert checked.json()["expiresAt"][:16] == link["expiresAt"][:16]
        started = await post(other_device, "/auth/device-link", {"token": token})
        assert started.status_code == 200, started.text
        await post(
            other_device,
            "/auth/passkeys",
            SoftAuthenticator().create(started.json()["publicKey"], origin=ORIGIN),
        )
        used = await post(other_device, "/auth/device-link/check", {"token": token})
        assert used.status_code == 400
        assert error_code(used) == "DEVICE_LINK_INVALID"
        unknown = await post(other_device, "/auth/device-link/check", {"token": "x" * 43})
        assert error_code(unknown) == "DEVICE_LINK_INVALID"
