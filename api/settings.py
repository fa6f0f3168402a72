"""Runtime settings: one frozen object, read from the environment by one function."""

from __future__ import annotations

import ipaddress
import math
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

Environment = Literal["development", "test", "production"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'duo-abroad.sqlite3'}"
# Anyone can read this value in the repository: it is only acceptable where no real data lives.
INSECURE_DEV_SECRET = "dev-only-insecure-secret-change-me"  # noqa: S105


class SettingsError(ValueError):
    """The environment does not describe a runnable configuration."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the app reads from its environment; built once, passed to create_app."""

    environment: Environment = "development"
    database_url: str = DEFAULT_DATABASE_URL
    # Public origin the browser sees; WebAuthn's RP ID and origin checks derive from it,
    # never from request headers (a proxy or attacker controls those).
    public_origin: str = "http://localhost:8000"
    # DUO staff's back office (staff/): its own origin when it has its own host (its own
    # WebAuthn RP ID and cookies); unset, it is PUBLIC_ORIGIN with the UI under /staff/.
    staff_origin: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: str = field(default=INSECURE_DEV_SECRET, repr=False)
    redis_url: str | None = None
    # Nothing waits forever (issue #12): a partitioned database or Redis answers 503 in
    # seconds. Connect: TCP and the PostgreSQL handshake. Statement: PostgreSQL cancels a
    # statement running longer (server side). Command: the client stops waiting for an answer
    # (a little longer, so a slow statement ends with the server's own error). Pool: waiting
    # for a free connection. Ready: the whole readiness probe.
    database_connect_timeout_seconds: float = 2.0
    database_statement_timeout_seconds: float = 4.0
    database_command_timeout_seconds: float = 5.0
    database_pool_timeout_seconds: float = 3.0
    redis_timeout_seconds: float = 1.0
    ready_timeout_seconds: float = 2.0
    session_idle_timeout: timedelta = timedelta(minutes=30)
    session_absolute_timeout: timedelta = timedelta(hours=12)
    max_request_bytes: int = 1_000_000
    graphql_max_depth: int = 10
    graphql_max_aliases: int = 15
    graphql_max_tokens: int = 2_000
    # Ad-hoc GraphQL documents (not in graphql/operations/) are refused unless this is set;
    # development turns it on so the IDE and introspection work.
    allow_adhoc_queries: bool = False
    log_level: str = "INFO"
    log_json: bool = True
    sql_echo: bool = False
    # Diploma extracts (extracts/): the issuer's private JWKs as a JSON array, newest first.
    # Unset outside production means a key generated on first run and kept in the database.
    extract_signing_keys: str | None = field(default=None, repr=False)
    extract_issuer: str | None = None  # the `iss` of extracts; PUBLIC_ORIGIN when unset
    extract_valid_days: int = 365  # 0: extracts never expire
    # Forms (forms/): attachment bytes live here, never in the database.
    forms_attachment_dir: Path = PROJECT_ROOT / "var" / "attachments"
    forms_attachment_max_bytes: int = 10 * 1024 * 1024
    # The chunk route's own body limit (the app-wide MAX_REQUEST_BYTES stays at 1 MB).
    forms_upload_chunk_bytes: int = 2 * 1024 * 1024
    # A form version stays accepted this long after its successor is published.
    forms_grace_period: timedelta = timedelta(days=90)
    # Access requests (access/): the liveness video's size cap (the identity document has the
    # attachments' cap), and how long an approval waits for its passkey.
    access_video_max_bytes: int = 20 * 1024 * 1024
    access_approval_validity: timedelta = timedelta(days=30)
    # Record imports uploaded by staff (records/imports/): the files and their reports.
    import_dir: Path = PROJECT_ROOT / "var" / "imports"
    import_max_bytes: int = 2 * 1024**3
    # The catalogue's definition files; None: the built-in forms/catalogue/ (the package's).
    forms_catalogue_dir: Path | None = None
    # Web Push (notifications/). The VAPID key pair browsers' subscriptions are bound to:
    # required in production; elsewhere generated once and kept in the database.
    vapid_private_key: str | None = field(default=None, repr=False)
    vapid_subject: str | None = None  # mailto: or https: contact for push services (RFC 8292)
    # Hosts push endpoints may point at; empty: the browsers' push services in production,
    # any host elsewhere (tests run a local receiver).
    push_allowed_hosts: tuple[str, ...] = ()
    push_concurrency: int = 64  # requests in flight per process
    push_timeout_seconds: float = 10.0
    push_max_attempts: int = 6  # then a delivery is recorded as failed
    push_retry_base_seconds: float = 30.0  # backoff: base, 2 x base, 4 x base ... up to the cap
    push_retry_cap_seconds: float = 3600.0
    # Proxies whose X-Forwarded-For is believed (api.clientip); None: the environment's default,
    # loopback in development and test, none in production.
    trusted_proxies: tuple[Network, ...] | None = None
    # A worker holds the deliveries it claimed this long, renewed every third of it while it
    # lives; another worker takes over a dead one's deliveries about this long after it died.
    push_lease_seconds: float = 30.0
    # GET /metrics answers only `Authorization: Bearer <this>`; unset: 404 (api/scrape.py).
    metrics_token: str | None = field(default=None, repr=False)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        if self.trusted_proxies is not None:
            return self.trusted_proxies
        return () if self.is_production else LOOPBACK

    @property
    def rp_id(self) -> str:
        host = urlsplit(self.public_origin).hostname
        if not host:
            raise SettingsError(f"PUBLIC_ORIGIN has no host: {self.public_origin!r}")
        return host

    @property
    def staff_public_origin(self) -> str:
        """Where staff pages live: STAFF_ORIGIN, or PUBLIC_ORIGIN when it is not set."""
        return self.staff_origin or self.public_origin

    @property
    def staff_rp_id(self) -> str:
        host = urlsplit(self.staff_public_origin).hostname
        if not host:
            raise SettingsError(f"STAFF_ORIGIN has no host: {self.staff_public_origin!r}")
        return host

    @property
    def staff_has_own_host(self) -> bool:
        return self.staff_public_origin != self.public_origin

    @property
    def staff_secure_cookies(self) -> bool:
        return urlsplit(self.staff_public_origin).scheme == "https"

    @property
    def secure_cookies(self) -> bool:
        # Browsers treat http://localhost as a secure context but do not send Secure cookies
        # over plain http, so Secure is required everywhere except a local http origin.
        return urlsplit(self.public_origin).scheme == "https"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"not a boolean: {value!r}")


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {value!r}") from exc


