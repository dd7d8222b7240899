"""The staff API's commands: one POST endpoint per thing an officer can do to a case.

Each route is generated from its domain command (the request body is the command's own fields,
so the API and the rules cannot drift apart), answers 409 with the rule a refused command broke
and the case's current version, 404 for an unknown case, 401/403 for a missing token or role.
Send ``If-Match: <version>`` to be told, rather than to overwrite, when someone else got there
first.
"""

import dataclasses
import json
import typing
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, create_model

from contracts import Role
from redress.auth import STAFF, Identity, require
from redress.clock import london_today
from redress.service import runtime_of
from services.casework.commanding import CaseNotFound, CommandRefused, execute
from services.casework.domain import commands as c

router = APIRouter(prefix="/v1/cases", tags=["case commands"])


@dataclass(frozen=True)
class Route:
    path: str
    command: type[c.Command]
    summary: str
    roles: tuple[Role, ...] = STAFF
    example: dict[str, Any] = field(default_factory=dict)


MANAGERS = (Role.MANAGER, Role.ADMIN)

ROUTES: list[Route] = [
    Route(
        "triage",
        c.Triage,
        "Triage: kind, procedure, service, category, priority, location",
        example={
            "kind": "complaint",
            "procedure": "housing_ombudsman",
            "service_area": "repairs",
            "category": "repairs - missed appointment",
            "complexity": "simple",
            "priority": "normal",
            "location": {"address": "10 Mill Lane", "postcode": "M1 1AE"},
        },
    ),
    Route(
        "not-accepted",
        c.NotAccept,
        "Record that the complaint is not accepted, and why",
        example={
            "reason": "outside_time_limit",
            "explanation": "The events were in 2023.",
            "signposting": "You can ask the Housing Ombudsman to look at this.",
        },
    ),
    Route(
        "redirect",
        c.Redirect,
        "Redirect (an FOI or subject access request, say)",
        example={"target": "subject_access", "destination": "information governance team"},
    ),
    Route(
        "reclassify-as-service-request",
        c.ReclassifyAsServiceRequest,
        "Record that this is a first request for service, and pass it on",
        example={"service_area": "repairs", "note": "First report of the leak; job raised."},
    ),
    Route(
        "pass-to-service",
        c.PassToService,
        "Pass a compliment or comment on, and close it",
        example={"service_area": "parks"},
    ),
    Route(
        "assign",
        c.Assign,
        "Assign or reassign the case to an officer (and service)",
        example={"officer": "olivia", "service_area": "repairs"},
    ),
    Route(
        "service-requests",
        c.RequestServiceResponse,
        "Ask a service for its part of the response, by a date",
        example={
            "part_id": "A",
            "service_area": "repairs",
            "contributor": "ravi",
            "point_ids": ["1"],
            "due_on": "2026-03-09",
            "request": "Why were three appointments missed?",
        },
    ),
    Route(
        "service-responses",
        c.ReceiveServiceResponse,
        "A service answers its part",
        roles=(*STAFF, Role.SERVICE_RESPONDER),
        example={"part_id": "A", "response": "The contractor's van broke down twice..."},
    ),
    Route(
        "service-chasers",
        c.ChaseServiceResponse,
        "Chase a service whose part is late",
        example={"part_id": "A", "note": "Reminder sent by email"},
    ),
    Route(
        "acknowledge",
        c.Acknowledge,
        "Acknowledge, with the case definition: points of complaint and outcomes sought",
        example={
            "points": [{"point_id": "1", "text": "Three missed repair appointments"}],
            "outcomes_sought": ["Boiler repaired", "Compensation"],
        },
    ),
    Route(
        "representative",
        c.RecordRepresentative,
        "Record someone complaining for the resident, and whether consent is in",
        example={"name": "Cllr Jane Jones", "role": "councillor", "consent_received": False},
    ),
    Route(
        "consent",
        c.RecordConsent,
        "The resident's consent has arrived",
        example={"note": "Signed consent form received"},
    ),
    Route(
        "extensions",
        c.Extend,
        "Extend the response deadline, with the reason",
        example={
            "extension_id": "E1",
            "working_days": 5,
            "reason": "Waiting for the surveyor's report",
        },
    ),
    Route(
        "extension-approvals",
        c.ApproveExtension,
        "A manager approves a requested extension",
        roles=MANAGERS,
        example={"extension_id": "E1"},
    ),
    Route(
        "extension-refusals",
        c.RefuseExtension,
        "A manager refuses a requested extension",
        roles=MANAGERS,
        example={"extension_id": "E1", "reason": "Not justified"},
    ),
    Route(
        "pause",
        c.PauseClock,
        "Stop the clock, where the procedure allows",
        example={"reason": "Waiting for the resident's medical evidence"},
    ),
    Route("resume", c.ResumeClock, "Restart the clock"),
    Route(
        "draft-response",
        c.DraftResponse,
        "Draft the response, with an outcome per point",
        example={
            "text": "Dear Ms Resident, ...",
            "point_outcomes": [
                {"point_id": "1", "outcome": "upheld", "reasons": "Appointments were missed."}
            ],
        },
    ),
    Route(
        "quality-check",
        c.CheckQuality,
        "Quality-check the latest draft against the checklist",
        example={
            "checklist": {
                "every_point_answered": True,
                "plain_english": True,
                "remedy_stated": True,
                "signposting_present": True,
            }
        },
    ),
    Route("issue-response", c.IssueResponse, "Issue the checked response to the resident"),
    Route(
        "remedies",
        c.RecordRemedy,
        "Record a remedy (financial redress needs approval)",
        example={
            "remedy_id": "R1",
            "remedy_type": "financial",
            "amount": "50.00",
            "description": "For time and trouble",
        },
    ),
    Route(
        "redress-approvals",
        c.ApproveRedress,
        "A manager approves financial redress",
        roles=MANAGERS,
        example={"remedy_id": "R1"},
    ),
    Route(
        "redress-payments",
        c.PayRedress,
        "Record that redress was paid",
        example={"remedy_id": "R1"},
    ),
    Route(
        "remedy-completions",
        c.CompleteRemedy,
        "Record that a remedy action was done",
        example={"remedy_id": "R2", "note": "Door replaced"},
    ),
    Route(
        "learning-actions",
        c.AddLearningAction,
        "Add a learning action with owner and date",
        example={
            "action_id": "L1",
            "description": "Text residents before visits",
            "owner": "repairs manager",
            "due_on": "2026-06-30",
        },
    ),
    Route(
        "learning-action-completions",
        c.CompleteLearningAction,
        "Record a learning action as done",
        example={"action_id": "L1"},
    ),
    Route(
        "escalate",
        c.Escalate,
        "Escalate to the next stage, with the resident's reasons",
        example={"reasons": "The boiler is still broken"},
    ),
    Route(
        "ombudsman-enquiries",
        c.RecordOmbudsmanEnquiry,
        "Record an Ombudsman enquiry or investigation",
        example={
            "body": "housing_ombudsman",
            "ombudsman_reference": "202612345",
            "stage": "investigation",
            "information_due_on": "2026-07-01",
        },
    ),
    Route(
        "ombudsman-information",
        c.ProvideOmbudsmanInformation,
        "Record the information sent to the Ombudsman",
        example={"summary": "Case file, both responses and repair records"},
    ),
    Route(
        "ombudsman-decisions",
        c.RecordOmbudsmanDecision,
        "Record the Ombudsman's decision",
        example={
            "finding": "service_failure",
            "remedy_ordered": "Pay £150",
            "compliance_due_on": "2026-09-01",
        },
    ),
    Route(
        "ombudsman-compliance",
        c.CompleteOmbudsmanCompliance,
        "Record compliance with the Ombudsman's order",
        example={"evidence": "Paid 20 August; evidence sent to the Ombudsman"},
    ),
    Route(
        "flags",
        c.RaiseFlag,
        "Raise a flag: safeguarding, data protection, vulnerability, "
        "adjustments, risk, unreasonable behaviour",
        example={
            "flag_id": "F1",
            "flag_type": "safeguarding",
            "detail": "Mentions an elderly neighbour without heating",
            "referred_to": "adult safeguarding hub",
        },
    ),
    Route("flag-lifts", c.LiftFlag, "Lift a flag", example={"flag_id": "F1", "reason": "Closed"}),
    Route(
        "contacts",
        c.LogContact,
        "Log a call, email, letter, meeting or visit",
        example={
            "contact_id": "C1",
            "contact_kind": "call",
            "occurred_at": "2026-03-03T10:15:00Z",
            "with_whom": "resident",
            "summary": "Agreed the points of complaint",
        },
    ),
    Route(
        "withdraw",
        c.Withdraw,
        "The resident withdraws the complaint",
        example={"reason": "Resolved informally"},
    ),
    Route("close", c.Close, "Close the case", example={"reason": "Final response issued"}),
    Route("reopen", c.Reopen, "Reopen a closed case", example={"reason": "New information"}),
]

