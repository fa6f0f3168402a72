"""GraphQL mutations for the signed-in session (passkey ceremonies are REST, see routes)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from api.context import RequestContext
from auth import sessions
from auth.cookies import expired_session_cookie


@strawberry.type
class AuthMutation:
    @strawberry.mutation(description="End this session.")
    async def sign_out(self, info: Info[RequestContext, None]) -> bool:
        ctx = info.context
        ctx.person_id()
        if ctx.session_token:
            await ctx.write(sessions.end_session, token=ctx.session_token)
        if ctx.response is not None:
            ctx.response.set_cookie(expired_session_cookie(ctx.settings))
        return True

    @strawberry.mutation(description="End every session of this account, on every device.")
    async def sign_out_everywhere(self, info: Info[RequestContext, None]) -> int:
        ctx = info.context
        ended = await ctx.write(sessions.end_all_sessions, person_id=ctx.person_id())
        if ctx.response is not None:
            ctx.response.set_cookie(expired_session_cookie(ctx.settings))
        return ended
