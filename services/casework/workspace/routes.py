"""The staff workspace's pages: sign-in, caseload, triage queue, the service's and the managers'
lists, search, the case page and a form for every command.

Reads use casework's own queries (`store`), writes the same `execute` and request models as the
JSON API, so the workspace adds screens, never rules. Pages work without JavaScript; every form
that changes something carries the CSRF token, and every command form the case version it was
filled in against, so a stale page is told what changed instead of overwriting it.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jwt
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile

from contracts import Role
from redress import eventstore
from redress.auth import COOKIE, READERS, STAFF, Identity, mint, verify
from redress.clock import london_today
from redress.service import runtime_of
from redress.settings import service_port
from redress.web import CSRF_FIELD, csrf_ok, csrf_refused, page, templates
from services.casework import settings, store
from services.casework.api import attach_file, can_see
from services.casework.command_routes import Route
from services.casework.commanding import CaseNotFound, CommandRefused, execute
from services.casework.domain import commands as c
from services.casework.domain.case import stream_id
from services.casework.domain.decide import INTAKE_ATTACHMENT_PATH
from services.casework.evidence import EvidenceRejected
from services.casework.workspace import forms, words

HERE = Path(__file__).parent
ENV = templates(HERE / "templates")
ENV.filters["label"] = words.label
ENV.filters["long_date"] = words.long_date
ENV.filters["actor"] = words.actor_name
ENV.filters["event_label"] = words.event_label
ENV.globals["days_left"] = words.days_left
ENV.globals["urgency"] = words.urgency
ENV.globals["next_due"] = words.next_due
ENV.globals["event_details"] = words.event_details
ENV.filters["letter_name"] = words.letter_name
ENV.filters["channel_name"] = words.channel_name
ENV.globals["letter_status"] = words.letter_status

MANAGERS = (Role.MANAGER, Role.ADMIN)
RISK_FLAGS = ["risk", "safeguarding", "unreasonable_behaviour", "vulnerability"]
SESSION = timedelta(hours=8)

router = APIRouter(include_in_schema=False)


class Gate(Exception):
    """A page the caller may not see: sign in first, or a clear "not allowed"."""

    def __init__(self, response: Response) -> None:
        self.response = response


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="workspace-static")

    async def gate(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Gate)
        return exc.response

    app.add_exception_handler(Gate, gate)


# -- who is signed in ---------------------------------------------------------------------------


def signed_in(request: Request) -> Identity | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        return verify(request.app.state.token_key, token)
    except (jwt.PyJWTError, ValueError, KeyError):
        return None


def who(request: Request, *roles: Role) -> Identity:
    identity = signed_in(request)
    if identity is None:
        raise Gate(RedirectResponse("/sign-in", status_code=303))
    if roles and identity.role not in roles:
        raise Gate(not_allowed(request, identity, "Your role cannot open this page."))
    return identity


def not_allowed(request: Request, identity: Identity | None, why: str) -> HTMLResponse:
    return page(
        request,
        ENV,
        "not_allowed.html",
        403,
        title="Not allowed",
        me=identity,
        why=why,
        nav=_nav(identity),
    )


def home_for(identity: Identity) -> str:
    if identity.role is Role.SERVICE_RESPONDER:
        return "/service"
    if identity.role in (*MANAGERS, Role.AUDITOR):
        return "/manager"
    return "/caseload"


def _nav(identity: Identity | None) -> list[tuple[str, str]]:
    if identity is None:
        return []
    items: list[tuple[str, str]] = []
    if identity.role in (*STAFF, Role.AUDITOR):
        items.append(("/caseload", "My caseload"))
    if identity.role in STAFF:
        items.append(("/triage", "Triage queue"))
    if identity.role is Role.SERVICE_RESPONDER:
        items.append(("/service", "My service's cases"))
    if identity.role in (*MANAGERS, Role.AUDITOR):
        items.append(("/manager", "Team overview"))
    items.append(("/search", "Search"))
    return items


def render(
    request: Request, identity: Identity, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    return page(
        request,
        ENV,
        template,
        status,
        me=identity,
        nav=_nav(identity),
        here=request.url.path,
        **context,
    )


async def _form(request: Request) -> Any:
    form = await request.form()
    if not csrf_ok(request, str(form.get(CSRF_FIELD) or "")):
        raise Gate(csrf_refused())
    return form


# -- sign in and out ----------------------------------------------------------------------------

ROLE_CHOICES = [r.value for r in Role if r is not Role.AGENT]


def _sign_in_page(
    request: Request, status: int = 200, errors: list[tuple[str, str]] | None = None, **kept: Any
) -> HTMLResponse:
    return page(
        request,
        ENV,
        "sign_in.html",
        status,
        title="Sign in",
        me=None,
        nav=[],
        dev_login=settings.current().workspace_dev_login,
        roles=ROLE_CHOICES,
        errors=errors or [],
        kept=kept,
    )


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request) -> HTMLResponse:
    return _sign_in_page(request)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    form = await _form(request)
    key: str = request.app.state.token_key
    token = str(form.get("token") or "").strip()
    user = str(form.get("user") or "").strip()
    errors: list[tuple[str, str]] = []
    identity: Identity | None = None
    if token:
        try:
            identity = verify(key, token)
        except (jwt.PyJWTError, ValueError, KeyError):
            errors.append(("token", "That token is not valid or has expired: mint a new one"))
    elif user and settings.current().workspace_dev_login:
        role_name = str(form.get("role") or "")
        service = str(form.get("service") or "").strip() or None
        if role_name not in ROLE_CHOICES:
            errors.append(("role", "Choose a role"))
        elif role_name == Role.SERVICE_RESPONDER.value and not service:
            errors.append(("service", "Enter the service a service responder answers for"))
        else:
            role = Role(role_name)
            token = mint(key, user=user, role=role, service_area=service, lifetime=SESSION)
            identity = verify(key, token)
    else:
        errors.append(("token", "Paste your staff token"))
    if identity is None:
        return _sign_in_page(
            request, 400, errors, user=user, role=form.get("role"), service=form.get("service")
        )
    if identity.role is Role.AGENT:
        return _sign_in_page(
            request,
            403,
            [("token", "Contact-centre agents key in calls through the agent channel")],
        )
    response = RedirectResponse(home_for(identity), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=int(SESSION.total_seconds()),
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    await _form(request)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(COOKIE, httponly=True, samesite="strict")
    return response


@router.get("/")
async def start(request: Request) -> Response:
    identity = signed_in(request)
    if identity is None or identity.role is Role.AGENT:
        return RedirectResponse("/sign-in", status_code=303)
    return RedirectResponse(home_for(identity), status_code=303)


# -- lists ---------------------------------------------------------------------------------------

SORTS = {
    "due": "Next due date (overdue first)",
    "received": "Date received (oldest first)",
    "reference": "Reference",
    "resident": "Resident",
}


def _rows(cases: list[dict[str, Any]], today: Any) -> list[dict[str, Any]]:
    rows = []
    for case in cases:
        due = words.next_due(case)
        rows.append({**case, "due": due, "due_on": due["due_on"] if due else None})
    return rows


def _sorted(rows: list[dict[str, Any]], sort: str, filters: dict[str, str]) -> list[dict[str, Any]]:
    if filters.get("service"):
        rows = [r for r in rows if r["service_area"] == filters["service"]]
    if filters.get("flag"):
        rows = [r for r in rows if filters["flag"] in (r["flags"] or [])]
    if filters.get("stage"):
        rows = [r for r in rows if str(r["stage"]) == filters["stage"]]
    if filters.get("overdue"):
        today = filters["today"]
        rows = [r for r in rows if r["due_on"] is not None and r["due_on"] < today]
    if sort == "received":
        return sorted(rows, key=lambda r: r["received_at"])
    if sort == "reference":
        return sorted(rows, key=lambda r: r["reference"])
    if sort == "resident":
        return sorted(rows, key=lambda r: (r["complainant_name"] or "").lower())
    # overdue first, then soonest due; cases without a date last, oldest first
    return sorted(
        rows,
        key=lambda r: (
            r["due_on"] is None,
            r["due_on"] or r["received_at"].date(),
            r["received_at"],
        ),
    )


def _list_context(
    request: Request, cases: list[dict[str, Any]], today: Any, default_sort: str = "due"
) -> dict[str, Any]:
    params = request.query_params
    sort = params.get("sort") or default_sort
    if sort not in SORTS:
        sort = default_sort
    filters = {
        "service": params.get("service", "")[:100],
        "flag": params.get("flag", "")[:40],
        "stage": params.get("stage", "")[:1],
        "overdue": "yes" if params.get("overdue") else "",
    }
    rows = _rows(cases, today)
    services = sorted({r["service_area"] for r in rows if r["service_area"]})
    flags = sorted({f for r in rows for f in (r["flags"] or [])})
    shown = _sorted(rows, sort, {**filters, "today": today})
    return {
        "rows": shown,
        "total": len(rows),
        "sort": sort,
        "sorts": SORTS,
        "filters": filters,
        "services": services,
        "flag_choices": flags,
        "today": today,
    }


@router.get("/caseload", response_class=HTMLResponse)
async def caseload(request: Request) -> Response:
    identity = who(request, *STAFF, Role.AUDITOR)
    runtime = runtime_of(request)
    today = london_today(runtime.clock())
    officer = identity.user
    # a manager (or auditor) may look at a colleague's caseload; an officer sees their own
    other = request.query_params.get("officer", "").strip()[:100]
    if other and identity.role in (*MANAGERS, Role.AUDITOR):
        officer = other
    cases = await store.queue(runtime.pool, "caseload", officer, None)
    return render(
        request,
        identity,
        "caseload.html",
        title="My caseload" if officer == identity.user else f"Caseload of {officer}",
        intro=f"Open cases assigned to {officer}.",
        officer_choice=officer if identity.role in (*MANAGERS, Role.AUDITOR) else None,
        **_list_context(request, cases, today),
    )


@router.get("/triage", response_class=HTMLResponse)
async def triage_queue(request: Request) -> Response:
    identity = who(request, *STAFF)
    runtime = runtime_of(request)
    today = london_today(runtime.clock())
    cases = await store.queue(runtime.pool, "triage", None, None)
    return render(
        request,
        identity,
        "caseload.html",
        title="Triage queue",
        intro="New cases waiting for triage. The acknowledgement clock is already running.",
        **_list_context(request, cases, today),
    )


@router.get("/service", response_class=HTMLResponse)
async def service_view(request: Request) -> Response:
    identity = who(request, Role.SERVICE_RESPONDER)
    assert identity.service_area is not None
    runtime = runtime_of(request)
    today = london_today(runtime.clock())
    cases = await store.open_for_service(runtime.pool, identity.service_area)
    asked = []
    for case in cases:
        for stage in case["state"].get("stages") or []:
            points = {p["point_id"]: p["text"] for p in stage.get("points", [])}
            for part in stage.get("parts", []):
                if part["service_area"] == identity.service_area:
                    asked.append(
                        {
                            "case": case,
                            "stage": stage["number"],
                            "part": part,
                            "due_on": date.fromisoformat(part["due_on"]),
                            "points": [
                                (pid, points.get(pid, "")) for pid in part.get("point_ids", [])
                            ],
                        }
                    )
    asked.sort(key=lambda a: (a["part"]["response"] is not None, a["part"]["due_on"]))
    return render(
        request,
        identity,
        "service.html",
        title=f"Cases for {identity.service_area}",
        asked=asked,
        **_list_context(request, cases, today),
    )


@router.get("/manager", response_class=HTMLResponse)
async def manager_view(request: Request) -> Response:
    identity = who(request, *MANAGERS, Role.AUDITOR)
    runtime = runtime_of(request)
    today = london_today(runtime.clock())
    approvals = await store.awaiting_approval(runtime.pool)
    overdue = await store.queue(runtime.pool, "overdue", None, today)
    at_risk = await store.due_between(runtime.pool, today, today + timedelta(days=3))
    flagged = await store.flagged(runtime.pool, RISK_FLAGS)
    return render(
        request,
        identity,
        "manager.html",
        title="Team overview",
        approvals=approvals,
        overdue=_rows(overdue, today),
        at_risk=_rows(at_risk, today),
        flagged=_rows(flagged, today),
        today=today,
    )


# -- search -------------------------------------------------------------------------------------

SEARCH_FIELDS = [
    ("reference", "Reference", "For example CMP-2026-000123"),
    ("name", "Resident's name", "Part of the name is enough"),
    ("email", "Email address", "The whole address"),
    ("postcode", "Postcode", ""),
    ("q", "Any words", "Searches the summary, name and reference"),
]


@router.get("/search", response_class=HTMLResponse)
async def search_form(request: Request) -> Response:
    identity = who(request, *READERS)
    return render(
        request,
        identity,
        "search.html",
        title="Search cases",
        fields=SEARCH_FIELDS,
        values={},
        results=None,
        errors=[],
        today=london_today(runtime_of(request).clock()),
    )


@router.post("/search", response_class=HTMLResponse)
async def search(request: Request) -> Response:
    """A POST, so a name, email or postcode searched for never lands in a URL or a log."""
    identity = who(request, *READERS)
    form = await _form(request)
    values = {name: str(form.get(name) or "").strip()[:200] for name, _, _ in SEARCH_FIELDS}
    today = london_today(runtime_of(request).clock())
    if not any(values.values()):
        return render(
            request,
            identity,
            "search.html",
            400,
            title="Search cases",
            fields=SEARCH_FIELDS,
            values=values,
            results=None,
            errors=[("reference", "Enter a reference, name, email, postcode or words")],
            today=today,
        )
    scope = identity.service_area if identity.role is Role.SERVICE_RESPONDER else None
    found = await store.search(
        runtime_of(request).pool,
        store.Search(
            q=values["q"] or None,
            reference=values["reference"] or None,
            name=values["name"] or None,
            email=values["email"] or None,
            postcode=values["postcode"][:10] or None,
            scope=scope,
            limit=100,
        ),
    )
    return render(
        request,
        identity,
        "search.html",
        title="Search cases",
        fields=SEARCH_FIELDS,
        values=values,
        results=_rows(found, today),
        errors=[],
        today=today,
    )


# -- the case ------------------------------------------------------------------------------------


async def _case(request: Request, case_id: uuid.UUID, identity: Identity) -> dict[str, Any]:
    case = await store.get_case(runtime_of(request).pool, case_id)
    if case is None:
        raise Gate(
            render(request, identity, "not_found.html", 404, title="No such case", today=None)
        )
    if not can_see(identity, case):
        # the same page whether the case exists for another service or not at all would leak
        # less, but an officer needs to know it is a permissions matter, not a typo
        raise Gate(not_allowed(request, identity, "This case is not one for your service."))
    return case


async def _held(request: Request, case_id: uuid.UUID) -> set[str]:
    async with runtime_of(request).pool.acquire() as conn:
        return await store.evidence_held(conn, case_id)


async def _letters(request: Request, case_id: uuid.UUID) -> list[dict[str, Any]]:
    return await store.letters(runtime_of(request).pool, case_id)


async def _history(request: Request, case_id: uuid.UUID) -> list[Any]:
    async with runtime_of(request).pool.acquire() as conn:
        return await eventstore.load_stream(conn, stream_id(case_id))


def notifications_url(request: Request) -> str:
    configured = settings.current().notifications_url
    if configured:
        return configured.rstrip("/")
    return _same_host(request, "notifications")


def _same_host(request: Request, service: str) -> str:
    host = request.url.hostname or "localhost"
    return f"{request.url.scheme}://{host}:{service_port(service)}"


def evidence_links(
    request: Request, case_id: uuid.UUID, evidence: list[Any], held: set[str]
) -> dict[str, str]:
    """Where a browser downloads each file: an officer's upload from casework, an email's
    attachment or a letter's scan from intake (the same sign-in cookie opens both)."""
    links = {}
    for _, p in evidence:
        eid = p["evidence_id"]
        if eid in held:
            links[eid] = f"/v1/cases/{case_id}/evidence/{eid}"
        else:
            path = INTAKE_ATTACHMENT_PATH.format(attachment_id=eid)
            links[eid] = _same_host(request, "intake") + path
    return links


def suggested(case: dict[str, Any], role: Role) -> list[str]:
    """The next step or two for the case as it stands: one click from the case page."""
    state = case["state"]
    lifecycle = state["lifecycle"]
    out: list[str] = []
    if lifecycle == "closed":
        out = ["reopen"]
    elif lifecycle == "new":
        out = ["triage", "not-accepted", "redirect"]
    else:
        stage = forms._current_stage(case)
        if state.get("kind") in ("compliment", "comment"):
            out = ["pass-to-service"]
        elif not state.get("officer"):
            out.append("assign")
        if state.get("kind") not in ("compliment", "comment"):
            if not stage.get("acknowledged_on"):
                out.append("acknowledge")
            elif not stage.get("issued_on"):
                outstanding = [p for p in stage.get("parts", []) if p.get("response") is None]
                if outstanding:
                    out += ["service-responses", "service-chasers"]
                elif not stage.get("parts"):
                    out.append("service-requests")
                draft = stage.get("draft")
                if draft is None or draft.get("quality_passed") is False:
                    out.append("draft-response")
                elif draft.get("quality_passed") is None:
                    out.append("quality-check")
                else:
                    out.append("issue-response")
                if stage.get("pending_extensions"):
                    out += ["extension-approvals", "extension-refusals"]
            else:
                out += ["close", "escalate", "remedies"]
    if any(r["needs_approval"] and not r["approved"] for r in state.get("remedies") or []):
        out.append("redress-approvals")
    routes = [forms.BY_PATH[p] for p in dict.fromkeys(out)]
    return [r.path for r in routes if forms.may(role, r)]