_SKIP = {"actor", "today"}


def body_model(command: type[c.Command]) -> type[Any]:
    """A pydantic request model with exactly the command's own fields."""
    hints = typing.get_type_hints(command)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(command):
        if f.name in _SKIP:
            continue
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], f.default)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (hints[f.name], ...)
    model: type[Any] = create_model(
        f"{command.__name__}Request", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model


def expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    try:
        return int(raw)
    except ValueError:
        raise HTTPException(400, detail='If-Match must be the case version, e.g. "7"') from None


def _endpoint(route: Route, model: type[Any]):  # type: ignore[no-untyped-def]
    optional = all(not f.is_required() for f in model.model_fields.values())
    body_default = Body(default=None) if optional else Body(...)

    async def endpoint(
        case_id: uuid.UUID,
        request: Request,
        body: model = body_default,  # type: ignore[valid-type]
        identity: Identity = Depends(require(*route.roles)),
        if_match: str | None = Header(None),
    ) -> Any:
        runtime = runtime_of(request)
        now = runtime.clock()
        actor = c.Actor(identity.user, identity.role, identity.service_area)
        values: dict[str, Any] = dict(body) if body is not None else {}
        command = route.command(actor=actor, today=london_today(now), **values)
        try:
            outcome = await execute(
                runtime.pool,
                service=runtime.service,
                case_id=case_id,
                command=command,
                expected_version=expected_version(if_match),
                now=now,
                correlation_id=uuid.uuid4(),
            )
        except CaseNotFound:
            raise HTTPException(404, detail="no such case") from None
        except CommandRefused as refused:
            return JSONResponse(
                {"detail": refused.reason, "current_version": refused.current_version},
                status_code=409,
                headers={"ETag": f'"{refused.current_version}"'},
            )
        version = outcome.state.version
        events = json.dumps([e.event_type for e in outcome.events], separators=(",", ":"))
        # the case as it was just stored, its JSON text as it is (encoded once, in `execute`)
        body = (
            f'{{"case_id":"{case_id}","version":{version},"events":{events},"case":{outcome.view}}}'
        )
        return Response(
            body.encode(), media_type="application/json", headers={"ETag": f'"{version}"'}
        )

    endpoint.__doc__ = route.summary
    return endpoint


for _route in ROUTES:
    _model = body_model(_route.command)
    if _route.example:
        _model.model_config["json_schema_extra"] = {"examples": [_route.example]}
    router.add_api_route(
        f"/{{case_id}}/{_route.path}",
        _endpoint(_route, _model),
        methods=["POST"],
        summary=_route.summary,
        name=_route.command.__name__,
        responses={
            404: {"description": "No such case"},
            409: {
                "description": "Not allowed in the case's current state, or the case moved "
                "on; the body gives the rule and the current version"
            },
        },
    )
