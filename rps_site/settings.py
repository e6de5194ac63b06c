"""Settings for rps-django, read once from `RPS_*` environment variables.

With `RPS_DEBUG` off, importing this module refuses insecure values (a debug or short secret key,
a missing or short JWT secret, upstream's default `supersecret`, a missing or published Vault
token, plain HTTP to a Vault or MPS outside loopback, `*` in the allowed hosts), so every
`manage.py` command fails fast with one line naming each problem. Importing does no I/O: the
Vault credential itself is checked when the server starts (rps_site.vault_auth).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from corsheaders.defaults import default_headers as cors_default_headers
from django.core.exceptions import ImproperlyConfigured

from rps_site.enterprise_assistant_settings import EA_PASSWORD_MIN_LENGTH, enterprise_assistant_accounts
from rps_site.observability_settings import observability_from
from rps_site.sensitive import Secret
from rps_site.settings_env import SettingsEnv

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = BASE_DIR / "var"

env = SettingsEnv()

DEBUG: bool = env.bool("RPS_DEBUG", default=False)

DEV_SECRET_KEY = "rps-dev-insecure-secret-key-do-not-use-in-production-000"
DEV_JWT_SECRET = "rps-dev-insecure-jwt-secret-do-not-use-in-production-0"
INSECURE_TOKENS = {"myroot", "root", "supersecret", "changeme"}

SECRET_KEY: str = env.str("RPS_SECRET_KEY", default=DEV_SECRET_KEY if DEBUG else "")
JWT_SECRET: str = env.str("RPS_JWT_SECRET", default=DEV_JWT_SECRET if DEBUG else "")
JWT_ISSUER: str = env.str("RPS_JWT_ISSUER", default="9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc")
JWT_LIFETIME_SECONDS: int = env.int("RPS_JWT_LIFETIME_SECONDS", default=86400)

VAULT_ADDR: str = env.str("RPS_VAULT_ADDR", default="http://127.0.0.1:8200")
VAULT_TOKEN: str = env.str("RPS_VAULT_TOKEN", default="")
# AppRole login instead of a static token: the secret ID from the setting or, preferably, a file
# that a deployment tool writes (re-read at every login, so it can be rotated).
VAULT_ROLE_ID: str = env.str("RPS_VAULT_ROLE_ID", default="")
VAULT_SECRET_ID: str = env.str("RPS_VAULT_SECRET_ID", default="")
VAULT_SECRET_ID_FILE: str = env.str("RPS_VAULT_SECRET_ID_FILE", default="")
VAULT_APPROLE_MOUNT: str = env.str("RPS_VAULT_APPROLE_MOUNT", default="approle")
VAULT_MOUNT: str = env.str("RPS_VAULT_MOUNT", default="secret")
VAULT_PREFIX: str = env.str("RPS_VAULT_PREFIX", default="")
VAULT_CA_FILE: str = env.str("RPS_VAULT_CA_FILE", default="")
VAULT_TIMEOUT_SECONDS: float = env.float("RPS_VAULT_TIMEOUT", default=5.0)

MPS_URL: str = env.str("RPS_MPS_URL", default="")
EXPORT_VIA_JWT: bool = env.bool("RPS_EXPORT_VIA_JWT", default=False)
# The largest upload is a provisioning certificate: 64 KiB of PFX is about 87 KiB of base64.
API_MAX_BODY_BYTES: int = env.int("RPS_API_MAX_BODY_BYTES", default=256 * 1024)
API_MAX_JSON_DEPTH: int = env.int("RPS_API_MAX_JSON_DEPTH", default=32)
# Comma-separated; an empty item is the default tenant: "" → [""], ",acme" → ["", "acme"].
DEVICE_TENANTS: list[str] = [item.strip() for item in env.str("RPS_DEVICE_TENANTS", default="").split(",")]
# Tenants whose unbound devices must be enrolled first: empty → none, "*" → every tenant, else
# a list as in RPS_DEVICE_TENANTS (",acme" → the default tenant and acme).
_ENROLLMENT = env.str("RPS_DEVICE_ENROLLMENT_REQUIRED", default="").strip()
DEVICE_ENROLLMENT_REQUIRED: list[str] = [item.strip() for item in _ENROLLMENT.split(",")] if _ENROLLMENT else []
WSMAN_TIMEOUT: float = env.float("RPS_WSMAN_TIMEOUT", default=12.0)
DELAY_TIMER: float = env.float("RPS_DELAY_TIMER", default=12.0)
RETRY_DELAY: float = env.float("RPS_RETRY_DELAY", default=15.0)
# The device sessions' own pool for ORM and Vault calls: a slow Vault fills it and nothing else.
BLOCKING_THREADS: int = env.int("RPS_BLOCKING_THREADS", default=8)
HTTP_THREADS: int = env.int("RPS_HTTP_THREADS", default=12)  # HTTP requests served at once per worker
AMT_EXTRA_ODCA_ROOTS: str = env.str("RPS_AMT_EXTRA_ODCA_ROOTS", default="")  # PEM bundle, §5.4
DEVICE_ALLOWED_ORIGINS: list[str] = env.list("RPS_DEVICE_ALLOWED_ORIGINS", default=[])
DEVICE_CLOSE_GRACE_SECONDS: float = env.float("RPS_DEVICE_CLOSE_GRACE", default=10.0)
DEVICE_CONNECTIONS_PER_MINUTE: int = env.int("RPS_DEVICE_CONNECTIONS_PER_MINUTE", default=600)
# Session limits (SECURITY.md check 23): rpc-go sends its request as soon as it connects, and a
# whole activation with configuration takes a few minutes at the default timers.
DEVICE_SOCKETS_PER_ADDRESS: int = env.int("RPS_DEVICE_SOCKETS_PER_ADDRESS", default=100)
DEVICE_FIRST_FRAME_TIMEOUT: float = env.float("RPS_DEVICE_FIRST_FRAME_TIMEOUT", default=30.0)
DEVICE_SESSION_DEADLINE: float = env.float("RPS_DEVICE_SESSION_DEADLINE", default=900.0)
TRUST_PROXY_SSL_HEADER: bool = env.bool("RPS_TRUST_PROXY_SSL_HEADER", default=False)
# What several workers share (throttles, device admission, the channel layer); empty: one worker.
REDIS_URL: str = env.str("RPS_REDIS_URL", default="")
# SIGTERM (rps_site.serve): health answers 503 for DRAIN_NOTICE seconds while the worker still
# accepts (so a load balancer stops sending first), then it stops listening and lets its device
# sessions finish, DRAIN_SECONDS at most from the signal.
DRAIN_NOTICE_SECONDS: float = env.float("RPS_DRAIN_NOTICE", default=0.0)
DRAIN_SECONDS: float = env.float("RPS_DRAIN_SECONDS", default=300.0)
# How often each worker marks the runs of workers that died as interrupted (devices.ownership);
# it also does when it starts. 0: only then.
ORPHAN_SWEEP_SECONDS: float = env.float("RPS_ORPHAN_SWEEP_SECONDS", default=60.0)


if API_MAX_BODY_BYTES < 1 or API_MAX_JSON_DEPTH < 1:
    raise ImproperlyConfigured("RPS_API_MAX_BODY_BYTES and RPS_API_MAX_JSON_DEPTH must be >= 1")
if WSMAN_TIMEOUT <= 0 or DELAY_TIMER < 0 or RETRY_DELAY < 0:
    # A zero wait per WS-Man attempt would fail every call; negative pauses make no sense.
    raise ImproperlyConfigured("RPS_WSMAN_TIMEOUT must be > 0; RPS_DELAY_TIMER and RPS_RETRY_DELAY must be >= 0")
if BLOCKING_THREADS < 1 or HTTP_THREADS < 1:
    raise ImproperlyConfigured("RPS_BLOCKING_THREADS and RPS_HTTP_THREADS must be >= 1")
if DEVICE_SOCKETS_PER_ADDRESS < 1 or DEVICE_CONNECTIONS_PER_MINUTE < 1:
    raise ImproperlyConfigured("RPS_DEVICE_SOCKETS_PER_ADDRESS and RPS_DEVICE_CONNECTIONS_PER_MINUTE must be >= 1")
if DEVICE_FIRST_FRAME_TIMEOUT <= 0 or DEVICE_SESSION_DEADLINE <= 0:
    raise ImproperlyConfigured("RPS_DEVICE_FIRST_FRAME_TIMEOUT and RPS_DEVICE_SESSION_DEADLINE must be > 0")
if DRAIN_NOTICE_SECONDS < 0 or DRAIN_SECONDS < DRAIN_NOTICE_SECONDS:
    raise ImproperlyConfigured("RPS_DRAIN_NOTICE must be >= 0 and RPS_DRAIN_SECONDS at least as long")
if ORPHAN_SWEEP_SECONDS < 0:
    raise ImproperlyConfigured("RPS_ORPHAN_SWEEP_SECONDS must be >= 0")


ALLOWED_HOSTS: list[str] = env.list("RPS_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("RPS_CSRF_TRUSTED_ORIGINS", default=[])


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(setting: str, url: str) -> str | None:
    """Why `url` may not carry secrets outside debug: parsed, not prefix-matched, so
    `http://127.0.0.1@vault.example.com` (host vault.example.com) is what it is."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number in range)
    except ValueError:
        return f"{setting} is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{setting} must be an http(s):// URL with a host"
    if parts.username is not None or parts.password is not None:
        return f"{setting} must not contain user information (user@host)"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return f"{setting} must use https:// outside loopback"
    return None


