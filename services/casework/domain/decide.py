"""``decide(state, command)``: the events a command produces, or a `Rejection` naming the rule
it broke. Pure: everything it needs comes in with the state and the command."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from contracts import Attachment, CaseOpened, Channel, EventPayload, FeedbackKind, Role
from contracts import case_events as ev
from contracts.events import TriageHint, postcode_district
from contracts.procedures import PROCEDURES, ProcedureRules, outside_time_limit
from services.casework.domain import commands as c
from services.casework.domain.case import Case, Lifecycle, case_id_for

Decision = list[EventPayload] | c.Rejection

#: kinds that get a full complaints process; compliments and comments are logged and passed on
HANDLED_KINDS = frozenset({FeedbackKind.COMPLAINT, FeedbackKind.MEMBER_ENQUIRY})
_MANAGERS = frozenset({Role.MANAGER, Role.ADMIN})
_LONDON = ZoneInfo("Europe/London")
#: where staff download a file intake keeps (intake's API; casework never holds the bytes)
INTAKE_ATTACHMENT_PATH = "/v1/attachments/{attachment_id}"


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise _Refused(reason)


def decide(state: Case, command: c.Command) -> Decision:
    handler = _HANDLERS.get(type(command))
    if handler is None:
        raise TypeError(f"no rule for {type(command).__name__}")
    if not isinstance(command, c.OpenCase):
        if state.lifecycle is Lifecycle.NOT_OPENED:
            return c.Rejection("there is no such case")
    try:
        return handler(state, command)
    except _Refused as refused:
        return c.Rejection(refused.reason)


# -- helpers ------------------------------------------------------------------------------------


def _open(state: Case) -> None:
    _require(not state.is_closed, f"case {state.reference} is closed; reopen it first")


def _triaged(state: Case) -> None:
    _open(state)
    _require(state.lifecycle is Lifecycle.OPEN, "the case must be triaged first")


def _handled_kind(state: Case) -> None:
    _require(
        state.kind in HANDLED_KINDS,
        f"a {state.kind.value if state.kind else 'case'} is logged and passed on, not investigated",
    )


def _acknowledged_and_unanswered(state: Case) -> None:
    _triaged(state)
    _handled_kind(state)
    stage = state.current
    _require(
        stage.acknowledged_on is not None,
        f"stage {stage.number} must be acknowledged before this",
    )
    _require(stage.issued_on is None, f"the stage {stage.number} response has been issued")


def _manager(actor: c.Actor, what: str) -> None:
    _require(actor.role in _MANAGERS, f"only a manager can {what}")


def _rules(state: Case) -> ProcedureRules:
    assert state.procedure is not None
    return PROCEDURES[state.procedure]


# -- one function per command ------------------------------------------------------------------


def _open_case(state: Case, cmd: c.OpenCase) -> Decision:
    _require(state.lifecycle is Lifecycle.NOT_OPENED, f"case {state.reference} is already open")
    sub = cmd.submission
    _require(cmd.case_id == case_id_for(sub.submission_id), "case id does not match the submission")
    hints = list(sub.triage_hints)
    received_on = sub.received_at.astimezone(_LONDON).date()
    # HOS Code 2.3, LGSCO Code, SPSO MCHP: a late complaint is still logged; whether to take it
    # is a person's decision, so the case only carries the hint
    if (
        outside_time_limit(
            sub.happened_on, received_on, PROCEDURES[cmd.procedure].time_limit_months
        )
        and TriageHint.OUTSIDE_TIME_LIMIT not in hints
    ):
        hints.append(TriageHint.OUTSIDE_TIME_LIMIT)
    opened: list[EventPayload] = [
        CaseOpened(
            case_id=cmd.case_id,
            reference=cmd.reference,
            submission_id=sub.submission_id,
            kind=sub.kind,
            channel=sub.channel,
            organisation_id=sub.organisation_id,
            service_area=sub.service_area,
            procedure=cmd.procedure,
            stage=1,
            received_at=sub.received_at,
            summary=sub.summary,
            complainant=sub.complainant,
            location=sub.location,
            triage_hints=hints,
            member=sub.member,
            person_id=sub.person_id,
            postcode_district=postcode_district(sub.complainant.postcode),
            on_behalf_of=sub.on_behalf_of,
            happened_on=sub.happened_on,
        )
    ]
    return opened + [evidence_from_intake(cmd.case_id, a, sub.channel) for a in sub.attachments]


def evidence_from_intake(
    case_id: uuid.UUID, attachment: Attachment, channel: Channel
) -> ev.EvidenceAttached:
    """A file that came in with a submission or a reply joins the case file. Intake keeps the
    bytes; the description says where staff download them."""
    return ev.EvidenceAttached(
        case_id=case_id,
        evidence_id=attachment.attachment_id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size_bytes=attachment.size_bytes,
        sha256=attachment.sha256,
        description=f"Came with the {channel.value.replace('_', ' ')}; kept by intake at "
        f"{INTAKE_ATTACHMENT_PATH.format(attachment_id=attachment.attachment_id)}",
    )


def _triage(state: Case, cmd: c.Triage) -> Decision:
    _open(state)
    _require(
        state.current.acknowledged_on is None or cmd.procedure == state.procedure,
        "the procedure cannot change after the case is acknowledged",
    )
    _require(state.stage == 1, "triage happens at stage 1")
    return [
        ev.CaseTriaged(
            case_id=_id(state),
            kind=cmd.kind,
            procedure=cmd.procedure,
            service_area=cmd.service_area,
            category=cmd.category,
            complexity=cmd.complexity,
            priority=cmd.priority,
            location=cmd.location,
            postcode_district=postcode_district(cmd.location.postcode if cmd.location else None),
        )
    ]


def _not_accept(state: Case, cmd: c.NotAccept) -> Decision:
    _open(state)
    _handled_kind(state)
    _require(state.stage == 1, "a complaint is accepted or not at stage 1")
    _require(
        state.current.issued_on is None, "a complaint that has been answered cannot be refused"
    )
    return [
        ev.CaseNotAccepted(
            case_id=_id(state),
            reason=cmd.reason,
            explanation=cmd.explanation,
            signposting=cmd.signposting,
        )
    ]


def _redirect(state: Case, cmd: c.Redirect) -> Decision:
    _open(state)
    _require(state.current.issued_on is None, "an answered case cannot be redirected")
    return [
        ev.CaseRedirected(
            case_id=_id(state), target=cmd.target, destination=cmd.destination, note=cmd.note
        )
    ]


def _reclassify(state: Case, cmd: c.ReclassifyAsServiceRequest) -> Decision:
    _open(state)
    _require(state.kind is FeedbackKind.COMPLAINT, "only a complaint becomes a service request")
    _require(
        state.current.acknowledged_on is None and state.stage == 1,
        "an acknowledged complaint cannot become a service request; answer it",
    )
    return [
        ev.CaseReclassifiedAsServiceRequest(
            case_id=_id(state), service_area=cmd.service_area, note=cmd.note
        )
    ]


def _pass_to_service(state: Case, cmd: c.PassToService) -> Decision:
    _open(state)
    _require(
        state.kind in (FeedbackKind.COMPLIMENT, FeedbackKind.COMMENT),
        "only compliments and comments are passed to the service and closed",
    )
    return [
        ev.FeedbackPassedToService(case_id=_id(state), service_area=cmd.service_area, note=cmd.note)
    ]


def _assign(state: Case, cmd: c.Assign) -> Decision:
    _open(state)
    _require(
        cmd.officer != state.officer or cmd.service_area not in (None, state.service_area),
        f"the case is already assigned to {cmd.officer}",
    )
    if (
        state.stage > 1
        and state.procedure is not None
        and _rules(state).different_handler_after_escalation
    ):
        earlier = {s.handler for s in state.stages[:-1] if s.handler}
        # HOS Code 6.12 / LGSCO Code: stage 2 is handled by a different person
        _require(
            cmd.officer not in earlier,
            f"{cmd.officer} handled an earlier stage; a different person must handle "
            f"stage {state.stage}",
        )
    return [
        ev.CaseAssigned(
            case_id=_id(state),
            stage=state.stage,
            officer=cmd.officer,
            service_area=cmd.service_area,
            previous_officer=state.officer,
        )
    ]


def _request_part(state: Case, cmd: c.RequestServiceResponse) -> Decision:
    _triaged(state)
    _handled_kind(state)
    stage = state.current
    _require(stage.issued_on is None, f"the stage {stage.number} response has been issued")
    _require(stage.part(cmd.part_id) is None, f"part {cmd.part_id} already exists")
    _require(cmd.due_on >= cmd.today, "the service's due date cannot be in the past")
    known = {p.point_id for p in stage.points}
    unknown = [p for p in cmd.point_ids if p not in known]
    _require(not unknown, f"no such points of complaint: {', '.join(unknown)}")
    return [
        ev.ServiceResponseRequested(
            case_id=_id(state),
            stage=stage.number,
            part_id=cmd.part_id,
            service_area=cmd.service_area,
            contributor=cmd.contributor,
            point_ids=list(cmd.point_ids),
            due_on=cmd.due_on,
            request=cmd.request,
        )
    ]


def _outstanding_part(state: Case, part_id: str, actor: c.Actor) -> None:
    _triaged(state)
    part = state.current.part(part_id)
    _require(part is not None, f"no part {part_id} at stage {state.stage}")
    assert part is not None
    _require(part.response is None, f"part {part_id} has already been answered")
    if actor.role is Role.SERVICE_RESPONDER:
        _require(
            actor.service_area == part.service_area,
            f"part {part_id} is for {part.service_area}, not {actor.service_area}",
        )


def _receive_part(state: Case, cmd: c.ReceiveServiceResponse) -> Decision:
    _outstanding_part(state, cmd.part_id, cmd.actor)
    return [
        ev.ServiceResponseReceived(
            case_id=_id(state), stage=state.stage, part_id=cmd.part_id, response=cmd.response
        )
    ]


def _chase_part(state: Case, cmd: c.ChaseServiceResponse) -> Decision:
    _outstanding_part(state, cmd.part_id, cmd.actor)
    return [
        ev.ServiceResponseChased(
            case_id=_id(state), stage=state.stage, part_id=cmd.part_id, note=cmd.note
        )
    ]


def _acknowledge(state: Case, cmd: c.Acknowledge) -> Decision:
    _triaged(state)
    _handled_kind(state)
    stage = state.current
    _require(stage.acknowledged_on is None, f"stage {stage.number} is already acknowledged")
    _require(not state.consent_pending, "the case is held until the resident's consent arrives")
    ids = [p.point_id for p in cmd.points]
    _require(bool(ids), "the case definition needs at least one point of complaint")
    _require(len(set(ids)) == len(ids), "each point of complaint needs its own id")
    _require(bool(cmd.outcomes_sought), "record the outcomes the resident seeks")
    return [
        ev.CaseAcknowledged(
            case_id=_id(state),
            stage=stage.number,
            acknowledged_on=cmd.today,
            points=list(cmd.points),
            outcomes_sought=list(cmd.outcomes_sought),
        )
    ]


def _representative(state: Case, cmd: c.RecordRepresentative) -> Decision:
    _open(state)
    return [
        ev.RepresentativeRecorded(
            case_id=_id(state),
            name=cmd.name,
            role=cmd.role,
            contact=cmd.contact,
            consent_received=cmd.consent_received,
        )
    ]


def _consent(state: Case, cmd: c.RecordConsent) -> Decision:
    _open(state)
    _require(state.consent_pending, "no consent is awaited")
    return [ev.ConsentReceived(case_id=_id(state), received_on=cmd.today, note=cmd.note)]


def _extend(state: Case, cmd: c.Extend) -> Decision:
    _acknowledged_and_unanswered(state)
    stage = state.current
    rule = _rules(state).stage(stage.number)
    known = {*stage.extension_ids, *(p.extension_id for p in stage.pending_extensions)}
    _require(cmd.extension_id not in known, f"extension {cmd.extension_id} already exists")
    _require(cmd.working_days >= 1, "an extension adds at least one working day")
    if rule.extension_limit is not None:
        pending = sum(p.working_days for p in stage.pending_extensions)
        used = stage.extension_days + pending
        _require(
            used + cmd.working_days <= rule.extension_limit,
            f"the {state.procedure.value if state.procedure else ''} procedure allows at most "
            f"{rule.extension_limit} working days of extension at stage {stage.number}; "
            f"{used} already used or requested",
        )
    if rule.extension_needs_manager and cmd.actor.role not in _MANAGERS:
        return [
            ev.ExtensionRequested(
                case_id=_id(state),
                stage=stage.number,
                extension_id=cmd.extension_id,
                working_days=cmd.working_days,
                reason=cmd.reason,
            )
        ]
    return [
        ev.ExtensionGranted(
            case_id=_id(state),
            stage=stage.number,
            extension_id=cmd.extension_id,
            working_days=cmd.working_days,
            reason=cmd.reason,
            approved_by=cmd.actor.user if rule.extension_needs_manager else None,
            resident_told_on=cmd.today,
        )
    ]


def _pending(state: Case, extension_id: str) -> Any:
    pending = next(
        (p for p in state.current.pending_extensions if p.extension_id == extension_id), None
    )
    _require(pending is not None, f"no extension {extension_id} is waiting for approval")
    return pending


def _approve_extension(state: Case, cmd: c.ApproveExtension) -> Decision:
    _acknowledged_and_unanswered(state)
    _manager(cmd.actor, "approve an extension")
    pending = _pending(state, cmd.extension_id)
    return [
        ev.ExtensionGranted(
            case_id=_id(state),
            stage=state.stage,
            extension_id=cmd.extension_id,
            working_days=pending.working_days,
            reason=pending.reason,
            approved_by=cmd.actor.user,
            resident_told_on=cmd.today,
        )
    ]


def _refuse_extension(state: Case, cmd: c.RefuseExtension) -> Decision:
    _acknowledged_and_unanswered(state)
    _manager(cmd.actor, "refuse an extension")
    _pending(state, cmd.extension_id)
    return [
        ev.ExtensionRefused(
            case_id=_id(state), stage=state.stage, extension_id=cmd.extension_id, reason=cmd.reason
        )
    ]


def _pause(state: Case, cmd: c.PauseClock) -> Decision:
    _acknowledged_and_unanswered(state)
    rule = _rules(state).stage(state.stage)
    _require(
        rule.pause_allowed,
        f"the {state.procedure.value if state.procedure else ''} procedure does not allow the "
        f"clock to stop at stage {state.stage}",
    )
    _require(state.current.paused_since is None, "the clock is already paused")
    return [
        ev.ClockPaused(
            case_id=_id(state), stage=state.stage, reason=cmd.reason, paused_on=cmd.today
        )
    ]


def _resume(state: Case, cmd: c.ResumeClock) -> Decision:
    _acknowledged_and_unanswered(state)
    _require(state.current.paused_since is not None, "the clock is not paused")
    return [ev.ClockResumed(case_id=_id(state), stage=state.stage, resumed_on=cmd.today)]


def _draft(state: Case, cmd: c.DraftResponse) -> Decision:
    _acknowledged_and_unanswered(state)
    stage = state.current
    known = {p.point_id for p in stage.points}
    given = [o.point_id for o in cmd.point_outcomes]
    _require(len(set(given)) == len(given), "one outcome per point of complaint")
    unknown = sorted(set(given) - known)
    _require(not unknown, f"no such points of complaint: {', '.join(unknown)}")
    number = (stage.draft.number + 1) if stage.draft else 1
    return [
        ev.ResponseDrafted(
            case_id=_id(state),
            stage=stage.number,
            draft=number,
            text=cmd.text,
            point_outcomes=list(cmd.point_outcomes),
        )
    ]


def _check_quality(state: Case, cmd: c.CheckQuality) -> Decision:
    _acknowledged_and_unanswered(state)
    draft = state.current.draft
    _require(draft is not None, "there is no draft response to check")
    assert draft is not None
    _require(draft.quality_passed is None, f"draft {draft.number} has already been checked")
    return [
        ev.ResponseQualityChecked(
            case_id=_id(state),
            stage=state.stage,
            draft=draft.number,
            checklist=cmd.checklist,
            passed=cmd.checklist.all_met(),
            notes=cmd.notes,
        )
    ]


def overall_outcome(outcomes: list[ev.Outcome]) -> ev.Outcome:
    if all(o is ev.Outcome.UPHELD for o in outcomes):
        return ev.Outcome.UPHELD
    if all(o is ev.Outcome.NOT_UPHELD for o in outcomes):
        return ev.Outcome.NOT_UPHELD
    return ev.Outcome.PARTLY_UPHELD


def _issue(state: Case, cmd: c.IssueResponse) -> Decision:
    _acknowledged_and_unanswered(state)
    stage = state.current
    n = stage.number
    _require(stage.draft is not None, f"stage {n} response cannot be issued before it is drafted")
    assert stage.draft is not None
    _require(
        stage.draft.quality_passed is True,
        f"draft {stage.draft.number} must pass the quality check before it is issued",
    )
    answered = {o.point_id for o in stage.draft.point_outcomes}
    missing = [p.point_id for p in stage.points if p.point_id not in answered]
    _require(not missing, f"the response does not answer point(s) {', '.join(missing)}")
    outstanding = stage.outstanding_parts()
    _require(
        not outstanding,
        f"waiting for the services' parts {', '.join(outstanding)}; one combined response "
        "answers every part",
    )
    _require(not state.consent_pending, "the case is held until the resident's consent arrives")
    _require(stage.paused_since is None, "resume the clock before issuing the response")
    outcomes = list(stage.draft.point_outcomes)
    return [
        ev.ResponseIssued(
            case_id=_id(state),
            stage=n,
            draft=stage.draft.number,
            issued_on=cmd.today,
            point_outcomes=outcomes,
            overall=overall_outcome([o.outcome for o in outcomes]),
            final=n >= _rules(state).final_stage,
        )
    ]


def _record_remedy(state: Case, cmd: c.RecordRemedy) -> Decision:
    _triaged(state)
    _handled_kind(state)
    _require(state.remedy(cmd.remedy_id) is None, f"remedy {cmd.remedy_id} already exists")
    financial = cmd.remedy_type is ev.RemedyType.FINANCIAL
    if financial:
        _require(cmd.amount is not None and cmd.amount > 0, "financial redress needs an amount")
    else:
        _require(cmd.amount is None, "only financial redress has an amount")
    return [
        ev.RemedyRecorded(
            case_id=_id(state),
            remedy_id=cmd.remedy_id,
            remedy_type=cmd.remedy_type,
            description=cmd.description,
            amount=cmd.amount,
            due_on=cmd.due_on,
            needs_approval=financial,
        )
    ]


def _remedy(state: Case, remedy_id: str) -> Any:
    remedy = state.remedy(remedy_id)
    _require(remedy is not None, f"no remedy {remedy_id}")
    return remedy


def _approve_redress(state: Case, cmd: c.ApproveRedress) -> Decision:
    _open(state)
    _manager(cmd.actor, "approve financial redress")
    remedy = _remedy(state, cmd.remedy_id)
    _require(remedy.needs_approval, f"remedy {cmd.remedy_id} needs no approval")
    _require(not remedy.approved, f"remedy {cmd.remedy_id} is already approved")
    return [ev.RedressApproved(case_id=_id(state), remedy_id=cmd.remedy_id)]


def _pay_redress(state: Case, cmd: c.PayRedress) -> Decision:
    remedy = _remedy(state, cmd.remedy_id)
    _require(remedy.remedy_type is ev.RemedyType.FINANCIAL, "only financial redress is paid")
    _require(remedy.approved, f"redress {cmd.remedy_id} must be approved before it is paid")
    _require(remedy.paid_on is None, f"redress {cmd.remedy_id} was paid on {remedy.paid_on}")
    return [ev.RedressPaid(case_id=_id(state), remedy_id=cmd.remedy_id, paid_on=cmd.today)]


def _complete_remedy(state: Case, cmd: c.CompleteRemedy) -> Decision:
    remedy = _remedy(state, cmd.remedy_id)
    _require(
        remedy.remedy_type is not ev.RemedyType.FINANCIAL,
        "financial redress is completed by paying it",
    )
    _require(remedy.completed_on is None, f"remedy {cmd.remedy_id} is already done")
    return [
        ev.RemedyCompleted(
            case_id=_id(state), remedy_id=cmd.remedy_id, completed_on=cmd.today, note=cmd.note
        )
    ]


def _add_learning(state: Case, cmd: c.AddLearningAction) -> Decision:
    _require(state.lifecycle is not Lifecycle.NEW, "triage the case first")
    _require(
        state.learning_action(cmd.action_id) is None, f"learning action {cmd.action_id} exists"
    )
    _require(cmd.due_on >= cmd.today, "a learning action's due date cannot be in the past")
    return [
        ev.LearningActionAdded(
            case_id=_id(state),
            action_id=cmd.action_id,
            description=cmd.description,
            owner=cmd.owner,
            due_on=cmd.due_on,
        )
    ]


def _complete_learning(state: Case, cmd: c.CompleteLearningAction) -> Decision:
    action = state.learning_action(cmd.action_id)
    _require(action is not None, f"no learning action {cmd.action_id}")
    assert action is not None
    _require(action.completed_on is None, f"learning action {cmd.action_id} is already done")
    return [
        ev.LearningActionCompleted(
            case_id=_id(state), action_id=cmd.action_id, completed_on=cmd.today, note=cmd.note
        )
    ]


def _escalate(state: Case, cmd: c.Escalate) -> Decision:
    _open(state)
    _handled_kind(state)
    stage = state.current
    stages = _rules(state).final_stage
    _require(
        stage.number < stages,
        f"stage {stage.number} is the final stage of the "
        f"{state.procedure.value if state.procedure else ''} procedure; the next step is the "
        "Ombudsman",
    )
    _require(
        stage.issued_on is not None,
        f"the stage {stage.number} response must be issued before escalation",
    )
    return [
        ev.CaseEscalated(
            case_id=_id(state),
            from_stage=stage.number,
            to_stage=stage.number + 1,
            requested_on=cmd.today,
            reasons=cmd.reasons,
        )
    ]


def _ombudsman_enquiry(state: Case, cmd: c.RecordOmbudsmanEnquiry) -> Decision:
    _handled_kind(state)
    _require(
        state.ombudsman is None or not state.ombudsman.outstanding,
        "an Ombudsman case is already open on this complaint",
    )
    if cmd.information_due_on is not None:
        _require(cmd.information_due_on >= cmd.today, "the information due date is in the past")
    return [
        ev.OmbudsmanEnquiryReceived(
            case_id=_id(state),
            body=cmd.body,
            ombudsman_reference=cmd.ombudsman_reference,
            stage=cmd.stage,
            received_on=cmd.today,
            information_due_on=cmd.information_due_on,
        )
    ]


def _ombudsman(state: Case) -> Any:
    _require(state.ombudsman is not None, "there is no Ombudsman enquiry on this case")
    return state.ombudsman


def _ombudsman_information(state: Case, cmd: c.ProvideOmbudsmanInformation) -> Decision:
    case = _ombudsman(state)
    _require(case.decided_on is None, "the Ombudsman has already decided")
    return [
        ev.OmbudsmanInformationProvided(
            case_id=_id(state), provided_on=cmd.today, summary=cmd.summary
        )
    ]


def _ombudsman_decision(state: Case, cmd: c.RecordOmbudsmanDecision) -> Decision:
    case = _ombudsman(state)
    _require(case.decided_on is None, "the Ombudsman's decision is already recorded")
    fault = cmd.finding in (
        ev.OmbudsmanFinding.SERVICE_FAILURE,
        ev.OmbudsmanFinding.MALADMINISTRATION,
        ev.OmbudsmanFinding.SEVERE_MALADMINISTRATION,
    )
    if cmd.remedy_ordered:
        _require(fault, "a remedy is ordered only where fault was found")
        _require(cmd.compliance_due_on is not None, "record when the ordered remedy is due")
    return [
        ev.OmbudsmanDecisionRecorded(
            case_id=_id(state),
            decided_on=cmd.today,
            finding=cmd.finding,
            remedy_ordered=cmd.remedy_ordered,
            compliance_due_on=cmd.compliance_due_on,
        )
    ]


def _ombudsman_compliance(state: Case, cmd: c.CompleteOmbudsmanCompliance) -> Decision:
    case = _ombudsman(state)
    _require(case.decided_on is not None, "the Ombudsman has not decided yet")
    _require(case.compliance_due_on is not None, "the Ombudsman ordered nothing to comply with")
    _require(case.compliance_completed_on is None, "compliance is already recorded")
    return [
        ev.OmbudsmanComplianceCompleted(
            case_id=_id(state), completed_on=cmd.today, evidence=cmd.evidence
        )
    ]


def _raise_flag(state: Case, cmd: c.RaiseFlag) -> Decision:
    _require(state.flag(cmd.flag_id) is None, f"flag {cmd.flag_id} already exists")
    t = cmd.flag_type
    if t is ev.FlagType.SAFEGUARDING:
        _require(bool(cmd.referred_to), "a safeguarding concern records where it was referred")
    if t is ev.FlagType.RISK:
        _require(cmd.risk_kind is not None, "a risk flag says what kind of risk")
    if cmd.allowed_channels is not None or cmd.contact_via:
        _require(
            t is ev.FlagType.UNREASONABLE_BEHAVIOUR,
            "contact restrictions are applied under the unreasonable-behaviour policy",
        )
    if t is ev.FlagType.UNREASONABLE_BEHAVIOUR:
        _require(
            bool(cmd.contact_restriction) and cmd.review_on is not None,
            "a restriction under the unreasonable-behaviour policy needs its terms and a "
            "review date",
        )
        _manager(cmd.actor, "apply the unreasonable-behaviour policy")
    if cmd.review_on is not None:
        _require(cmd.review_on > cmd.today, "the review date must be in the future")
    return [
        ev.FlagRaised(
            case_id=_id(state),
            flag_id=cmd.flag_id,
            flag_type=t,
            detail=cmd.detail,
            referred_to=cmd.referred_to,
            risk_kind=cmd.risk_kind,
            contact_restriction=cmd.contact_restriction,
            review_on=cmd.review_on,
            allowed_channels=(None if cmd.allowed_channels is None else list(cmd.allowed_channels)),
            contact_via=cmd.contact_via,
        )
    ]


def _lift_flag(state: Case, cmd: c.LiftFlag) -> Decision:
    flag = state.flag(cmd.flag_id)
    _require(flag is not None, f"no flag {cmd.flag_id}")
    assert flag is not None
    _require(flag.active, f"flag {cmd.flag_id} is already lifted")
    if flag.flag_type is ev.FlagType.UNREASONABLE_BEHAVIOUR:
        _manager(cmd.actor, "lift a contact restriction")
    return [ev.FlagLifted(case_id=_id(state), flag_id=cmd.flag_id, reason=cmd.reason)]


def _log_contact(state: Case, cmd: c.LogContact) -> Decision:
    _require(cmd.contact_id not in state.contacts, f"contact {cmd.contact_id} already logged")
    return [
        ev.ContactLogged(
            case_id=_id(state),
            contact_id=cmd.contact_id,
            contact_kind=cmd.contact_kind,
            occurred_at=cmd.occurred_at,
            with_whom=cmd.with_whom,
            summary=cmd.summary,
            minutes=cmd.minutes,
        )
    ]


def _attach(state: Case, cmd: c.AttachEvidence) -> Decision:
    _require(cmd.evidence_id not in state.evidence, f"evidence {cmd.evidence_id} exists")
    return [
        ev.EvidenceAttached(
            case_id=_id(state),
            evidence_id=cmd.evidence_id,
            filename=cmd.filename,
            content_type=cmd.content_type,
            size_bytes=cmd.size_bytes,
            sha256=cmd.sha256,
            description=cmd.description,
        )
    ]


def correspondence_contact_id(correspondence_id: uuid.UUID) -> str:
    """The contact log entry of one piece of correspondence: the same on every redelivery."""
    return f"mail-{correspondence_id.hex[:15]}"


def _record_correspondence(state: Case, cmd: c.RecordCorrespondence) -> Decision:
    mail = cmd.correspondence
    case_id = _id(state)
    contact_id = correspondence_contact_id(mail.correspondence_id)
    if contact_id in state.contacts:
        return []  # already on the case: a redelivery changes nothing
    sender = mail.sender.name + (f" <{mail.sender.email}>" if mail.sender.email else "")
    text = mail.text.strip() or "(no text)"
    summary = f"{mail.subject.strip() or '(no subject)'}: {text}"
    if len(summary) > 5_000:
        summary = summary[:4_990].rstrip() + " [...]"
    logged: list[EventPayload] = [
        ev.ContactLogged(
            case_id=case_id,
            contact_id=contact_id,
            contact_kind=_CONTACT_KIND.get(mail.channel, ev.ContactKind.EMAIL),
            occurred_at=mail.received_at,
            with_whom=sender[:200],
            summary=summary,
            minutes=mail.text or None,
        )
    ]
    return logged + [
        evidence_from_intake(case_id, a, mail.channel)
        for a in mail.attachments
        if a.attachment_id not in state.evidence
    ]


_CONTACT_KIND = {Channel.EMAIL: ev.ContactKind.EMAIL, Channel.LETTER: ev.ContactKind.LETTER}


def _withdraw(state: Case, cmd: c.Withdraw) -> Decision:
    _open(state)
    return [ev.CaseWithdrawn(case_id=_id(state), reason=cmd.reason)]


def _close(state: Case, cmd: c.Close) -> Decision:
    _open(state)
    if state.kind in HANDLED_KINDS:
        _require(
            state.current.issued_on is not None,
            f"the stage {state.stage} response must be issued before the case is closed "
            "(or withdraw it)",
        )
    _require(
        state.ombudsman is None or not state.ombudsman.outstanding,
        "the Ombudsman's decision and any compliance must be recorded before closing",
    )
    return [ev.CaseClosed(case_id=_id(state), reason=cmd.reason)]


def _reopen(state: Case, cmd: c.Reopen) -> Decision:
    _require(state.is_closed, "the case is not closed")
    return [ev.CaseReopened(case_id=_id(state), reason=cmd.reason)]


def _id(state: Case) -> Any:
    assert state.case_id is not None
    return state.case_id


_HANDLERS: dict[type[c.Command], Callable[[Case, Any], Decision]] = {
    c.OpenCase: _open_case,
    c.Triage: _triage,
    c.NotAccept: _not_accept,
    c.Redirect: _redirect,
    c.ReclassifyAsServiceRequest: _reclassify,
    c.PassToService: _pass_to_service,
    c.Assign: _assign,
    c.RequestServiceResponse: _request_part,
    c.ReceiveServiceResponse: _receive_part,
    c.ChaseServiceResponse: _chase_part,
    c.Acknowledge: _acknowledge,
    c.RecordRepresentative: _representative,
    c.RecordConsent: _consent,
    c.Extend: _extend,
    c.ApproveExtension: _approve_extension,
    c.RefuseExtension: _refuse_extension,
    c.PauseClock: _pause,
    c.ResumeClock: _resume,
    c.DraftResponse: _draft,
    c.CheckQuality: _check_quality,
    c.IssueResponse: _issue,
    c.RecordRemedy: _record_remedy,
    c.ApproveRedress: _approve_redress,
    c.PayRedress: _pay_redress,
    c.CompleteRemedy: _complete_remedy,
    c.AddLearningAction: _add_learning,
    c.CompleteLearningAction: _complete_learning,
    c.Escalate: _escalate,
    c.RecordOmbudsmanEnquiry: _ombudsman_enquiry,
    c.ProvideOmbudsmanInformation: _ombudsman_information,
    c.RecordOmbudsmanDecision: _ombudsman_decision,
    c.CompleteOmbudsmanCompliance: _ombudsman_compliance,
    c.RaiseFlag: _raise_flag,
    c.LiftFlag: _lift_flag,
    c.LogContact: _log_contact,
    c.AttachEvidence: _attach,
    c.RecordCorrespondence: _record_correspondence,
    c.Withdraw: _withdraw,
    c.Close: _close,
    c.Reopen: _reopen,
}
