"""Security headers and the double-submit CSRF check, on a bare app."""

from __future__ import annotations

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.testclient import TestClient

from redress.web import (
    CSRF_COOKIE,
    add_security_headers,
    csrf_ok,
    csrf_refused,
    csrf_token,
    set_csrf_cookie,
)


def _app() -> FastAPI:
    app = FastAPI()
    add_security_headers(app)

    @app.get("/form")
    async def form(request: Request) -> HTMLResponse:
        token = csrf_token(request)
        response = HTMLResponse(f'<input name="csrf_token" value="{token}">')
        set_csrf_cookie(response, token)
        return response

    @app.post("/form")
    async def post(request: Request, csrf_token: str = Form("")) -> HTMLResponse:
        if not csrf_ok(request, csrf_token):
            return csrf_refused()
        return HTMLResponse("sent")

    @app.get("/data")
    async def data() -> JSONResponse:
        return JSONResponse({"ok": True}, headers={"X-Frame-Options": "SAMEORIGIN"})

    return app


def test_what_a_response_sets_itself_is_kept_and_only_pages_are_not_cached() -> None:
    r = TestClient(_app()).get("/data")
    assert r.json() == {"ok": True}
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert r.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in r.headers


def test_pages_carry_security_headers_and_are_not_cached() -> None:
    r = TestClient(_app()).get("/form")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"


def test_a_form_posts_only_with_the_token_from_its_own_cookie() -> None:
    client = TestClient(_app())
    page = client.get("/form")
    token = page.cookies[CSRF_COOKIE]
    assert token in page.text
    assert client.post("/form", data={"csrf_token": token}).text == "sent"
    assert client.post("/form", data={"csrf_token": "x" * 40}).status_code == 403
    assert client.post("/form", data={}).status_code == 403
    stranger = TestClient(_app())  # another site's form: no cookie to match
    assert stranger.post("/form", data={"csrf_token": token}).status_code == 403
