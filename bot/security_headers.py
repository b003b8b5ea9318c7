"""Security headers on every HTTP response, set in one place.

Browsers enforce what these say: no MIME sniffing, no referrer beyond the origin, no camera or microphone,
and for pages a Content-Security-Policy that allows only this server's scripts, styles and sockets and says
who may frame them. A response that sets a header itself (the staff pages have a stricter policy) keeps its
own. The widget script stays embeddable: it is served with `Cross-Origin-Resource-Policy: cross-origin`,
and framing is a matter for the embedding page, not for a script.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"same-origin",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def page_policy(frame_ancestors: Iterable[str]) -> str:
    ancestors = " ".join(["'self'", *frame_ancestors])
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; "
            f"frame-ancestors {ancestors}")


class SecurityHeaders:
    """Pure ASGI middleware (WebSockets pass through untouched; streamed responses are not buffered)."""

    def __init__(self, app: ASGIApp, frame_ancestors: Iterable[str] = ()):
        self.app = app
        ancestors = tuple(frame_ancestors)
        self._policy = page_policy(ancestors).encode()
        self._same_origin_only = not ancestors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = dict(ALWAYS)
                content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    extra[b"content-security-policy"] = self._policy
                    if self._same_origin_only:
                        extra[b"x-frame-options"] = b"SAMEORIGIN"
                if path.startswith("/widget/"):
                    extra[b"cross-origin-resource-policy"] = b"cross-origin"
                headers += [(name, value) for name, value in extra.items() if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
