"""The one shape of every paginated list in the GraphQL API: `{ nodes, pageInfo { hasNextPage
endCursor } }` (Relay's connection, without edges: no client of ours needs per-edge cursors).
Feature schemas return `Connection[TheirType]`; Strawberry names it `TheirTypeConnection`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from api.pagination import Page

T = TypeVar("T")
R = TypeVar("R")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Connection(Generic[T]):
    nodes: list[T]
    page_info: PageInfo


def connection(page: Page[R], convert: Callable[[R], T]) -> Connection[T]:
    return Connection(
        nodes=[convert(item) for item in page.items],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )
