"""Fair use of one SiWi process by the citizens' clients: no client can take all of it.

A client is a network address (behind a reverse proxy, run uvicorn with `--proxy-headers` and
`--forwarded-allow-ips`, or every citizen is the proxy). Three limits, each with a clear error and nothing
lost: open chat sockets per client, questions per client in a moving window (limits' MovingWindow, as the
staff login throttle), and — in the generation worker — a client's share of the queue. The socket's idle
timeout lives with the socket (bot/app.py). Held in memory per process, like the queue it protects.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

from limits import parse
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class FairUseLimits:
    connections_per_client: int = 20
    questions_per_client: str = "20 per minute"


class ClientGate:
    def __init__(self, limits: FairUseLimits, storage: Storage | None = None):
        self._limits = limits
        self._questions = parse(limits.questions_per_client)
        self._limiter = MovingWindowRateLimiter(storage or MemoryStorage())
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def connect(self, client: str) -> bool:
        """Count one more open socket for the client; False (and nothing counted) when it has too many."""
        with self._lock:
            if self._open[client] >= self._limits.connections_per_client:
                return False
            self._open[client] += 1
            return True

    def disconnect(self, client: str) -> None:
        with self._lock:
            self._open[client] -= 1
            if self._open[client] <= 0:
                del self._open[client]

    def question(self, client: str) -> int | None:
        """Count a question; None when allowed, else the seconds until the client may ask again."""
        if self._limiter.hit(self._questions, "question", client):
            return None
        reset = self._limiter.get_window_stats(self._questions, "question", client).reset_time
        return max(1, int(reset - time.time()) + 1)


def origin_allowed(origin: str | None, host: str, secure: bool, allowed: list[str], required: bool = False) -> bool:
    """May a page from `origin` use this endpoint? Its own origin and the configured ones may. Browsers always
    send Origin on WebSockets and cross-site requests; a client without one is no browser (the evaluation
    runner, curl) — allowed unless `required` (the staff socket, which a cookie authenticates)."""
    if not origin:
        return not required
    if origin == f"{'https' if secure else 'http'}://{host}":
        return True
    return origin.rstrip("/") in {_origin_of(a) for a in allowed}


def _origin_of(value: str) -> str:
    """"https://www.kreis.example/buergerservice/" → "https://www.kreis.example": a page's origin."""
    parts = urlsplit(value.strip())
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else value.strip().rstrip("/")
