"""Every casework command as an HTML form, built from the command itself.

The JSON API and the workspace share one list of commands (`command_routes.ROUTES`) and one
request model per command (`command_routes.body_model`): a form is parsed into the same body
the API takes, validated by the same model and run through the same `execute`, so a rule can
never hold in one and not the other. What is here is only the part a browser needs: which
inputs a field becomes, how posted text turns back into the body, and which input an error
belongs to.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError

from contracts import Role
from contracts import case_events as ev
from contracts.events import ContactMethod
from redress.clock import LONDON
from services.casework.command_routes import ROUTES, Route, body_model
from services.casework.workspace.words import label

#: how many blank rows a list of points offers (no script adds more; a long complaint is
#: acknowledged, then its definition is corrected by acknowledging again at the next stage)
POINT_ROWS = 6

LONG_TEXT = {
    "text",
    "reasons",
    "request",
    "response",
    "summary",
    "explanation",
    "detail",
    "description",
    "note",
    "notes",
    "minutes",
    "evidence",
    "signposting",
    "contact_restriction",
    "remedy_ordered",
}

LABELS = {
    "service_area": "Service",
    "point_ids": "Points of complaint this service must answer",
    "due_on": "Due on",
    "working_days": "Working days to add",
    "contributor": "Person in the service who will answer",
    "outcomes_sought": "Outcomes the resident seeks",
    "text": "Response letter",
    "occurred_at": "When it happened",
    "with_whom": "With whom",
    "referred_to": "Referred to",
    "allowed_channels": "Contact restriction: the only routes letters may take",
    "contact_via": "Send everything through this one contact",
    "information_due_on": "Information due to the Ombudsman on",
    "compliance_due_on": "Compliance due on",
    "amount": "Amount in pounds (financial redress only)",
    "consent_received": "The resident's consent is already in",
}

HINTS = {
    "outcomes_sought": "One outcome per line.",
    "occurred_at": "Date and time, UK time.",
    "working_days": "Counted on the organisation's working days.",
    "allowed_channels": "Tick none for no restriction.",
}

#: a command field that names something already on the case, chosen from what is there
CHOOSERS = {
    ("ReceiveServiceResponse", "part_id"): "open_parts",
    ("ChaseServiceResponse", "part_id"): "open_parts",
    ("ApproveExtension", "extension_id"): "pending_extensions",
    ("RefuseExtension", "extension_id"): "pending_extensions",
    ("ApproveRedress", "remedy_id"): "unapproved_redress",
    ("PayRedress", "remedy_id"): "unpaid_redress",
    ("CompleteRemedy", "remedy_id"): "open_remedies",
    ("CompleteLearningAction", "action_id"): "open_learning",
    ("LiftFlag", "flag_id"): "active_flags",
}

#: choosers a link may preselect (``?part_id=A``): ids on the case, never personal data
CHOSEN_BY_QUERY = ("part_id", "extension_id", "remedy_id", "action_id", "flag_id")

#: a command field that is a new item's id: the next free one is filled in for the officer
NEW_IDS = {
    ("RequestServiceResponse", "part_id"): ("A", "parts"),
    ("Extend", "extension_id"): ("E", "extensions"),
    ("RecordRemedy", "remedy_id"): ("R", "remedies"),
    ("AddLearningAction", "action_id"): ("L", "learning_actions"),
    ("RaiseFlag", "flag_id"): ("F", "flags"),
    ("LogContact", "contact_id"): ("C", "contacts"),
}

#: where a command sits on the case page's list of actions
GROUPS: dict[str, list[str]] = {
    "Triage": [
        "triage",
        "assign",
        "not-accepted",
        "redirect",
        "reclassify-as-service-request",
        "pass-to-service",
    ],
    "Definition and services": [
        "acknowledge",
        "representative",
        "consent",
        "service-requests",
        "service-responses",
        "service-chasers",
    ],
    "Time": ["extensions", "extension-approvals", "extension-refusals", "pause", "resume"],
    "Response": ["draft-response", "quality-check", "issue-response", "escalate"],
    "Remedies and learning": [
        "remedies",
        "redress-approvals",
        "redress-payments",
        "remedy-completions",
        "learning-actions",
        "learning-action-completions",
    ],
    "Ombudsman": [
        "ombudsman-enquiries",
        "ombudsman-information",
        "ombudsman-decisions",
        "ombudsman-compliance",
    ],
    "Flags and contact": ["flags", "flag-lifts", "contacts"],
    "Ending": ["withdraw", "close", "reopen"],
}

BY_PATH: dict[str, Route] = {r.path: r for r in ROUTES}
MODELS: dict[str, type[BaseModel]] = {r.path: body_model(r.command) for r in ROUTES}


@dataclass(frozen=True)
class Input:
    """One control on the page."""

    name: str
    label: str
    kind: str  # text, textarea, select, checkbox, checkboxes, number, date, datetime, hidden
    required: bool = False
    options: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    width: str = ""  # a CSS class for inputs whose content is short


@dataclass(frozen=True)
class FormField:
    """One field of the command, as one input or a fieldset of several."""

    name: str
    shape: str
    inputs: tuple[Input, ...]
    legend: str = ""
    hint: str = ""


@dataclass(frozen=True)
class Form:
    route: Route
    fields: tuple[FormField, ...]
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.route.path

    @property
    def title(self) -> str:
        return self.route.summary

    def input_names(self) -> list[str]:
        return [i.name for f in self.fields for i in f.inputs if i.kind != "hidden"]


def may(role: Role, route: Route) -> bool:
    return role in route.roles


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """The type inside ``X | None``, and whether None was allowed."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return inner[0], True
    return hint, False


