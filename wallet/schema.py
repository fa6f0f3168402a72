"""GraphQL for wallets: the signed-in person's "Add to wallet" (a credential offer)."""

from __future__ import annotations

from datetime import datetime

import segno
import strawberry
from strawberry.types import Info

from api.context import RequestContext
from api.ids import parse_uuid
from wallet import service

Ctx = Info[RequestContext, None]


@strawberry.type(description="A credential offer for a wallet app (OpenID4VCI); shown once.")
class WalletOffer:
    id: strawberry.ID
    diploma_id: strawberry.ID
    offer_uri: str = strawberry.field(
        description="openid-credential-offer://… for a wallet on this device (a link)."
    )
    qr_svg_data_uri: str = strawberry.field(description="The same offer as a QR code (SVG).")
    tx_code: str = strawberry.field(description="The code the wallet asks for; never in the QR.")
    expires_at: datetime


@strawberry.type
class WalletMutation:
    @strawberry.mutation(
        description="Offer one of the viewer's diplomas to a wallet: 10 minutes, single use."
    )
    async def create_wallet_offer(self, info: Ctx, diploma_id: strawberry.ID) -> WalletOffer:
        ctx = info.context
        created = await ctx.write(
            service.create_offer,
            ctx.person_id(),
            parse_uuid(diploma_id, field="diplomaId"),
            secret_key=ctx.settings.secret_key,
            credential_issuer=ctx.settings.public_origin,
            meta=ctx.meta(),
        )
        return WalletOffer(
            id=strawberry.ID(str(created.offer.id)),
            diploma_id=strawberry.ID(str(created.offer.diploma_id)),
            offer_uri=created.offer_uri,
            qr_svg_data_uri=segno.make(created.offer_uri, error="m").svg_data_uri(scale=4),
            tx_code=created.tx_code,
            expires_at=created.offer.expires_at,
        )
