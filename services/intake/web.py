"""The public web form, its confirmation page and the tracking page: plain HTML that works with
no JavaScript at all, for residents.

The form posts here; a good form becomes the JSON API's `SubmissionRequest` and goes through the
same `_take` as every other channel, so casework sees one `FeedbackSubmitted` on channel web.
"""

from __future__ import annotations

import secrets
import string
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from redress import ratelimit
from redress.clock import london_today
from redress.service import runtime_of
from redress.web import CSRF_FIELD, csrf_ok, csrf_refused, page, templates
from services.intake import tracking
from services.intake.api import SubmissionReceipt, SubmissionRequest, _take
from services.intake.domain.form import ADJUSTMENTS, CONTACT_METHODS, KINDS, FieldError, read_form
from services.intake.domain.tracking import Ending, Status

router = APIRouter(include_in_schema=False)
_FOLDER = Path(__file__).parent / "templates"
env = templates(_FOLDER)
_CSS = (_FOLDER / "intake.css").read_text("utf-8")

#: a form is a few kilobytes; anything much bigger is not a resident typing
MAX_FORM_BYTES = 100_000
_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "-_")

_KIND_LABELS = {k: label for k, label, _ in KINDS} | {"member_enquiry": "Enquiry"}


@router.get("/assets/intake.css")
async def stylesheet() -> Response:
    return Response(_CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/", response_class=HTMLResponse)
async def form(request: Request) -> HTMLResponse:
    return await _form_page(request, {}, [], secrets.token_urlsafe(24))


@router.post("/", response_class=HTMLResponse)
async def send(request: Request) -> Response:
    verdict = await ratelimit.check(request, "submit")
    if not verdict.allowed:
        return _too_many(request, verdict, form=True)
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        return HTMLResponse("The form was too large to send.", status_code=413)
    data = await request.form(max_files=0, max_fields=100)
    if not csrf_ok(request, _one(data, CSRF_FIELD)):
        return csrf_refused()
    values = _values(data)
    key = _one(data, "submission_key")
    if not (20 <= len(key) <= 64 and set(key) <= _KEY_CHARS):
        key = secrets.token_urlsafe(24)

    runtime = runtime_of(request)
    known = [o.organisation_id for o in await tracking.organisations(runtime.pool)]
    result = read_form(values, known, london_today(runtime.clock()))
    if result.request is None:
        return await _form_page(request, values, result.errors, key, status_code=400)
    try:
        body = SubmissionRequest.model_validate(result.request)
    except ValidationError as exc:
        # the form's own rules should have caught it; say so plainly rather than fail
        errors = [FieldError("summary", _plain(err)) for err in exc.errors()]
        return await _form_page(request, values, errors, key, status_code=400)

    fields = body.model_dump(exclude={"received_at"})
    # the same form sent twice (a double click) is one submission
    taken = await _take(request, fields, None, "channel:web", f"web-form:{key}")
    if not isinstance(taken, SubmissionReceipt):
        # the page came back with other answers under the same key (the resident went back
        # and changed it): a submission of its own, unless the duplicate rule links it
        taken = await _take(
            request, fields, None, "channel:web", f"web-form:{secrets.token_urlsafe(24)}"
        )
    assert isinstance(taken, SubmissionReceipt)  # no received_at, so never in the future
    token = await tracking.issue_token(runtime.pool, taken.submission_id, runtime.clock())
    return RedirectResponse(f"/submitted/{token}", status_code=303)


@router.get("/submitted/{token}", response_class=HTMLResponse)
async def confirmation(token: str, request: Request) -> Response:
    verdict = await ratelimit.check(request, "read")
    if not verdict.allowed:
        return _too_many(request, verdict)
    status = await tracking.status_for(runtime_of(request).pool, token)
    if status is None:
        return page(request, env, "not_found.html", status_code=404)
    return page(
        request,
        env,
        "confirmation.html",
        kind=status.kind.value,
        kind_label=_KIND_LABELS[status.kind.value],
        receipt=str(status.submission_id),
        received=_when(status.received_at),
        reference=status.reference,
        track_path=f"/track/{token}",
        track_url=str(request.url_for("track", token=token)),
    )


@router.get("/track/{token}", response_class=HTMLResponse, name="track")
async def track(token: str, request: Request) -> Response:
    verdict = await ratelimit.check(request, "read")
    if not verdict.allowed:
        return _too_many(request, verdict)
    status = await tracking.status_for(runtime_of(request).pool, token)
    if status is None:
        return page(request, env, "not_found.html", status_code=404)
    due = status.next_due
    return page(
        request,
        env,
        "status.html",
        status=status,
        kind_label=_KIND_LABELS[status.kind.value],
        received=_when(status.received_at),
        due=tracking.long_date(due.due_on) if due and due.due_on else None,
        due_label=tracking.due_label(due) if due else "",
        explanation=_explanation(status.status, status.ending, status.kind.value),
    )


async def _form_page(
    request: Request,
    values: dict[str, Any],
    errors: list[FieldError],
    key: str,
    status_code: int = 200,
) -> HTMLResponse:
    organisations = await tracking.organisations(runtime_of(request).pool)
    return page(
        request,
        env,
        "form.html",
        status_code=status_code,
        values=values,
        error_list=errors,
        errors={e.field: e.message for e in errors},
        organisations=organisations,
        kinds=KINDS,
        contact_methods=CONTACT_METHODS,
        adjustments=ADJUSTMENTS,
        submission_key=key,
    )


def _too_many(request: Request, verdict: ratelimit.Verdict, form: bool = False) -> HTMLResponse:
    response = page(
        request,
        env,
        "too_many.html",
        status_code=429,
        retry_after=verdict.retry_after,
        form=form,
    )
    response.headers["Retry-After"] = str(verdict.retry_after)
    return response


def _one(data: FormData, name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _values(data: FormData) -> dict[str, Any]:
    """What the resident typed, to check and to show back to them if something needs fixing.
    Checkbox groups keep every ticked value; everything else its one value."""
    values: dict[str, Any] = {}
    for name in set(data.keys()) - {CSRF_FIELD, "submission_key"}:
        texts = [v for v in data.getlist(name) if isinstance(v, str)]
        values[name] = texts if name == "adjustments" else (texts[0] if texts else "")
    return values


def _plain(err: Any) -> str:
    where = " ".join(str(p) for p in err.get("loc", ()) if isinstance(p, str)).replace("_", " ")
    return f"Check {where or 'your answers'}: {err.get('msg', 'not valid')}"


def _when(moment: Any) -> str:
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo("Europe/London"))
    return f"{local.day} {local:%B %Y} at {local:%H:%M}"


_EXPLANATIONS = {
    Status.RECEIVED: "We have your {kind}. We will log it and give it a reference soon.",
    Status.CASE_OPENED: "We have logged your {kind} and given it a reference. "
    "Someone will look at it and contact you.",
    Status.ACKNOWLEDGED: "We have acknowledged your {kind} and agreed what we are looking "
    "into. We are investigating and will send you our response.",
    Status.RESPONDED: "We have sent you our response. If you are not happy with it, you can ask "
    "us to look at it again: reply to our response to tell us why.",
    Status.ESCALATED: "You asked us to look at it again, so it has moved to the next stage. "
    "We will contact you about it.",
}
_ENDINGS = {
    Ending.CLOSED: "We have finished dealing with your {kind}.",
    Ending.WITHDRAWN: "Your {kind} was withdrawn.",
    Ending.NOT_ACCEPTED: "We could not take this {kind} forward under our complaints "
    "procedure. We have written to you to explain why and where else you can go.",
    Ending.REDIRECTED: "It is something another organisation deals with. We have told you "
    "who to contact.",
    Ending.SERVICE_REQUEST: "We are dealing with it as a request for a service rather than a "
    "complaint, so the team that provides the service will contact you.",
    Ending.PASSED_TO_SERVICE: "We have passed your {kind} to the team it is about. Thank you "
    "for telling us.",
}


def _explanation(status: Status, ending: Ending | None, kind: str) -> str:
    label = _KIND_LABELS.get(kind, kind).lower()
    if status is Status.CLOSED:
        return _ENDINGS[ending or Ending.CLOSED].format(kind=label)
    return _EXPLANATIONS[status].format(kind=label)