def _options(enum_type: type[enum.Enum]) -> tuple[tuple[str, str], ...]:
    return tuple((str(m.value), label(str(m.value))) for m in enum_type)


def _stage_points(case: Mapping[str, Any]) -> list[dict[str, Any]]:
    stages = case.get("state", {}).get("stages") or []
    for stage in reversed(stages):
        if stage.get("points"):
            return list(stage["points"])
    return []


def _current_stage(case: Mapping[str, Any]) -> dict[str, Any]:
    state = case.get("state") or {}
    stages = state.get("stages") or []
    number = state.get("stage") or 0
    return dict(stages[number - 1]) if number and len(stages) >= number else {}


def choices(case: Mapping[str, Any], which: str, identity_service: str | None) -> list[str]:
    """The ids a chooser offers, from what the case holds now."""
    state = case.get("state") or {}
    stage = _current_stage(case)
    if which == "open_parts":
        return [
            p["part_id"]
            for p in stage.get("parts", [])
            if p.get("response") is None
            and (identity_service is None or p["service_area"] == identity_service)
        ]
    if which == "pending_extensions":
        return [p["extension_id"] for p in stage.get("pending_extensions", [])]
    remedies = state.get("remedies") or []
    if which == "unapproved_redress":
        return [r["remedy_id"] for r in remedies if r["needs_approval"] and not r["approved"]]
    if which == "unpaid_redress":
        return [
            r["remedy_id"]
            for r in remedies
            if r["remedy_type"] == "financial" and r.get("paid_on") is None
        ]
    if which == "open_remedies":
        return [r["remedy_id"] for r in remedies if r.get("completed_on") is None]
    if which == "open_learning":
        return [
            a["action_id"]
            for a in state.get("learning_actions") or []
            if a.get("completed_on") is None
        ]
    if which == "active_flags":
        return [f["flag_id"] for f in state.get("flags") or [] if f.get("lifted_reason") is None]
    raise ValueError(which)


