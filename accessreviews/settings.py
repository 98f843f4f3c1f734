"""Settings for the access-review portal.

Every setting that varies between machines is an environment variable, read once here through
the strict readers in accessreviews/env.py. Each is listed below with its default; a malformed
value stops start-up with a message naming the variable. The defaults are the embedded mode
(SQLite and a broker folder under var/), so `make run` works on a bare machine.
"""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from accessreviews.env import (
    env_bool,
    env_broker,
    env_database,
    env_email,
    env_int,
    env_list,
    env_str,
    env_timezone,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

# --- Environment variables (name, default) -------------------------------------------------
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")
CELERY_BROKER_URL = env_broker("CELERY_BROKER_URL", "filesystem://")
EMAIL_URL = env_str("EMAIL_URL", "consolemail://")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Access reviews <access-reviews@localhost>")
TIME_ZONE = env_timezone("TIME_ZONE", "UTC")
# Tenant-wide switch (Entra's "group owners can create and manage access reviews of groups
# they own"); an admin may override it in the portal's tenant settings.
GROUP_OWNERS_CAN_MANAGE_REVIEWS = env_bool("GROUP_OWNERS_CAN_MANAGE_REVIEWS", False)
# Production behind TLS: secure cookies, HSTS and the https redirect (on unless DEBUG).
SECURE_TLS = env_bool("SECURE_TLS", not DEBUG)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
# The portal's address as people reach it, for links in emails.
PORTAL_URL = env_url("PORTAL_URL", "http://127.0.0.1:8000")
# Apply removes denied access in committed chunks of this many items. A chunk is one
# transaction: on SQLite it holds the single write lock for about 0.15 s per 10,000 items on a
# 2-core machine, and a crash redoes at most one chunk. Each chunk also pays a fixed cost (its
# audit event and digest query, the last-admin check, a commit), about 10 ms, which at 5,000
# items was a tenth of the work (docs/apply.md).
APPLY_CHUNK_SIZE = env_int("APPLY_CHUNK_SIZE", 10_000, minimum=1)
# Break-glass accounts (UPNs): apply never removes their access.
PROTECTED_PRINCIPALS = env_list("PROTECTED_PRINCIPALS", [])
# -------------------------------------------------------------------------------------------

if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY: required when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-for-debug"  # noqa: S105

INSTALLED_APPS = [
    "directory.admin_site.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "directory",
    "notifications",
    "accessreviews",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "accessreviews.middleware.RefuseNulBytesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accessreviews.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout raised by authenticate() into a page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "accessreviews.urls"
WSGI_APPLICATION = "accessreviews.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "directory.context_processors.capabilities",
                "notifications.context_processors.unread_messages",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
DATABASES = {"default": env_database("DATABASE_URL", DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN, so
    # a busy database waits (up to the timeout) instead of failing with "database is locked"
    # halfway through a transaction. Tests use a file database in WAL too, never :memory:.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "directory.User"
# UPNs are unique case-insensitively (constraint user_upn_unique_ci), which this check cannot see.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

# --- Authentication ------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "directory.backends.DirectoryBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24 * 3

AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The sign-in form posts the UPN as "username" (AuthenticationForm), not USERNAME_FIELD; and
# UPNs are case-insensitive, so ANN@ and ann@ must count against one lockout.
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "directory.backends.axes_username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

SESSION_COOKIE_AGE = 60 * 60 * 12
SESSION_COOKIE_HTTPONLY = True

# --- Security ------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if SECURE_TLS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Internationalisation and time ---------------------------------------------------------
LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True

# --- Static files --------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Email ---------------------------------------------------------------------------------
# EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, ... from the one URL.
globals().update(env_email("EMAIL_URL", EMAIL_URL))
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Celery --------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: one folder both sides read and write, so the embedded
    # mode needs no server. The folders must exist before the worker starts.
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        # Exchange bindings; kombu's default is a "control" folder in the working directory.
        "control_folder": str(BROKER_DIR / "control"),
    }
else:
    # A web request never waits on the broker for long (DESIGN.md): fail fast, don't retry.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Logging -------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"accessreviews": {"level": "INFO"}, "directory": {"level": "INFO"}},
}

# Notifications: after a commit that wrote messages, ask a worker to deliver them now (the tick
# delivers them within a minute anyway). Tests turn it off so nothing reaches a real broker.
NOTIFICATIONS_NUDGE = True

# Tests only: apply raises after this many committed chunks (0: never), to drill a crash.
APPLY_FAULT_AFTER_CHUNKS = 0

# Set by tests/settings.py only: lets the test flush lift the audit log's append-only
# triggers for the moment it empties the tables. Never set in a deployment.
AUDIT_LOG_FLUSHABLE = False