def _signing_keys(env: Mapping[str, str]) -> str | None:
    if env.get("EXTRACT_SIGNING_KEYS"):
        return env["EXTRACT_SIGNING_KEYS"]
    path = env.get("EXTRACT_SIGNING_KEYS_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"EXTRACT_SIGNING_KEYS_FILE cannot be read: {exc}") from exc


def _float(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {value!r}") from exc


def _networks(value: str | None) -> tuple[Network, ...] | None:
    if value is None:
        return None
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise SettingsError(
                f"TRUSTED_PROXIES: {item!r} is not an IP address or CIDR network"
            ) from exc
    return tuple(networks)


def _hosts(value: str) -> tuple[str, ...]:
    return tuple(h.strip().lower() for h in value.split(",") if h.strip())


_TIMEOUTS = {
    "DATABASE_CONNECT_TIMEOUT_SECONDS": "database_connect_timeout_seconds",
    "DATABASE_STATEMENT_TIMEOUT_SECONDS": "database_statement_timeout_seconds",
    "DATABASE_COMMAND_TIMEOUT_SECONDS": "database_command_timeout_seconds",
    "DATABASE_POOL_TIMEOUT_SECONDS": "database_pool_timeout_seconds",
    "REDIS_TIMEOUT_SECONDS": "redis_timeout_seconds",
    "READY_TIMEOUT_SECONDS": "ready_timeout_seconds",
}


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    return _float(name, env[name]) if env.get(name) else float(default)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from environment variables (see the README's table)."""
    env = os.environ if environ is None else environ
    environment = env.get("DUO_ENV", "development")
    if environment not in ("development", "test", "production"):
        raise SettingsError(f"DUO_ENV must be development, test or production, got {environment!r}")
    dev = environment == "development"
    port = _int("PORT", env.get("PORT", "8000"))
    settings = Settings(
        environment=environment,  # type: ignore[arg-type]
        database_url=env.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        public_origin=env.get("PUBLIC_ORIGIN", f"http://localhost:{port}").rstrip("/"),
        staff_origin=env.get("STAFF_ORIGIN", "").rstrip("/") or None,
        host=env.get("HOST", "127.0.0.1"),
        port=port,
        secret_key=env.get("SECRET_KEY", INSECURE_DEV_SECRET),
        redis_url=env.get("REDIS_URL") or None,
        database_connect_timeout_seconds=_seconds(env, "DATABASE_CONNECT_TIMEOUT_SECONDS", 2),
        database_statement_timeout_seconds=_seconds(env, "DATABASE_STATEMENT_TIMEOUT_SECONDS", 4),
        database_command_timeout_seconds=_seconds(env, "DATABASE_COMMAND_TIMEOUT_SECONDS", 5),
        database_pool_timeout_seconds=_seconds(env, "DATABASE_POOL_TIMEOUT_SECONDS", 3),
        redis_timeout_seconds=_seconds(env, "REDIS_TIMEOUT_SECONDS", 1),
        ready_timeout_seconds=_seconds(env, "READY_TIMEOUT_SECONDS", 2),
        session_idle_timeout=timedelta(
            minutes=_int("SESSION_IDLE_MINUTES", env.get("SESSION_IDLE_MINUTES", "30"))
        ),
        session_absolute_timeout=timedelta(
            hours=_int("SESSION_ABSOLUTE_HOURS", env.get("SESSION_ABSOLUTE_HOURS", "12"))
        ),
        max_request_bytes=_int("MAX_REQUEST_BYTES", env.get("MAX_REQUEST_BYTES", "1000000")),
        allow_adhoc_queries=_flag(env.get("GRAPHQL_ADHOC", "1" if dev else "0")),
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        log_json=_flag(env.get("LOG_JSON", "0" if dev else "1")),
        sql_echo=_flag(env.get("SQL_ECHO", "0")),
        extract_signing_keys=_signing_keys(env),
        extract_issuer=env.get("EXTRACT_ISSUER") or None,
        extract_valid_days=_int("EXTRACT_VALID_DAYS", env.get("EXTRACT_VALID_DAYS", "365")),
        forms_attachment_dir=Path(
            env.get("FORMS_ATTACHMENT_DIR") or PROJECT_ROOT / "var" / "attachments"
        ),
        forms_attachment_max_bytes=_int(
            "FORMS_ATTACHMENT_MAX_BYTES", env.get("FORMS_ATTACHMENT_MAX_BYTES", str(10 * 1024**2))
        ),
        forms_upload_chunk_bytes=_int(
            "FORMS_UPLOAD_CHUNK_BYTES", env.get("FORMS_UPLOAD_CHUNK_BYTES", str(2 * 1024**2))
        ),
        forms_grace_period=timedelta(
            days=_int("FORMS_GRACE_DAYS", env.get("FORMS_GRACE_DAYS", "90"))
        ),
        access_video_max_bytes=_int(
            "ACCESS_VIDEO_MAX_BYTES", env.get("ACCESS_VIDEO_MAX_BYTES", str(20 * 1024**2))
        ),
        access_approval_validity=timedelta(
            days=_int("ACCESS_APPROVAL_DAYS", env.get("ACCESS_APPROVAL_DAYS", "30"))
        ),
        import_dir=Path(env.get("IMPORT_DIR") or PROJECT_ROOT / "var" / "imports"),
        import_max_bytes=_int("IMPORT_MAX_BYTES", env.get("IMPORT_MAX_BYTES", str(2 * 1024**3))),
        forms_catalogue_dir=Path(env["FORMS_CATALOGUE_DIR"])
        if env.get("FORMS_CATALOGUE_DIR")
        else None,
        vapid_private_key=env.get("VAPID_PRIVATE_KEY") or None,
        vapid_subject=env.get("VAPID_SUBJECT") or None,
        push_allowed_hosts=_hosts(env.get("PUSH_ALLOWED_HOSTS", "")),
        push_concurrency=_int("PUSH_CONCURRENCY", env.get("PUSH_CONCURRENCY", "64")),
        push_timeout_seconds=_float("PUSH_TIMEOUT_SECONDS", env.get("PUSH_TIMEOUT_SECONDS", "10")),
        push_max_attempts=_int("PUSH_MAX_ATTEMPTS", env.get("PUSH_MAX_ATTEMPTS", "6")),
        push_retry_base_seconds=_float(
            "PUSH_RETRY_BASE_SECONDS", env.get("PUSH_RETRY_BASE_SECONDS", "30")
        ),
        push_retry_cap_seconds=_float(
            "PUSH_RETRY_CAP_SECONDS", env.get("PUSH_RETRY_CAP_SECONDS", "3600")
        ),
        trusted_proxies=_networks(env.get("TRUSTED_PROXIES")),
        push_lease_seconds=_float("PUSH_LEASE_SECONDS", env.get("PUSH_LEASE_SECONDS", "30")),
        metrics_token=env.get("METRICS_TOKEN") or None,
    )
    validate_settings(settings)
    return settings


# NIST SP 800-131A / 800-57: 128 bits is the least security strength for a key in use today.
MIN_SECRET_BITS = 128


def estimated_entropy_bits(secret: str) -> float:
    """A deliberately simple, conservative estimate of how many random bits a secret holds.

    The secret's shortest repeating unit (KMP prefix function: "abcabcab" repeats "abc")
    times the Shannon entropy of that unit's character frequencies: one repeated character is
    0 bits, a small alphabet counts little per character, and 43 characters from
    `secrets.token_urlsafe(32)` count about 210 bits. (No password-strength library: this is
    about keys made by a machine, where these two shortcomings are the ones seen in practice.)
    """
    if not secret:
        return 0.0
    prefix = [0] * len(secret)
    for i in range(1, len(secret)):
        k = prefix[i - 1]
        while k and secret[i] != secret[k]:
            k = prefix[k - 1]
        prefix[i] = k + (secret[i] == secret[k])
    unit = secret[: len(secret) - prefix[-1]]
    counts = Counter(unit).values()
    per_character = -sum(c / len(unit) * math.log2(c / len(unit)) for c in counts)
    return per_character * len(unit)


def validate_settings(settings: Settings) -> None:
    """Refuse configurations that would be unsafe or cannot work."""
    settings.rp_id  # noqa: B018 - raises on an origin without a host
    settings.staff_rp_id  # noqa: B018
    staff = urlsplit(settings.staff_public_origin)
    if staff.path not in ("", "/") or staff.query or staff.fragment:
        raise SettingsError("STAFF_ORIGIN must be an origin (scheme://host[:port]), without a path")
    # Checked here, not where the engine and the Redis client are made: one line, not a
    # traceback from deep inside SQLAlchemy or redis-py.
    if not settings.database_url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        raise SettingsError(
            "DATABASE_URL must be postgresql+asyncpg://user:password@host/database "
            "(or sqlite+aiosqlite:///path outside production)"
        )
    if settings.redis_url and not settings.redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise SettingsError("REDIS_URL must be a redis://, rediss:// or unix:// URL")
    if settings.extract_valid_days < 0:
        raise SettingsError("EXTRACT_VALID_DAYS must be 0 (no expiry) or more")
    if settings.forms_attachment_max_bytes < 1:
        raise SettingsError("FORMS_ATTACHMENT_MAX_BYTES must be positive")
    if settings.forms_upload_chunk_bytes < 64 * 1024:
        raise SettingsError("FORMS_UPLOAD_CHUNK_BYTES must be at least 65536")
    if settings.forms_grace_period < timedelta(0):
        raise SettingsError("FORMS_GRACE_DAYS must be 0 or more")
    if settings.access_video_max_bytes < 64 * 1024:
        raise SettingsError("ACCESS_VIDEO_MAX_BYTES must be at least 65536")
    if settings.access_approval_validity < timedelta(days=1):
        raise SettingsError("ACCESS_APPROVAL_DAYS must be at least 1")
    if settings.import_max_bytes < 1:
        raise SettingsError("IMPORT_MAX_BYTES must be positive")
    if settings.forms_catalogue_dir is not None and not settings.forms_catalogue_dir.is_dir():
        raise SettingsError(
            f"FORMS_CATALOGUE_DIR is not a directory: {settings.forms_catalogue_dir}"
        )
    _validate_push(settings)
    for variable, attribute in _TIMEOUTS.items():
        if not getattr(settings, attribute) > 0:
            raise SettingsError(f"{variable} must be a positive number of seconds")
    if settings.database_command_timeout_seconds < settings.database_statement_timeout_seconds:
        raise SettingsError(
            "DATABASE_COMMAND_TIMEOUT_SECONDS must not be below DATABASE_STATEMENT_TIMEOUT_SECONDS"
        )
    if settings.is_production:
        problems = []
        if settings.secret_key == INSECURE_DEV_SECRET or len(settings.secret_key) < 32:
            problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
        elif estimated_entropy_bits(settings.secret_key) < MIN_SECRET_BITS:
            problems.append(
                f"SECRET_KEY looks far from random (under {MIN_SECRET_BITS} bits by estimate: "
                "repeated or few distinct characters); make one with "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        if settings.is_sqlite:
            problems.append(
                "DATABASE_URL must be PostgreSQL (postgresql+asyncpg://…): the embedded SQLite "
                "database is for one process on one machine, not for production"
            )
        if not settings.public_origin.startswith("https://"):
            problems.append("PUBLIC_ORIGIN must be an https:// origin")
        if not settings.staff_public_origin.startswith("https://"):
            problems.append("STAFF_ORIGIN must be an https:// origin")
        if settings.metrics_token is not None and len(settings.metrics_token) < 32:
            problems.append("METRICS_TOKEN must be at least 32 characters")
        if settings.allow_adhoc_queries:
            problems.append("GRAPHQL_ADHOC must be off: production serves only persisted queries")
        if problems:
            raise SettingsError("refusing to start in production: " + "; ".join(problems))


def _validate_push(settings: Settings) -> None:
    # Whether production has a VAPID key is checked where the key is used (notifications/vapid).
    if settings.push_concurrency < 1 or settings.push_max_attempts < 1:
        raise SettingsError("PUSH_CONCURRENCY and PUSH_MAX_ATTEMPTS must be at least 1")
    if settings.push_timeout_seconds <= 0 or settings.push_retry_base_seconds <= 0:
        raise SettingsError("PUSH_TIMEOUT_SECONDS and PUSH_RETRY_BASE_SECONDS must be positive")
    if settings.push_lease_seconds < 1:
        raise SettingsError("PUSH_LEASE_SECONDS must be at least 1")
    if settings.push_retry_cap_seconds < settings.push_retry_base_seconds:
        raise SettingsError("PUSH_RETRY_CAP_SECONDS must not be below PUSH_RETRY_BASE_SECONDS")
    if settings.vapid_subject and not settings.vapid_subject.startswith(("mailto:", "https://")):
        raise SettingsError("VAPID_SUBJECT must be a mailto: or https:// URL (RFC 8292)")
    if settings.is_production and "*" in settings.push_allowed_hosts:
        raise SettingsError(
            "refusing to start in production: PUSH_ALLOWED_HOSTS must name push services, not *"
        )