def next_id(case: Mapping[str, Any], prefix: str, where: str) -> str:
    """The next free id with this prefix: ``E1``, ``E2``... (ids are per case)."""
    state = case.get("state") or {}
    taken: set[str] = set()
    if where == "parts":
        taken = {p["part_id"] for s in state.get("stages") or [] for p in s.get("parts", [])}
    elif where == "extensions":
        for s in state.get("stages") or []:
            taken |= set(s.get("extension_ids", []))
            taken |= {p["extension_id"] for p in s.get("pending_extensions", [])}
    elif where == "remedies":
        taken = {r["remedy_id"] for r in state.get("remedies") or []}
    elif where == "learning_actions":
        taken = {a["action_id"] for a in state.get("learning_actions") or []}
    elif where == "flags":
        taken = {f["flag_id"] for f in state.get("flags") or []}
    elif where == "contacts":
        taken = set(state.get("contacts") or [])
    n = 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def build(route: Route, case: Mapping[str, Any], user: str, service: str | None = None) -> Form:
    """The form for one command on one case, with the values worth filling in already."""
    command = route.command
    hints = typing.get_type_hints(command)
    fields: list[FormField] = []
    defaults: dict[str, Any] = {}
    for f in dataclasses.fields(command):
        if f.name in ("actor", "today"):
            continue
        hint, optional = _unwrap(hints[f.name])
        required = (
            f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and not optional
        )
        key = (command.__name__, f.name)
        name = f.name
        title = LABELS.get(name, label(name))
        hint_text = HINTS.get(name, "")
        if key in CHOOSERS:
            ids = choices(case, CHOOSERS[key], service)
            opts = tuple((i, i) for i in ids)
            fields.append(
                FormField(name, "scalar", (Input(name, title, "select", True, opts, hint_text),))
            )
            if ids:
                defaults[name] = ids[0]
            continue
        if key in NEW_IDS:
            prefix, where = NEW_IDS[key]
            fields.append(FormField(name, "scalar", (Input(name, title, "hidden"),)))
            defaults[name] = next_id(case, prefix, where)
            continue
        if name == "points":
            rows = tuple(
                Input(f"points.{i}", f"Point {i + 1}", "textarea", required and i == 0)
                for i in range(POINT_ROWS)
            )
            fields.append(
                FormField(
                    name,
                    "points",
                    rows,
                    legend="Points of complaint",
                    hint="One point per box; leave the rest empty.",
                )
            )
            for i, point in enumerate(_stage_points(case)[:POINT_ROWS]):
                defaults[f"points.{i}"] = point["text"]
            continue
        if name == "point_outcomes":
            inputs: list[Input] = []
            for point in _stage_points(case):
                pid = point["point_id"]
                inputs.append(
                    Input(
                        f"point_outcomes.{pid}.outcome",
                        f"Outcome for point {pid}: {point['text']}",
                        "select",
                        True,
                        (("", "Choose an outcome"), *_options(ev.Outcome)),
                    )
                )
                inputs.append(
                    Input(
                        f"point_outcomes.{pid}.reasons",
                        f"Reasons for point {pid}",
                        "textarea",
                        True,
                    )
                )
            fields.append(
                FormField(
                    name,
                    "point_outcomes",
                    tuple(inputs),
                    legend="Outcome for each point of complaint",
                    hint=""
                    if inputs
                    else "The case has no points of complaint yet: acknowledge it first.",
                )
            )
            continue
        if name == "point_ids":
            opts = tuple(
                (p["point_id"], f"{p['point_id']}: {p['text']}") for p in _stage_points(case)
            )
            fields.append(
                FormField(
                    name,
                    "list",
                    (Input(name, title, "checkboxes", False, opts),),
                    legend=title,
                )
            )
            continue
        if name == "allowed_channels":
            opts = (*_options(ContactMethod), ("none", "None: no letters at all"))
            fields.append(
                FormField(
                    name,
                    "channels",
                    (Input(name, title, "checkboxes", False, opts, hint_text),),
                    legend=title,
                    hint=hint_text,
                )
            )
            continue
        if isinstance(hint, type) and issubclass(hint, ev.Location):
            inputs = [
                Input("location.address", "Address complained about", "text"),
                Input("location.postcode", "Postcode", "text", width="short"),
                Input("location.ward", "Ward (found from the postcode if empty)", "text"),
            ]
            fields.append(FormField(name, "model", tuple(inputs), legend="Location (optional)"))
            loc = (case.get("state") or {}).get("location") or {}
            for part in ("address", "postcode", "ward"):
                if loc.get(part):
                    defaults[f"location.{part}"] = loc[part]
            if not loc.get("postcode") and case.get("postcode"):
                defaults["location.postcode"] = case["postcode"]
            continue
        if isinstance(hint, type) and issubclass(hint, ev.QualityChecklist):
            inputs = [
                Input(f"checklist.{n}", _CHECKLIST[n], "checkbox")
                for n in ev.QualityChecklist.model_fields
            ]
            fields.append(
                FormField(
                    name,
                    "model",
                    tuple(inputs),
                    legend="Quality checklist (HOS Code 6.7, 6.17 to 6.19)",
                    hint="Tick each one the draft meets. A draft passes only if all are met.",
                )
            )
            continue
        origin = typing.get_origin(hint)
        if origin is tuple:
            fields.append(
                FormField(
                    name,
                    "lines",
                    (Input(name, title, "textarea", required, hint=hint_text or "One per line."),),
                )
            )
            continue
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            opts = _options(hint)
            if optional:
                opts = (("", "None"), *opts)
            fields.append(
                FormField(name, "scalar", (Input(name, title, "select", required, opts),))
            )
            continue
        kind, width = "text", ""
        shape = "scalar"
        if hint is bool:
            kind, shape = "checkbox", "bool"
        elif hint is int:
            kind, width = "number", "short"
        elif hint is Decimal:
            kind, width = "text", "short"
        elif hint is date:
            kind = "date"
        elif hint is datetime:
            kind, shape = "datetime", "datetime"
        elif name in LONG_TEXT:
            kind = "textarea"
        fields.append(
            FormField(
                name,
                shape,
                (Input(name, title, kind, required and kind != "checkbox", (), hint_text, width),),
            )
        )
    defaults.update(_prefill(route, case, user))
    return Form(route, tuple(fields), defaults)


