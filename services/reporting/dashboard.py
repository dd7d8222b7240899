"""The dashboard page: server-rendered HTML with inline SVG charts, no scripts and no build
step. Every number links to the cases behind it (the drill-down API)."""

from __future__ import annotations

from datetime import date
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from redress.auth import COOKIE, READERS, Identity, verify
from redress.clock import london_today
from redress.service import runtime_of
from redress.web import CSRF_FIELD, csrf_ok, csrf_refused, page, templates
from services.reporting import reports

router = APIRouter(tags=["dashboard"])


_FOLDER = Path(__file__).parent / "templates"
env = templates(_FOLDER)

#: a sign-in form is a token and two short fields
MAX_FORM_BYTES = 10_000


def _sign_in_page(
    request: Request, organisation_id: str | None, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    response = page(
        request,
        env,
        "sign_in.html",
        status_code=status_code,
        organisation_id=organisation_id or "",
        error=error,
    )
    if status_code == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


@router.get("/sign-in", response_class=HTMLResponse, include_in_schema=False)
async def sign_in_form(
    request: Request, organisation_id: str | None = Query(None, max_length=100)
) -> HTMLResponse:
    """The form: the token is posted, never put in a URL (where it would sit in the browser's
    history, proxies' logs and Referer headers)."""
    return _sign_in_page(request, organisation_id)


@router.post("/sign-in", include_in_schema=False)
async def sign_in(request: Request) -> Response:
    """Keep a staff token in an HttpOnly cookie so the dashboard opens in a browser."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        return HTMLResponse("The form was too large to send.", status_code=413)
    data = await request.form(max_files=0, max_fields=10)
    if not csrf_ok(request, _field(data, CSRF_FIELD)):
        return csrf_refused()
    token = _field(data, "token").strip()
    organisation_id = _field(data, "organisation_id")[:100] or None
    try:
        verify(
            request.app.state.token_key,
            token,
            getattr(request.app.state, "previous_token_keys", ()),
        )
    except Exception:
        return _sign_in_page(
            request, organisation_id, "That token is not valid or has expired.", 401
        )
    target = "/" + (
        f"?{urlencode({'organisation_id': organisation_id})}" if organisation_id else ""
    )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=8 * 3600,
    )
    return response


def _field(data: FormData, name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _bars(rows: list[tuple[str, int]], height: int = 160, label: str = "") -> str:
    width = max(1, len(rows)) * 44 + 20
    top = max([v for _, v in rows] + [1])
    parts = [
        f'<svg role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height + 50}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (name, value) in enumerate(rows):
        h = int(height * value / top)
        x = 10 + i * 44
        parts.append(
            f'<rect x="{x}" y="{24 + height - h}" width="34" height="{h}" '
            f'fill="#1d70b8"><title>{escape(name)}: {value}</title></rect>'
        )
        parts.append(
            f'<text x="{x + 17}" y="{20 + height - h}" font-size="11" '
            f'text-anchor="middle">{value}</text>'
        )
        parts.append(
            f'<text x="{x + 17}" y="{height + 40}" font-size="10" '
            f'text-anchor="middle">{escape(_month(name))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _month(period: str) -> str:
    """ "2026-11" reads as "Nov 26" under a bar."""
    try:
        return date.fromisoformat(f"{period}-01").strftime("%b %y")
    except ValueError:
        return period


def _percent_bar(pct: float | None) -> str:
    value = 0 if pct is None else pct
    return (
        f'<svg width="210" height="18" role="img" aria-label="{value}%">'
        f'<rect x="0" y="2" width="200" height="14" fill="#f3f2f1"/>'
        f'<rect x="0" y="2" width="{2 * value:.0f}" height="14" fill="#00703c"/></svg>'
    )


def _link(measure: str, params: dict[str, Any], value: Any, stage: int | None = None) -> str:
    query = {k: v for k, v in params.items() if v is not None} | {"measure": measure}
    if stage is not None:
        query["stage"] = stage
    return f'<a href="/v1/reports/cases?{urlencode(query)}">{escape(str(value))}</a>'


def _signed_in(request: Request) -> Identity | None:
    token = request.cookies.get(COOKIE)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:]
    if not token:
        return None
    try:
        identity = verify(
            request.app.state.token_key,
            token,
            getattr(request.app.state, "previous_token_keys", ()),
        )
    except Exception:
        return None
    return identity if identity.role in READERS else None


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(
    request: Request,
    organisation_id: str | None = Query(None, max_length=100),
) -> HTMLResponse:
    identity = _signed_in(request)
    if identity is None:
        return _sign_in_page(request, organisation_id, status_code=401)
    runtime = runtime_of(request)
    pool = runtime.pool
    today = london_today(runtime.clock())
    start = date(today.year - 1, today.month, 1)
    f = reports.Filters(organisation_id=organisation_id, date_from=start, date_to=today)
    params = {
        "organisation_id": organisation_id,
        "from": start.isoformat(),
        "to": today.isoformat(),
    }
    volumes = await reports.volumes(pool, f, "month")
    timeliness = await reports.timeliness(pool, f)
    outcomes = await reports.outcomes(pool, f)
    learning = await reports.learning(pool, f, today)
    trend = _bars(
        [(r["period"], r["complaints"]) for r in volumes], label="Complaints received per month"
    )
    rows = "".join(
        f"<tr><th scope='row'>Stage {r['stage']}</th>"
        f"<td>{_link('responded', params, r['responses'], r['stage'])}</td>"
        f"<td>{_link('within_timescale', params, r['within_timescale'], r['stage'])} "
        f"({r['within_timescale_pct']}%) {_percent_bar(r['within_timescale_pct'])}</td>"
        f"<td>{r['average_working_days']}</td>"
        f"<td>{_link('extended', params, r['extended'], r['stage'])} "
        f"({r['extension_days']} days)</td>"
        f"<td>{_link('paused', params, r['paused'], r['stage'])} "
        f"({r['paused_working_days']} days)</td></tr>"
        for r in timeliness
    )
    outcome_rows = "".join(
        f"<tr><th scope='row'>Stage {r['stage']}</th>"
        + "".join(
            f"<td>{_link(k, params, r[k], r['stage'])} ({r[k + '_pct']}%)</td>"
            for k in ("upheld", "partly_upheld", "not_upheld")
        )
        + "</tr>"
        for r in outcomes
    )
    title = f"Complaints dashboard{': ' + escape(organisation_id) if organisation_id else ''}"
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>body{{font-family:Arial,Helvetica,sans-serif;margin:2em;color:#0b0c0c;max-width:70em}}
table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #b1b4b6;padding:.4em .6em;text-align:left}}
a{{color:#1d70b8}}h2{{margin-top:1.5em}}</style></head><body>
<h1>{title}</h1>
<p>{start:%d %B %Y} to {today:%d %B %Y}. Signed in as {escape(identity.user)}
({identity.role.value}).</p>
<h2>Complaints received per month</h2>{trend}
<h2>Responses within timescale</h2>
<table><thead><tr><th>Stage</th><th>Responses</th><th>Within timescale</th>
<th>Average working days</th><th>Extended</th><th>Clock paused</th></tr></thead>
<tbody>{rows}</tbody></table>
<h2>Outcomes</h2>
<table><thead><tr><th>Stage</th><th>Upheld</th><th>Partly upheld</th><th>Not upheld</th></tr>
</thead><tbody>{outcome_rows}</tbody></table>
<h2>Learning actions</h2>
<table><tbody><tr><th scope="row">Open</th><td>{learning["open"]}</td></tr>
<tr><th scope="row">Overdue</th><td>{learning["overdue"]}</td></tr>
<tr><th scope="row">Done</th><td>{learning["done"]}</td></tr></tbody></table>
</body></html>"""
    return HTMLResponse(page)
