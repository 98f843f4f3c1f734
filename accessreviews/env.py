"""Strict readers of environment variables, on top of django-environ.

django-environ quietly turns a bad boolean ("yes please") into False and lets an unknown
database scheme through to a confusing error much later. Every reader here raises
ImproperlyConfigured naming the variable, so a malformed value stops start-up at once.
"""

import zoneinfo

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def _raw(name: str, default: str) -> str:
    return env.str(name, default=default)


def _bad(name: str, value: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}: {value!r} is not valid; expected {expected}.")


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name, "on" if default else "off").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise _bad(name, value, "one of on/off, true/false, yes/no, 1/0")


def env_str(name: str, default: str) -> str:
    return _raw(name, default)


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name, ",".join(default))
    items = [item.strip() for item in value.split(",") if item.strip()]
    if any(" " in item for item in items):
        raise _bad(name, value, "a comma-separated list without spaces inside items")
    return items


def env_int(name: str, default: int, minimum: int = 0) -> int:
    value = _raw(name, str(default)).strip()
    try:
        number = int(value)
    except ValueError:
        raise _bad(name, value, "a whole number") from None
    if number < minimum:
        raise _bad(name, value, f"a whole number of at least {minimum}")
    return number


def env_timezone(name: str, default: str) -> str:
    value = _raw(name, default).strip()
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _bad(name, value, "an IANA time zone such as Europe/Paris or UTC") from None
    return value


def env_database(name: str, default: str) -> dict:
    value = _raw(name, default)
    try:
        config = environ.Env.db_url_config(value)
    except Exception as error:  # environ raises several types for bad URLs
        raise _bad(name, value, f"a database URL ({error})") from None
    if config.get("ENGINE") not in {
        "django.db.backends.sqlite3",
        "django.db.backends.postgresql",
    }:
        raise _bad(name, value, "a sqlite:/// or postgres:// URL")
    if not config.get("NAME"):
        raise _bad(name, value, "a URL that names the database")
    return config


def env_email(name: str, default: str) -> dict:
    value = _raw(name, default)
    try:
        config = environ.Env.email_url_config(value)
    except Exception as error:
        raise _bad(name, value, f"an email URL such as smtp://host:25 ({error})") from None
    if not config.get("EMAIL_BACKEND"):
        raise _bad(name, value, "an email URL such as smtp://host:25 or consolemail://")
    return config


def env_broker(name: str, default: str) -> str:
    value = _raw(name, default).strip()
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in {"filesystem", "redis", "rediss", "memory", "amqp"}:
        raise _bad(name, value, "a broker URL such as redis://127.0.0.1:6379/0 or filesystem://")
    return value


def env_url(name: str, default: str) -> str:
    value = _raw(name, default).strip().rstrip("/")
    scheme, _, rest = value.partition("://")
    if scheme not in {"http", "https"} or not rest or " " in rest:
        raise _bad(name, value, "an absolute http(s) URL such as https://reviews.contoso.example")
    return value
