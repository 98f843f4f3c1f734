"""After a web request commits work for the tick, ask a worker to tick now; never wait for it.

The database is the signal (DESIGN.md "Scheduling and reliability rules"): the request has
written everything, and the next minute's tick does the rest if the nudge never arrives. As
with notifications' delivery nudge (same setting, NOTIFICATIONS_NUDGE), the publish runs on a
thread of its own after commit, because publishing to a broker that is down takes seconds.
"""

import logging
import threading

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# At most one nudge in flight per process: a second one would only ask for the same tick.
_lock = threading.Lock()


def tick_nudge_after_commit() -> None:
    if settings.NOTIFICATIONS_NUDGE:
        transaction.on_commit(_nudge_in_background)


def _nudge_in_background() -> None:
    if _lock.acquire(blocking=False):
        threading.Thread(target=_nudge_then_release, name="tick-nudge", daemon=True).start()


def _nudge_then_release() -> None:
    try:
        _nudge()
    finally:
        _lock.release()


def _nudge() -> None:
    from accessreviews.tasks import tick

    try:
        tick.apply_async(retry=False, ignore_result=True)
    except Exception as error:  # noqa: BLE001 - any broker failure is fine to ignore here
        logger.info("tick nudge not sent (the next tick does the work): %s", error)