def _case_context(
    request: Request,
    case: dict[str, Any],
    events: list[Any],
    identity: Identity,
    held: set[str],
    letters: list[dict[str, Any]],
) -> dict[str, Any]:
    state = case["state"]
    payloads = [(e, e.payload) for e in events]
    opened: dict[str, Any] = next((p for e, p in payloads if e.event_type == "CaseOpened"), {})
    drafts = [p for e, p in payloads if e.event_type == "ResponseDrafted"]
    contacts = [(e, p) for e, p in payloads if e.event_type == "ContactLogged"]
    evidence = [(e, p) for e, p in payloads if e.event_type == "EvidenceAttached"]
    groups = [
        (
            group,
            [
                forms.BY_PATH[p]
                for p in paths
                if forms.may(identity.role, forms.BY_PATH[p])
                and (identity.role is not Role.SERVICE_RESPONDER or p == "service-responses")
            ],
        )
        for group, paths in forms.GROUPS.items()
    ]
    return {
        "case": case,
        "state": state,
        "opened": opened,
        "events": list(reversed(events)),
        "latest_draft": drafts[-1] if drafts else None,
        "contacts": contacts,
        "evidence": evidence,
        "evidence_links": evidence_links(request, case["case_id"], evidence, held),
        "groups": [(g, rs) for g, rs in groups if rs],
        "suggested": [forms.BY_PATH[p] for p in suggested(case, identity.role)],
        "notifications": notifications_url(request),
        "letters": letters,
        "failed_letters": [x for x in letters if x["status"] == "failed"],
        "can_act": identity.role in (*STAFF, Role.SERVICE_RESPONDER),
        "can_upload": identity.role in STAFF,
    }


