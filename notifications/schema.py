"""GraphQL types for the inbox and for push: devices, reminder preferences, reminders, test push."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import strawberry
from strawberry.types import Info

from api.context import RequestContext
from api.errors import InvalidInput
from api.ids import parse_uuid
from auth.ratelimit import Limit, enforce
from notifications import messages, models, preferences, service, subscriptions
from notifications.reminders import QuietHours as QuietWindow
from notifications.runtime import PushRuntime
from notifications.sender import Outcome, PushSender
from records import models as record_models
from records.schema import DeadlineKind

Ctx = Info[RequestContext, None]
# A test push is a person pressing a button; more than this is a script.
TEST_PUSH_LIMIT = Limit("push-test", 10, 10 * 60)


@strawberry.enum
class MessageKind(Enum):
    INFO = "info"
    SECURITY = "security"
    REMINDER = "reminder"
    FORM_STATUS = "form_status"


@strawberry.type
class InboxMessage:
    id: strawberry.ID
    kind: MessageKind
    subject: str
    body: str
    created_at: datetime
    read: bool

    @classmethod
    def from_model(cls, row: models.InboxMessage, language: str) -> InboxMessage:
        """In the reader's language now, whatever it was when the message was sent."""
        text = messages.render(row.text_key, row.params, language)
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=MessageKind(row.kind.value),
            subject=text.title if text else row.subject,
            body=text.body if text else row.body,
            created_at=row.created_at,
            read=row.read_at is not None,
        )


@strawberry.type(description="A browser or device that receives push notifications.")
class PushDevice:
    id: strawberry.ID
    name: str | None = strawberry.field(description="Given at subscription, or from the browser.")
    push_service: str = strawberry.field(description="Host name of the browser's push service.")
    created_at: datetime
    last_seen_at: datetime = strawberry.field(description="The app last refreshed it then.")
    expires_at: datetime | None
    endpoint_hash: str = strawberry.field(
        description="Hex SHA-256 of the push endpoint: the app finds its own device by hashing "
        "its subscription's endpoint, without the endpoint (a bearer URL) being sent back."
    )

    @classmethod
    def from_model(cls, row: models.PushSubscription) -> PushDevice:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.device_name,
            push_service=urlsplit(row.endpoint).hostname or "",
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            endpoint_hash=hashlib.sha256(row.endpoint.encode()).hexdigest(),
        )


@strawberry.type(description="A daily window, in local time, without notifications.")
class QuietHours:
    start: time
    end: time


@strawberry.type(description="When and how the person is reminded of deadlines.")
class ReminderPreferences:
    kinds: list[DeadlineKind] = strawberry.field(description="Kinds of deadline reminded of.")
    offsets_days: list[int] = strawberry.field(description="Days before a deadline, largest first.")
    quiet_hours: QuietHours | None = strawberry.field(
        description="Reminders due in this window wait until it ends; null: none."
    )
    time_zone: str = strawberry.field(description="IANA zone the reminders are planned in.")
    time_zone_follows_profile: bool
    language: str = strawberry.field(description="'en' or 'nl'.")
    language_follows_profile: bool

    @classmethod
    def from_effective(cls, prefs: preferences.EffectivePreferences) -> ReminderPreferences:
        quiet = prefs.quiet_hours
        return cls(
            kinds=sorted((DeadlineKind(k.value) for k in prefs.kinds), key=lambda k: k.value),
            offsets_days=list(prefs.offsets_days),
            quiet_hours=QuietHours(start=quiet.start, end=quiet.end) if quiet else None,
            time_zone=prefs.time_zone,
            time_zone_follows_profile=prefs.time_zone_override is None,
            language=prefs.language,
            language_follows_profile=prefs.language_override is None,
        )


