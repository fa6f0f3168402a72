"""Keyset pagination shared by every list that can grow (inbox, deadlines, …)."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from api.errors import InvalidInput

T = TypeVar("T")
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(moment: datetime, row_id: uuid.UUID) -> str:
    raw = f"{moment.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (moment, id) an endCursor holds; anything else, hand-made or altered, is refused.

    encode_cursor writes aware moments: a naive one, or one that leaves the datetime range in
    UTC (year 1 or 9999 with an offset), could not be compared with the UTC columns.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment_text, id_text = base64.urlsafe_b64decode(padded).decode().split("|", 1)
        moment, row_id = datetime.fromisoformat(moment_text), uuid.UUID(id_text)
        if moment.utcoffset() is None:
            raise ValueError("a cursor's moment has an offset")
        return moment.astimezone(UTC), row_id
    except (ValueError, OverflowError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidInput("This cursor is not valid.", field="after") from exc


def check_page_size(first: int) -> None:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise InvalidInput(f"first must be between 1 and {MAX_PAGE_SIZE}.", field="first")


async def paginate(
    db: AsyncSession,
    stmt: Select[Any],
    *,
    order_column: InstrumentedAttribute[datetime],
    id_column: InstrumentedAttribute[uuid.UUID],
    first: int,
    after: str | None,
    descending: bool,
) -> Page[Any]:
    """Fetch one page ordered by (order_column, id); fetches one extra row to know if more exist."""
    check_page_size(first)
    if after is not None:
        moment, row_id = decode_cursor(after)
        condition: ColumnElement[bool]
        if descending:
            condition = or_(order_column < moment, and_(order_column == moment, id_column < row_id))
        else:
            condition = or_(order_column > moment, and_(order_column == moment, id_column > row_id))
        stmt = stmt.where(condition)
    if descending:
        stmt = stmt.order_by(order_column.desc(), id_column.desc())
    else:
        stmt = stmt.order_by(order_column.asc(), id_column.asc())
    rows = list((await db.scalars(stmt.limit(first + 1))).all())
    has_next = len(rows) > first
    rows = rows[:first]
    end_cursor = None
    if rows:
        last = rows[-1]
        end_cursor = encode_cursor(getattr(last, order_column.key), getattr(last, id_column.key))
    return Page(items=rows, has_next_page=has_next, end_cursor=end_cursor)
