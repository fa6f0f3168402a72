"""Helpers for the extract tests: a person with a diploma, GraphQL calls, independent checks."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import httpx
import jwt
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from records.models import Diploma, DiplomaResult, EducationLevel
from tests.support import add_person, gql, sign_in

# A Turkish family name: its dotless i (U+0131) is outside Latin-1.
YILMAZ = "Y\u0131lmaz"
EXTRACT_FIELDS = """
    id diplomaId version language createdAt expiresAt revoked revokedAt
    jsonUrl jwsUrl htmlUrl pdfUrl
"""
CREATE_EXTRACT = f"""
mutation($d: ID!, $l: String!) {{
  createExtract(diplomaId: $d, language: $l) {{ {EXTRACT_FIELDS} }}
}}
"""
CREATE_LINK = """
mutation($e: ID!, $days: Int!) {
  createShareLink(extractId: $e, expiresInDays: $days) {
    url qrSvgDataUri shareLink { id extractId expiresAt expired revoked accessCount }
  }
}
"""
SHARE_LINKS = """
{ viewer { shareLinks { id extractId expired revoked accessCount
  accesses { at country verified result } } } }
"""


async def add_diploma(db: AsyncSession, person_id: uuid.UUID) -> uuid.UUID:
    """A university diploma with three graded courses (names beyond Latin-1 included)."""
    diploma_id = uuid.uuid4()
    await db.execute(
        insert(Diploma),
        [
            {
                "id": diploma_id,
                "person_id": person_id,
                "institution": "Technische Universiteit Delft",
                "programme": "MSc Computer Science",
                "programme_code": "60300",
                "level": EducationLevel.WO,
                "awarded_on": date(2019, 7, 10),
            }
        ],
    )
    await db.execute(
        insert(DiplomaResult),
        [
            {
                "id": uuid.uuid4(),
                "diploma_id": diploma_id,
                "position": i,
                "subject": subject,
                "grade": grade,
                "credits": credits,
            }
            for i, (subject, grade, credits) in enumerate(
                [("Algorithms", "8.5", 6), ("Distributed Systems", "7.0", 5), ("Thesis", "9.0", 45)]
            )
        ],
    )
    await db.flush()
    return diploma_id


async def holder(
    client: httpx.AsyncClient, db: AsyncSession, **person: Any
) -> tuple[uuid.UUID, uuid.UUID]:
    """A signed-in person with one diploma: (person id, diploma id)."""
    bundle = await add_person(db, **person)
    person_id = bundle.person["id"]
    diploma_id = await add_diploma(db, person_id)
    await sign_in(client, db, person_id)
    return person_id, diploma_id


async def create_extract(
    client: httpx.AsyncClient, diploma_id: uuid.UUID | str, language: str = "en"
) -> dict[str, Any]:
    body = await gql(client, CREATE_EXTRACT, {"d": str(diploma_id), "l": language})
    assert "errors" not in body, body
    extract: dict[str, Any] = body["data"]["createExtract"]
    return extract


async def fetch_jws(client: httpx.AsyncClient, extract_id: str) -> str:
    response = await client.get(f"/extracts/{extract_id}.jws")
    assert response.status_code == 200, response.text
    return response.text


async def verify(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.post("/extracts/verify", json={"jws": token})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def pyjwt_decode(
    token: str, jwks: dict[str, Any], require: tuple[str, ...] = ("iss", "iat", "jti")
) -> dict[str, Any]:
    """Verify with PyJWT, given only the published JWKS (no code of ours involved)."""
    kid = jwt.get_unverified_header(token)["kid"]
    [jwk] = [k for k in jwks["keys"] if k["kid"] == kid]
    key = jwt.PyJWK(jwk)
    payload: dict[str, Any] = jwt.decode(
        token, key=key.key, algorithms=["ES256"], options={"require": list(require)}
    )
    return payload


def flip(token: str, position: int) -> str:
    """The token with one character changed to another base64url character."""
    replacement = "A" if token[position] != "A" else "B"
    return token[:position] + replacement + token[position + 1 :]


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True)