@strawberry.enum
class DeliveryStatus(Enum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    GONE = "gone"
    REJECTED = "rejected"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@strawberry.type(description="How a reminder fared on one device.")
class PushDelivery:
    device_name: str | None
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None = strawberry.field(description="The push service's answer.")
    updated_at: datetime
    delivered_at: datetime | None


@strawberry.type(description="A deadline reminder: an inbox message, pushed to every device.")
class Reminder:
    id: strawberry.ID
    deadline_id: strawberry.ID
    message_id: strawberry.ID | None = strawberry.field(description="Its inbox message.")
    offset_days: int
    due_at: datetime = strawberry.field(description="When it was due (quiet hours applied).")
    deadline_at: datetime
    created_at: datetime
    deliveries: list[PushDelivery]

    @classmethod
    def from_model(cls, row: models.Reminder) -> Reminder:
        return cls(
            id=strawberry.ID(str(row.id)),
            deadline_id=strawberry.ID(str(row.deadline_id)),
            message_id=strawberry.ID(str(row.inbox_message_id)) if row.inbox_message_id else None,
            offset_days=row.offset_days,
            due_at=row.due_at,
            deadline_at=row.deadline_at,
            created_at=row.created_at,
            deliveries=[
                PushDelivery(
                    device_name=d.device_name,
                    status=DeliveryStatus(d.status.value),
                    attempts=d.attempts,
                    last_status_code=d.last_status_code,
                    updated_at=d.updated_at,
                    delivered_at=d.delivered_at,
                )
                for d in row.deliveries
            ],
        )


@strawberry.enum
class PushTestOutcome(Enum):
    DELIVERED = "delivered"
    DEVICE_GONE = "gone"  # the push service no longer knows this device: subscribe again
    RATE_LIMITED = "rate_limited"
    SERVICE_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    REJECTED = "rejected"


@strawberry.type(description="What happened to a test push (push health).")
class PushTestResult:
    delivered: bool = strawberry.field(description="The push service accepted it.")
    outcome: PushTestOutcome
    status_code: int | None
    tag: str = strawberry.field(
        description="The notification's tag: the service worker can confirm it arrived."
    )
    sent_at: datetime
    device_name: str | None


_OUTCOMES = {
    "delivered": PushTestOutcome.DELIVERED,
    "gone": PushTestOutcome.DEVICE_GONE,
    "rate_limited": PushTestOutcome.RATE_LIMITED,
    "server_error": PushTestOutcome.SERVICE_ERROR,
    "timeout": PushTestOutcome.TIMEOUT,
    "connection_error": PushTestOutcome.CONNECTION_ERROR,
}


@strawberry.input
class PushKeysInput:
    p256dh: str
    auth: str


@strawberry.input(description="PushSubscription.toJSON() as the browser gives it.")
class PushSubscriptionInput:
    endpoint: str
    keys: PushKeysInput
    expiration_time: float | None = strawberry.field(
        default=None, description="Milliseconds since the epoch, as in toJSON()."
    )
    device_name: str | None = strawberry.field(
        default=None, description="A name for the list of devices; default: from the browser."
    )


@strawberry.input
class QuietHoursInput:
    start: time
    end: time


@strawberry.input(description="Omitted fields stay as they are.")
class ReminderPreferencesInput:
    kinds: list[DeadlineKind] | None = strawberry.UNSET
    offsets_days: list[int] | None = strawberry.field(
        default=strawberry.UNSET, description="1 to 5 values between 1 and 60, e.g. [14, 3, 1]."
    )
    quiet_hours: QuietHoursInput | None = strawberry.field(
        default=strawberry.UNSET, description="null: no quiet hours."
    )
    time_zone: str | None = strawberry.field(
        default=strawberry.UNSET, description="IANA name; null: follow the profile's time zone."
    )
    language: str | None = strawberry.field(
        default=strawberry.UNSET, description="'en' or 'nl'; null: follow the profile."
    )


def runtime(ctx: RequestContext) -> PushRuntime:
    request = ctx.request
    push = request.app.state.get("push") if request is not None else None
    if not isinstance(push, PushRuntime):
        raise RuntimeError("the app was built without push (app.state['push'])")
    return push


async def _sender(ctx: RequestContext) -> PushSender:
    # Made at server start; built lazily elsewhere, in a session of its own. The request's
    # lock keeps that session from interleaving with the request's (one connection in tests).
    async with ctx.db_lock:
        return await runtime(ctx).sender()


async def _public_key(ctx: RequestContext) -> str:
    async with ctx.db_lock:
        return (await runtime(ctx).keys()).public_key


def _device(ctx: RequestContext, id: strawberry.ID | None, endpoint: str | None) -> dict[str, Any]:
    # An empty value names no device: "" is as absent as null (one of the two, never both).
    id = id if id is None or str(id).strip() else None
    endpoint = endpoint if endpoint is None or endpoint.strip() else None
    if (id is None) == (endpoint is None):
        raise InvalidInput("Give either id or endpoint.", field="id")
    return {"subscription_id": parse_uuid(id) if id is not None else None, "endpoint": endpoint}


@strawberry.type
class PushFields:
    """Fields of Viewer contributed by push notifications (Viewer inherits them)."""

    @strawberry.field(
        description="The VAPID public key (base64url): PushManager.subscribe's "
        "applicationServerKey."
    )
    async def push_public_key(self, info: Ctx) -> str:
        info.context.person_id()
        return await _public_key(info.context)

    @strawberry.field(description="Devices that receive push notifications, most recent first.")
    async def push_devices(self, info: Ctx) -> list[PushDevice]:
        ctx = info.context
        rows = await ctx.read(subscriptions.list_subscriptions, ctx.person_id())
        return [PushDevice.from_model(r) for r in rows]

    @strawberry.field
    async def reminder_preferences(self, info: Ctx) -> ReminderPreferences:
        ctx = info.context
        prefs = await ctx.read(preferences.get_preferences, ctx.person_id())
        return ReminderPreferences.from_effective(prefs)

    @strawberry.field(description="Recent deadline reminders with their delivery per device.")
    async def reminders(self, info: Ctx, first: int = 20) -> list[Reminder]:
        ctx = info.context
        rows = await ctx.read(service.list_reminders, ctx.person_id(), first=first)
        return [Reminder.from_model(r) for r in rows]


@strawberry.type
class PushMutation:
    @strawberry.mutation(
        description="Add or refresh this device's push subscription; call it on every app start "
        "and on pushsubscriptionchange."
    )
    async def subscribe_push(self, info: Ctx, input: PushSubscriptionInput) -> PushDevice:
        ctx = info.context
        expires = None
        if input.expiration_time is not None:
            try:
                expires = datetime.fromtimestamp(input.expiration_time / 1000, tz=UTC)
            except (OverflowError, OSError, ValueError) as exc:
                raise InvalidInput("expirationTime is not a time.", field="expirationTime") from exc
        request = ctx.request
        row = await ctx.write(
            subscriptions.subscribe,
            ctx.person_id(),
            settings=ctx.settings,
            endpoint=input.endpoint,
            p256dh=input.keys.p256dh,
            auth=input.keys.auth,
            device_name=input.device_name,
            user_agent=request.headers.get("user-agent") if request is not None else None,
            expires_at=expires,
        )
        return PushDevice.from_model(row)

    @strawberry.mutation(
        description="Stop pushing to a device: by id (from pushDevices) or endpoint."
    )
    async def unsubscribe_push(
        self, info: Ctx, id: strawberry.ID | None = None, endpoint: str | None = None
    ) -> bool:
        ctx = info.context
        await ctx.write(subscriptions.unsubscribe, ctx.person_id(), **_device(ctx, id, endpoint))
        return True

    @strawberry.mutation
    async def update_reminder_preferences(
        self, info: Ctx, input: ReminderPreferencesInput
    ) -> ReminderPreferences:
        ctx = info.context
        changes: dict[str, Any] = {}
        if input.kinds is not strawberry.UNSET and input.kinds is not None:
            changes["kinds"] = [record_models.DeadlineKind(k.value) for k in input.kinds]
        if input.offsets_days is not strawberry.UNSET and input.offsets_days is not None:
            changes["offsets_days"] = input.offsets_days
        if input.quiet_hours is not strawberry.UNSET:
            quiet = input.quiet_hours
            changes["quiet_hours"] = QuietWindow(quiet.start, quiet.end) if quiet else None
        if input.time_zone is not strawberry.UNSET:
            changes["time_zone"] = input.time_zone
        if input.language is not strawberry.UNSET:
            changes["language"] = input.language
        prefs = await ctx.write(preferences.update_preferences, ctx.person_id(), **changes)
        return ReminderPreferences.from_effective(prefs)

    @strawberry.mutation(
        description="Push a test notification to one of your devices now and say how it went."
    )
    async def send_test_push(
        self, info: Ctx, id: strawberry.ID | None = None, endpoint: str | None = None
    ) -> PushTestResult:
        ctx = info.context
        person_id = ctx.person_id()
        device = _device(ctx, id, endpoint)
        if ctx.request is not None:
            await enforce(ctx.request.app.state["rate_limiter"], TEST_PUSH_LIMIT, str(person_id))
        sender = await _sender(ctx)
        check = await ctx.write(service.send_test_push, person_id, sender=sender, **device)
        result = check.result
        return PushTestResult(
            delivered=result.outcome is Outcome.DELIVERED,
            outcome=_OUTCOMES.get(result.reason, PushTestOutcome.REJECTED),
            status_code=result.status_code,
            tag=check.tag,
            sent_at=check.sent_at,
            device_name=check.device_name,
        )
