"""Settings for `make bench`: the test settings, with a scratch database of the benchmark's own.

run.py creates that database (Django's test-database machinery) and drops it at the end, so a
benchmark never touches var/portal.sqlite3 or the data of the database DATABASE_URL names.
"""

import os

from tests.settings import *  # noqa: F403

DEBUG = False  # no query log growing in memory while rows are timed

_scratch = DATABASES["default"].setdefault("TEST", {})  # noqa: F405
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    _scratch["NAME"] = str(VAR_DIR / f"bench-{os.getpid()}.sqlite3")  # noqa: F405
else:
    _scratch["NAME"] = f"bench_accessreviews_{os.getpid()}"
