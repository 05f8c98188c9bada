"""The plan's rate: at most `SANDBOX_MAX_RPS` calls per API key in any one second (a sliding window), as
Tatum's plans allow (the free plan: 5 a second). Unset, the sandbox accepts any rate.

Counted in the database, so the limit holds however many processes serve the sandbox: each call locks
its key's `RateWindow` row in one short transaction, forgets the times older than a second, and is then
either counted or refused. A refused call is not counted, costs no credits and does nothing. Times are
the sandbox processes' own clock (they run on one machine).
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.db import transaction

from sandbox.credits import key_digest
from sandbox.models import RateWindow

WINDOW_SECONDS = 1.0


def plan_rate_refusal(*, api_key: str) -> int | None:
    """None when the key may make this call now (it is then counted); else the whole seconds to wait
    before the oldest counted call leaves the window (`Retry-After`)."""
    limit = getattr(settings, "SANDBOX_MAX_RPS", None)
    if not limit:
        return None
    with transaction.atomic():
        window, _ = RateWindow.objects.select_for_update().get_or_create(key_digest=key_digest(api_key))
        now = time.time()
        recent = [at for at in window.calls if at > now - WINDOW_SECONDS]
        if len(recent) >= limit:
            return max(1, math.ceil(recent[-limit] + WINDOW_SECONDS - now))
        window.calls = [*recent, now]
        window.save(update_fields=["calls"])
    return None
