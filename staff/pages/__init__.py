"""The staff UI's pages, one module per area, under one router with HTML error pages.

Another feature adds its staff pages by handing its handlers to `staff_router` (the
composition root does that), each guarded with staff.web.requires(role).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from api.errors import DomainError
from staff.pages import activation, admin, audit, core, extracts, forms, imports, persons
from staff.routes import StaffAuthController
from staff.web import (
    StaffAuthRequired,
    StaffForbidden,
    auth_required_page,
    domain_error_page,
    forbidden_page,
    unexpected_page,
)

STATIC_DIR = resources.files("staff") / "static"


def staff_router(extra: Sequence[Any] = ()) -> Router:
    """Every staff page under /staff, with the staff error pages (401, 403, 404, 409, 500, 503)."""
    return Router(
        path="/staff",
        route_handlers=[
            *core.route_handlers,
            *activation.route_handlers,
            *persons.route_handlers,
            *forms.route_handlers,
            *extracts.route_handlers,
            *audit.route_handlers,
            *admin.route_handlers,
            *imports.route_handlers,
            *extra,
        ],
        exception_handlers={
            StaffAuthRequired: auth_required_page,
            StaffForbidden: forbidden_page,
            DomainError: domain_error_page,
            # Outages (503) and bugs (500) as pages too; HTTPException keeps the app's handler.
            Exception: unexpected_page,
        },
        include_in_schema=False,
    )


def staff_route_handlers(extra: Sequence[Any] = ()) -> list[Any]:
    """The staff pages, their static files and the passkey ceremonies, for create_app."""
    static = create_static_files_router(
        path="/staff/static",
        directories=[str(STATIC_DIR)],
        include_in_schema=False,
        opt={"staff_public": True},
        # Revalidate every time: the names are not content-hashed (a few small files).
        cache_control=CacheControlHeader(no_cache=True),
    )
    return [staff_router(extra), StaffAuthController, static]