def vault_login_problem() -> str | None:
    approle = bool(VAULT_ROLE_ID or VAULT_SECRET_ID or VAULT_SECRET_ID_FILE)
    if approle and VAULT_TOKEN:
        return "set either RPS_VAULT_TOKEN or AppRole (RPS_VAULT_ROLE_ID), not both"
    if approle and not VAULT_ROLE_ID:
        return "RPS_VAULT_SECRET_ID(_FILE) needs RPS_VAULT_ROLE_ID"
    if approle and not (VAULT_SECRET_ID or VAULT_SECRET_ID_FILE):
        return "RPS_VAULT_ROLE_ID needs RPS_VAULT_SECRET_ID or RPS_VAULT_SECRET_ID_FILE"
    if VAULT_SECRET_ID and VAULT_SECRET_ID_FILE:
        return "set either RPS_VAULT_SECRET_ID or RPS_VAULT_SECRET_ID_FILE, not both"
    if not approle and not VAULT_TOKEN:
        return "RPS_VAULT_TOKEN (or AppRole: RPS_VAULT_ROLE_ID and RPS_VAULT_SECRET_ID_FILE) must be set"
    return None


def refuse_insecure_production_settings() -> None:
    """Refuse to start outside debug with a value only a developer machine should have."""
    problems = []
    if (
        not SECRET_KEY
        or SECRET_KEY == DEV_SECRET_KEY
        or len(SECRET_KEY) < 50
        or SECRET_KEY.startswith("django-insecure")
    ):
        problems.append("RPS_SECRET_KEY must be set to a random value of at least 50 characters")
    if not JWT_SECRET or JWT_SECRET == DEV_JWT_SECRET or len(JWT_SECRET.encode()) < 32:
        problems.append("RPS_JWT_SECRET must be set to a random value of at least 32 bytes")
    if JWT_SECRET in INSECURE_TOKENS or "supersecret" in JWT_SECRET:
        problems.append("RPS_JWT_SECRET must not be upstream's published default")
    if VAULT_TOKEN in INSECURE_TOKENS:
        problems.append("RPS_VAULT_TOKEN must not be a published development root token")
    problems += [
        problem
        for problem in (
            vault_login_problem(),
            url_problem("RPS_VAULT_ADDR", VAULT_ADDR),
            url_problem("RPS_MPS_URL", MPS_URL) if MPS_URL else None,
            "RPS_ALLOWED_HOSTS must name this server's hosts, not '*'" if "*" in ALLOWED_HOSTS else None,
        )
        if problem
    ]
    if problems:
        raise ImproperlyConfigured("Refusing insecure production settings: " + "; ".join(problems))