DONE = {"evidence": "Evidence attached"}


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(case_id: uuid.UUID, request: Request) -> Response:
    identity = who(request, *READERS)
    case = await _case(request, case_id, identity)
    events = await _history(request, case_id)
    done = request.query_params.get("done", "")
    return render(
        request,
        identity,
        "case.html",
        title=f"Case {case['reference']}",
        today=london_today(runtime_of(request).clock()),
        done=DONE.get(done) or (forms.BY_PATH[done].summary if done in forms.BY_PATH else ""),
        **_case_context(
            request,
            case,
            events,
            identity,
            await _held(request, case_id),
            await _letters(request, case_id),
        ),
    )


def _form_page(
    request: Request,
    identity: Identity,
    case: dict[str, Any],
    form: forms.Form,
    events: list[Any],
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: list[tuple[str, str]] | None = None,
    refusal: str = "",
    changes: list[Any] | None = None,
    version: int | None = None,
) -> HTMLResponse:
    drafts = [e.payload for e in events if e.event_type == "ResponseDrafted"]
    return render(
        request,
        identity,
        "action.html",
        status,
        title=f"{form.title}: {case['reference']}",
        case=case,
        state=case["state"],
        form=form,
        values=form.defaults if values is None else values,
        errors=errors or [],
        refusal=refusal,
        changes=changes or [],
        version=case["version"] if version is None else version,
        latest_draft=drafts[-1] if drafts else None,
        notifications=notifications_url(request),
        preview=PREVIEWS.get(form.path),
        today=london_today(runtime_of(request).clock()),
    )