_CHECKLIST = {
    "every_point_answered": "Every point of complaint is answered",
    "plain_english": "It is in plain English",
    "remedy_stated": "The remedy (or why there is none) is stated",
    "signposting_present": "It says what to do next, and about the Ombudsman",
}


def _prefill(route: Route, case: Mapping[str, Any], user: str) -> dict[str, Any]:
    state = case.get("state") or {}
    if route.path == "triage":
        return {
            k: v
            for k, v in {
                "kind": state.get("kind"),
                "procedure": state.get("procedure"),
                "service_area": state.get("service_area") or case.get("service_area"),
                "category": state.get("category"),
                "complexity": state.get("complexity") or "simple",
                "priority": state.get("priority") or "normal",
            }.items()
            if v
        }
    if route.path == "assign":
        return {"officer": state.get("officer") or user, "service_area": case.get("service_area")}
    if route.path in ("service-requests", "pass-to-service", "reclassify-as-service-request"):
        return {"service_area": case.get("service_area") or ""}
    return {}


# -- reading a posted form ----------------------------------------------------------------------


@dataclass
class Parsed:
    body: dict[str, Any]
    #: which input an error at a model location belongs to
    where: dict[tuple[Any, ...], str]


def _text(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse(form_def: Form, form: Any) -> Parsed:
    """The posted values as the body the JSON API would take. ``form`` is Starlette's
    multi-dict (``getlist`` for checkboxes)."""
    body: dict[str, Any] = {}
    where: dict[tuple[Any, ...], str] = {}
    for f in form_def.fields:
        first = f.inputs[0].name if f.inputs else f.name
        where[(f.name,)] = first
        if f.shape == "scalar":
            value = _text(form, f.name)
            if value is not None:
                body[f.name] = value
        elif f.shape == "bool":
            body[f.name] = form.get(f.name) in ("on", "true", "yes")
        elif f.shape == "datetime":
            value = _text(form, f.name)
            if value is not None:
                body[f.name] = _london(value)
        elif f.shape == "lines":
            lines = [ln.strip() for ln in str(form.get(f.name) or "").splitlines()]
            items = [ln for ln in lines if ln]
            if items or any(i.required for i in f.inputs):
                body[f.name] = items
        elif f.shape == "list":
            body[f.name] = [str(v) for v in form.getlist(f.name)]
        elif f.shape == "channels":
            ticked = [str(v) for v in form.getlist(f.name)]
            if "none" in ticked:
                body[f.name] = []
            elif ticked:
                body[f.name] = ticked
        elif f.shape == "points":
            points: list[dict[str, Any]] = []
            for i in f.inputs:
                text = _text(form, i.name)
                if text is not None:
                    where[(f.name, len(points))] = i.name
                    points.append({"point_id": str(len(points) + 1), "text": text})
            body[f.name] = points
        elif f.shape == "point_outcomes":
            outcomes: list[dict[str, Any]] = []
            for i in f.inputs[::2]:
                pid = i.name.split(".")[1]
                where[(f.name, len(outcomes), "outcome")] = i.name
                where[(f.name, len(outcomes), "reasons")] = f"point_outcomes.{pid}.reasons"
                where[(f.name, len(outcomes))] = i.name
                outcomes.append(
                    {
                        "point_id": pid,
                        "outcome": _text(form, i.name),
                        "reasons": _text(form, f"point_outcomes.{pid}.reasons"),
                    }
                )
            body[f.name] = outcomes
        elif f.shape == "model":
            sub: dict[str, Any] = {}
            for i in f.inputs:
                part = i.name.split(".", 1)[1]
                where[(f.name, part)] = i.name
                if i.kind == "checkbox":
                    sub[part] = form.get(i.name) in ("on", "true", "yes")
                else:
                    text = _text(form, i.name)
                    if text is not None:
                        sub[part] = text
            if any(v for v in sub.values()) or f.name == "checklist":
                body[f.name] = sub
    return Parsed(body, where)


def _london(value: str) -> str:
    """A ``datetime-local`` value is UK time; the command wants an aware instant."""
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        return value  # the model names it as not a date and time
    if naive.tzinfo is None:
        naive = naive.replace(tzinfo=LONDON)
    return naive.isoformat()


def raw_values(form: Any) -> dict[str, Any]:
    """What the officer typed, to put back in the form: nothing they wrote is lost."""
    values: dict[str, Any] = {}
    for key in form.keys():
        items = form.getlist(key)
        values[key] = items if len(items) > 1 else (items[0] if items else "")
    return values


def validate(form_def: Form, parsed: Parsed) -> tuple[BaseModel | None, list[tuple[str, str]]]:
    """The API's own request model over the parsed body: the validated body, or each error
    as (input name, message) in the order of the form."""
    model = MODELS[form_def.path]
    try:
        return model.model_validate(parsed.body), []
    except ValidationError as invalid:
        labels = {i.name: i.label for f in form_def.fields for i in f.inputs}
        legends = {f.name: f.legend or f.inputs[0].label for f in form_def.fields if f.inputs}
        errors: list[tuple[str, str]] = []
        for err in invalid.errors():
            loc = tuple(err["loc"])
            name = _input_for(loc, parsed.where)
            what = labels.get(name) or legends.get(str(loc[0]), label(str(loc[0])))
            errors.append((name, _message(err, what)))
        order = {n: i for i, n in enumerate(form_def.input_names())}
        errors.sort(key=lambda e: order.get(e[0], len(order)))
        return None, _unique(errors)


def _unique(errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for name, message in errors:
        if name not in seen:
            seen.add(name)
            out.append((name, message))
    return out


def _input_for(loc: tuple[Any, ...], where: dict[tuple[Any, ...], str]) -> str:
    for n in range(len(loc), 0, -1):
        if loc[:n] in where:
            return where[loc[:n]]
    return str(loc[0])


def _message(err: Any, what: str) -> str:
    kind = err["type"]
    thing = what[:1].lower() + what[1:]
    if kind in ("missing", "string_too_short"):
        return f"Enter {thing}"
    if kind == "too_short":
        return f"Enter at least one: {thing}"
    if kind in ("enum", "literal_error"):
        return f"Choose {thing}"
    if kind.startswith("date") or kind.startswith("datetime"):
        return f"{what} must be a real date, like 2026-03-09"
    if kind.startswith("int"):
        return f"{what} must be a whole number"
    if kind.startswith("decimal"):
        return f"{what} must be an amount in pounds, like 50.00"
    if kind == "string_too_long":
        return f"{what} is too long"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{what}: {message}"
