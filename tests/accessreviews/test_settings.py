"""Start-up configuration: each variable is validated and named when malformed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, **env):
    environment = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "DEBUG",
            "SECRET_KEY",
            "SECURE_TLS",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    environment.update({"DJANGO_SETTINGS_MODULE": "accessreviews.settings", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DEBUG": "off",
    "SECRET_KEY": "x7!k2#p9-production-like-secret-key-with-enough-entropy-0f3a9c1b7e",
    "ALLOWED_HOSTS": "reviews.contoso.example",
    "DATABASE_URL": "postgres://portal@127.0.0.1:5432/portal",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "EMAIL_URL": "smtp://mail.contoso.example:25",
}


@pytest.mark.parametrize(
    "variable, value",
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://nowhere/db"),
        ("DATABASE_URL", "not a url"),
        ("CELERY_BROKER_URL", "carrier-pigeon://loft"),
        ("EMAIL_URL", "fax://555"),
        ("TIME_ZONE", "Mars/Olympus_Mons"),
        ("GROUP_OWNERS_CAN_MANAGE_REVIEWS", "sometimes"),
        ("EMAIL_TIMEOUT", "soon"),
        ("PORTAL_URL", "reviews.contoso.example"),
    ],
)
def test_a_malformed_variable_stops_start_up_naming_it(variable, value):
    result = manage("check", **{"DEBUG": "on", variable: value})
    assert result.returncode != 0
    assert f"{variable}: {value!r} is not valid" in result.stderr


def test_secret_key_is_required_when_debug_is_off():
    result = manage("check", DEBUG="off")
    assert result.returncode != 0
    assert "SECRET_KEY: required when DEBUG is off" in result.stderr


def test_the_deployment_checklist_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_embedded_default_is_sqlite_in_wal_with_immediate_transactions():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "d = s.DATABASES['default']; print(d['ENGINE'], d['OPTIONS'], "
        "s.CELERY_BROKER_URL, s.CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_in'])",
        DEBUG="on",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "sqlite3" in out and "IMMEDIATE" in out and "journal_mode=WAL" in out
    assert "'timeout': 30" in out and "filesystem://" in out and "var/broker/queue" in out


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_the_sqlite_test_database_is_a_file_in_wal_mode():
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL pass: nothing to check")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    assert connection.settings_dict["NAME"].endswith(".sqlite3")
    assert "memory" not in connection.settings_dict["NAME"]