#: the resident letter a command sends, which notifications can preview before it goes
PREVIEWS = {
    "acknowledge": "acknowledgement",
    "extensions": "delay_notice",
    "extension-approvals": "delay_notice",
    "draft-response": "outcome",
    "quality-check": "outcome",
    "issue-response": "outcome",
    "not-accepted": "not_accepted",
    "pass-to-service": "thanks",
}


def _route(action: str, identity: Identity, request: Request) -> Route:
    route = forms.BY_PATH.get(action)
    if route is None:
        raise Gate(
            render(request, identity, "not_found.html", 404, title="No such action", today=None)
        )
    if not forms.may(identity.role, route):
        raise Gate(
            not_allowed(
                request,
                identity,
                f"“{route.summary}” needs one of these roles: "
                + ", ".join(sorted(words.label(r.value).lower() for r in route.roles))
                + ".",
            )
        )
    return route


@router.get("/cases/{case_id}/do/{action}", response_class=HTMLResponse)
async def action_form(case_id: uuid.UUID, action: str, request: Request) -> Response:
    identity = who(request, *READERS)
    route = _route(action, identity, request)
    case = await _case(request, case_id, identity)
    events = await _history(request, case_id)
    form = forms.build(route, case, identity.user, identity.service_area)
    for name in forms.CHOSEN_BY_QUERY:
        wanted = request.query_params.get(name)
        if wanted and any(
            wanted == v
            for f in form.fields
            if f.name == name
            for i in f.inputs
            for v, _ in i.options
        ):
            form.defaults[name] = wanted
    return _form_page(request, identity, case, form, events)


