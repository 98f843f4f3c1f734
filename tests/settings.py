"""Test settings: the real settings module, read with test-only defaults for what tests lack."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-any-deployment-0123456789")
os.environ.setdefault("SECURE_TLS", "off")

from accessreviews.settings import *  # noqa: E402, F403

# The test flush may lift the audit log's append-only triggers (directory/append_only.py).
AUDIT_LOG_FLUSHABLE = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
NOTIFICATIONS_NUDGE = False
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 (whitenoise warns when it is missing)

# One test database per pytest process, so two runs in one checkout never share (and corrupt)
# a database; Django drops it at the end of the run.
_test_db = DATABASES["default"].setdefault("TEST", {})  # noqa: F405
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    _test_db["NAME"] = str(VAR_DIR / f"test-{os.getpid()}.sqlite3")  # noqa: F405
else:
    _test_db["NAME"] = f"test_accessreviews_{os.getpid()}"