if not DEBUG:
    refuse_insecure_production_settings()


INSTALLED_APPS = [
    "daphne",
    "portal",  # before the admin: its templates restyle the admin's
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "channels",
    "rps_site",
    "profiles",
    "devices",
    "activation",
    "audit",
    "metrics",
    "events",
]

MIDDLEWARE = [
    "metrics.http.HttpMetricsMiddleware",  # first: it times the rest and reads the URL pattern matched
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "rps_site.api.input_limits.ApiInputLimitsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.timezones.PortalTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "django.middleware.http.ConditionalGetMiddleware",
    "rps_site.logs.ApiWriteLogMiddleware",
    "audit.context.AuditContextMiddleware",
]

ROOT_URLCONF = "rps_site.urls"
APPEND_SLASH = False  # upstream accepts both forms; a redirect would drop POST bodies
ASGI_APPLICATION = "rps_site.asgi.application"
WSGI_APPLICATION = None  # HTTP reaches Django through rps_site.asgi (daphne)

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("RPS_DATABASE_URL", default=f"sqlite:///{RUN_DIR / 'rps.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # An unanswering host otherwise holds a connection attempt for the kernel's TCP timeout
    # (minutes); `?connect_timeout=` in RPS_DATABASE_URL still wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool("RPS_DB_POOL", default=True):
    # Under ASGI every request runs in a fresh thread, so without a pool each one opened (and
    # closed) its own PostgreSQL connection: the largest cost of a simple read.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("RPS_DB_POOL_MAX_SIZE", default=20),
        "timeout": 10,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["portal.formats"]  # times to the second in the portal
STATIC_URL = "static/"
STATIC_ROOT = RUN_DIR / "static"
SERVE_STATIC: bool = env.bool("RPS_SERVE_STATIC", default=True)

# The API is consumed by the sample web UI from another origin; browsers send the bearer token.
CORS_ALLOWED_ORIGINS: list[str] = env.list("RPS_CORS_ALLOWED_ORIGINS", default=[])
# "*" mirrors upstream's `cors()` default; safe because the API takes bearer tokens, not cookies, cross-origin.
CORS_ALLOW_ALL_ORIGINS = CORS_ALLOWED_ORIGINS == ["*"]
if CORS_ALLOW_ALL_ORIGINS:
    CORS_ALLOWED_ORIGINS = []
CORS_URLS_REGEX = r"^/api/.*$"
# What the stock sample web UI sends (Angular HttpClient; its interceptor adds Authorization and,
# on every edit, If-Match with the record's version) and the verbs it uses. Without if-match in
# the preflight answer the browser never sends a PATCH. ETag is readable by the page; no cookies
# cross origins (no CORS_ALLOW_CREDENTIALS), so a session cannot be ridden from another site.
CORS_ALLOW_HEADERS = (*cors_default_headers, "if-match", "if-none-match")
CORS_ALLOW_METHODS = ("DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT")
CORS_EXPOSE_HEADERS = ("ETag",)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rps_site.authentication.MpsJwtAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rps_site.permissions.ModelPermissions"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rps_site.api.input_limits.BoundedJsonParser"],
    "DEFAULT_PAGINATION_CLASS": "rps_site.api.paging.ODataPagination",
    "EXCEPTION_HANDLER": "rps_site.api_errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_RATES": {"profile_export": env.str("RPS_EXPORT_THROTTLE", default="30/hour")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "rps-django",
    "DESCRIPTION": "Remote Provisioning Server for Intel AMT (upstream RPS compatible admin API)",
    "VERSION": "2.40.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Schema completeness is tested on its own (tests/rps_site/test_openapi.py); the deploy check
    # stays about deployment safety.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
    # Swagger UI from this server's static files, not a CDN: /api/docs works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# A consumer waits for its next message in a blocking Redis read of up to 5 s (channels_redis's
# brpop_timeout); redis-py's default socket timeout is 5 s too, so an idle socket (a portal page, an
# EA between requests) failed with a read timeout after 5 s. The socket waits longer than the read.
CHANNEL_LAYER_REDIS_HOST = {"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}
CHANNEL_LAYERS = {
    "default": (
        {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [CHANNEL_LAYER_REDIS_HOST]}}
        if REDIS_URL
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}
# DRF's throttles (the profile export's) count in the default cache: shared by every worker with
# Redis, per process without (Django's default local-memory cache).
if REDIS_URL:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    CACHES = {
        "default": {
            "BACKEND": "rps_site.shared_cache.SharedRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "rps",
            "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2, "retry": Retry(NoBackoff(), 1)},
        }
    }

AXES_FAILURE_LIMIT = env.int("RPS_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 1  # hours
# Together, not separately: failures from one address never lock the same user out elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_SENSITIVE_PARAMETERS = ["password"]

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_HSTS_SECONDS = env.int("RPS_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = env.bool("RPS_SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if TRUST_PROXY_SSL_HEADER:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# One log configuration for everything (rps_site/logs.py): key=value text, or JSON lines for log
# shippers. The masking filter runs on every record, structured events included.
LOG_FORMAT: str = env.str("RPS_LOG_FORMAT", default="text")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured("RPS_LOG_FORMAT must be text or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_secrets": {"()": "rps_site.log_masking.MaskSecretsFilter"}},
    "formatters": {
        "text": {"()": "rps_site.logs.TextFormatter"},
        "json": {"()": "rps_site.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["mask_secrets"], "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": env.str("RPS_LOG_LEVEL", default="INFO")},
    "loggers": {
        # hvac and httpx log request URLs and bodies at DEBUG; the Vault token rides in a header.
        "hvac": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "daphne": {"level": "INFO"},
        "axes.apps": {"level": "WARNING"},  # a banner on every start of every command
    },
}


# -- Enterprise Assistant (spec/enterprise-assistant.md) ------------------------------------------
# The EA authenticates with the user and password it already sends in `x-meshauth`. Accounts are a
# JSON object {"<user>": {"password": "...", "tenant": "<tenantId>"}}; the tenant (default "") says
# whose devices that EA serves, so tenants with different Active Directories use different EAs.
EA_ACCOUNTS: dict[str, tuple[Secret, str]] = enterprise_assistant_accounts(env.str("RPS_EA_ACCOUNTS", default=""))
# Upstream lets any EA in (B1); here only with debug on, to try the stock EA before configuring it.
EA_ALLOW_ANONYMOUS: bool = env.bool("RPS_EA_ALLOW_ANONYMOUS", default=False)
EA_TIMEOUT: float = env.float("RPS_EA_TIMEOUT", default=12.0)  # AD and CA work can outlast WS-Man's wait (B16)
EA_PORT: int = env.int("RPS_EA_PORT", default=0)  # a listener of its own, like upstream's 8082; 0 = none
# Not used to reach the EA (it connects to us): only written into profile exports, where rpc-go's
# local configuration finds the EA's HTTP API (§1.6, §8). Upstream's key and default.
ENTERPRISE_ASSISTANT_URL: str = env.str("RPS_ENTERPRISE_ASSISTANT_URL", default="http://localhost:8000")

if EA_TIMEOUT <= 0:
    raise ImproperlyConfigured("RPS_EA_TIMEOUT must be > 0")
if not DEBUG:
    if EA_ALLOW_ANONYMOUS:
        raise ImproperlyConfigured("Refusing insecure production settings: RPS_EA_ALLOW_ANONYMOUS needs RPS_DEBUG")
    if any(len(password.reveal()) < EA_PASSWORD_MIN_LENGTH for password, _ in EA_ACCOUNTS.values()):
        raise ImproperlyConfigured(
            "Refusing insecure production settings: "
            f"RPS_EA_ACCOUNTS passwords need {EA_PASSWORD_MIN_LENGTH}+ characters"
        )

AUDIT_RETENTION_DAYS, METRICS_TOKEN, MQTT = observability_from(env, debug=DEBUG)  # README "Observability"