@router.post("/cases/{case_id}/do/{action}", response_class=HTMLResponse)
async def act(case_id: uuid.UUID, action: str, request: Request) -> Response:
    identity = who(request, *READERS)
    route = _route(action, identity, request)
    posted = await _form(request)
    case = await _case(request, case_id, identity)
    events = await _history(request, case_id)
    form = forms.build(route, case, identity.user, identity.service_area)
    values = forms.raw_values(posted)
    try:
        version = int(str(posted.get("version") or ""))
    except ValueError:
        # without the version it was filled in against, a form could overwrite a change
        # it never saw: refuse it rather than guess
        return _form_page(
            request,
            identity,
            case,
            form,
            events,
            status=400,
            values=forms.raw_values(posted),
            refusal="the form did not say which version of the case it was filled in "
            "against; check the case as it is now and send the form again",
        )
    parsed = forms.parse(form, posted)
    body, errors = forms.validate(form, parsed)
    if errors:
        return _form_page(
            request,
            identity,
            case,
            form,
            events,
            status=400,
            values=values,
            errors=errors,
            version=version,
        )
    if version != case["version"]:
        return _stale(request, identity, case, form, events, values, version)
    runtime = runtime_of(request)
    now = runtime.clock()
    actor = c.Actor(identity.user, identity.role, identity.service_area)
    command = route.command(actor=actor, today=london_today(now), **dict(body or {}))
    try:
        await execute(
            runtime.pool,
            service=runtime.service,
            case_id=case_id,
            command=command,
            expected_version=version,
            now=now,
            correlation_id=uuid.uuid4(),
        )
    except CaseNotFound:
        raise Gate(
            render(request, identity, "not_found.html", 404, title="No such case", today=None)
        ) from None
    except CommandRefused as refused:
        if refused.current_version != version:
            fresh = await _case(request, case_id, identity)
            return _stale(
                request, identity, fresh, form, await _history(request, case_id), values, version
            )
        return _form_page(
            request,
            identity,
            case,
            form,
            events,
            status=409,
            values=values,
            refusal=refused.reason,
            version=version,
        )
    return RedirectResponse(f"/cases/{case_id}?done={route.path}", status_code=303)


def _stale(
    request: Request,
    identity: Identity,
    case: dict[str, Any],
    form: forms.Form,
    events: list[Any],
    values: dict[str, Any],
    version: int,
) -> HTMLResponse:
    """Someone else changed the case after this form was opened: say what they did, keep what
    this officer typed, and let them decide again against the case as it now is."""
    changes = [e for e in events if e.stream_version > version]
    return _form_page(
        request,
        identity,
        case,
        form,
        events,
        status=409,
        values=values,
        changes=changes,
        version=case["version"],
    )


@router.post("/cases/{case_id}/evidence", response_class=HTMLResponse)
async def upload_evidence(case_id: uuid.UUID, request: Request) -> Response:
    identity = who(request, *STAFF)
    posted = await _form(request)
    case = await _case(request, case_id, identity)
    upload = posted.get("file")
    description = str(posted.get("description") or "").strip()[:2000] or None
    if not isinstance(upload, UploadFile) or not upload.filename:
        problem = "Choose a file to attach"
    else:
        try:
            await attach_file(request, case_id, identity, upload, description)
            return RedirectResponse(f"/cases/{case_id}?done=evidence", status_code=303)
        except EvidenceRejected as rejected:
            problem = rejected.reason
        except CommandRefused as refused:
            problem = refused.reason
    events = await _history(request, case_id)
    return render(
        request,
        identity,
        "case.html",
        400,
        title=f"Case {case['reference']}",
        today=london_today(runtime_of(request).clock()),
        done="",
        upload_error=problem,
        **_case_context(
            request,
            case,
            events,
            identity,
            await _held(request, case_id),
            await _letters(request, case_id),
        ),
    )
