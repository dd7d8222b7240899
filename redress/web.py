"""Plumbing for the HTML pages every service may serve: security headers, CSRF protection and
one Jinja2 environment per template folder.

Pages are server-rendered and work without JavaScript, so the defences are the classic ones:
a strict Content-Security-Policy (no inline scripts, nothing from elsewhere), no framing, and a
double-submit CSRF token on every form that changes something. The token lives in an HttpOnly,
SameSite=Strict cookie and in a hidden field; a cross-site form cannot read the cookie to copy it.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "redress_csrf"
CSRF_FIELD = "csrf_token"

#: Inline styles are allowed (pages carry a little CSS of their own); scripts only from us.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def add_security_headers(app: FastAPI) -> None:
    """Every response carries the headers; an API client ignores them, a browser obeys them."""
    app.add_middleware(SecurityHeaders)


class SecurityHeaders:
    """ASGI middleware adding `SECURITY_HEADERS` (and ``Cache-Control: no-store`` to HTML) to
    each response's headers where the response has not set them itself. Plain ASGI rather than
    ``@app.middleware("http")``: it edits one message on its way out, instead of running the
    app in a task of its own and copying the body through a stream for every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(message.get("headers") or ())
            await send(message)

        await self.app(scope, receive, send_secured)


#: `SECURITY_HEADERS` as ASGI writes them (lower-case names, bytes), encoded once
_RAW_SECURITY_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
_NO_STORE = (b"cache-control", b"no-store")


def _secured(headers: Any) -> list[tuple[bytes, bytes]]:
    """A response's headers with each security header it has not set itself added, and
    ``Cache-Control: no-store`` for HTML unless it says otherwise."""
    out = list(headers)
    names = {name.lower() for name, _ in out}
    out.extend(pair for pair in _RAW_SECURITY_HEADERS if pair[0] not in names)
    if b"cache-control" not in names:
        html = any(
            name.lower() == b"content-type" and value.lower().startswith(b"text/html")
            for name, value in out
        )
        if html:
            # a page may show personal data: never keep it in a shared cache or the back button
            out.append(_NO_STORE)
    return out


def templates(folder: Path) -> Environment:
    """Autoescaped and strict: a missing variable is a bug to see in tests, not a blank."""
    return Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def csrf_token(request: Request) -> str:
    """The token for this browser: the one in its cookie, or a new one to set with the page."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and 20 <= len(existing) <= 100:
        return existing
    token = getattr(request.state, "new_csrf_token", None)
    if token is None:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf_token = token
    return str(token)


def csrf_ok(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted:
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode())


def page(
    request: Request,
    env: Environment,
    template: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page with its CSRF token, setting the cookie the first time a browser comes."""
    token = csrf_token(request)
    html = env.get_template(template).render(csrf_field=CSRF_FIELD, csrf_token=token, **context)
    response = HTMLResponse(html, status_code=status_code)
    if request.cookies.get(CSRF_COOKIE) != token:
        set_csrf_cookie(response, token, secure=request.url.scheme == "https")
    return response


def set_csrf_cookie(response: Response, token: str, secure: bool = False) -> None:
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, max_age=12 * 3600
    )


CSRF_REFUSED = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Form expired</title>'
    "</head><body><main><h1>This form has expired</h1><p>For your security the form could not "
    "be sent. Go back, reload the page and try again.</p></main></body></html>"
)


def csrf_refused() -> HTMLResponse:
    return HTMLResponse(CSRF_REFUSED, status_code=403)
