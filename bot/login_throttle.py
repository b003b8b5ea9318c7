"""Failed staff logins, throttled per client address and over all addresses (limits' moving windows).

The per-name lockout (bot/staff_auth.py) stops guessing one account's password; it counts per name and
address, so that a stranger cannot lock staff out by failing on their names. This throttle stops the other
two attacks: one address trying many names, and many addresses together (a slow, distributed guess). Held in
memory per process; several processes need a shared storage (limits supports Redis).
"""

from __future__ import annotations

import time

from limits import parse
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter


class LoginThrottle:
    def __init__(self, per_address: str, overall: str, storage: Storage | None = None):
        self._limiter = MovingWindowRateLimiter(storage or MemoryStorage())
        self._per_address = parse(per_address)
        self._overall = parse(overall)

    def _limits(self, address: str):
        return ((self._per_address, ("address", address)), (self._overall, ("all",)))

    def retry_after(self, address: str) -> int | None:
        """Seconds until this address may try again, or None when it may now."""
        waits = [self._limiter.get_window_stats(item, *key).reset_time - time.time()
                 for item, key in self._limits(address) if not self._limiter.test(item, *key)]
        return max(1, int(max(waits)) + 1) if waits else None

    def failed(self, address: str) -> None:
        for item, key in self._limits(address):
            self._limiter.hit(item, *key)
