"""Every case transition, allowed and refused, as a table of real scenarios."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts import FeedbackKind, Procedure
from contracts import case_events as ev
from services.casework.domain import commands as c
from services.casework.domain.case import Case, Lifecycle, Resolution, format_reference
from services.casework.domain.decide import overall_outcome
from tests.unit.casework.scenario import (
    BAD_QA,
    MANAGER,
    OFFICER,
    OTHER_OFFICER,
    RENTS,
    REPAIRS,
    acknowledge,
    at_stage_one_response,
    cmd,
    correspondence,
    draft,
    future,
    issue,
    open_case,
    qa,
    refused,
    run,
    triage,
)

HOS = Procedure.HOUSING_OMBUDSMAN
ACKED = [open_case(), triage(), acknowledge("1")]
DRAFTED = [*ACKED, draft()]
ISSUED = [*DRAFTED, qa(), issue()]
STAGE_TWO = [*at_stage_one_response(), cmd(c.Escalate, reasons="Still no repair")]


@dataclass(frozen=True)
class Case_:
    name: str
    given: list[c.Command]
    when: c.Command
    then: str  # an event type when allowed, or "refused: <part of the reason>"


OMBUDSMAN_ENQUIRY = cmd(
    c.RecordOmbudsmanEnquiry,
    body=ev.OmbudsmanBody.HOUSING_OMBUDSMAN,
    ombudsman_reference="202512345",
    stage=ev.OmbudsmanStage.INVESTIGATION,
)
OMBUDSMAN_DECISION = cmd(
    c.RecordOmbudsmanDecision,
    finding=ev.OmbudsmanFinding.MALADMINISTRATION,
    remedy_ordered="pay £100",
    compliance_due_on=future(28),
)

TABLE = [
    # opening and triage
    Case_("open", [], open_case(), "CaseOpened"),
    Case_("open twice", [open_case()], open_case(), "refused: already open"),
    Case_("command on unknown case", [], triage(), "refused: no such case"),
    Case_("triage a new case", [open_case()], triage(), "CaseTriaged"),
    Case_(
        "re-triage before acknowledgement",
        [open_case(), triage()],
        triage(Procedure.LGSCO),
        "CaseTriaged",
    ),
    Case_(
        "procedure fixed once acknowledged",
        ACKED,
        triage(Procedure.LGSCO),
        "refused: procedure cannot change",
    ),
    Case_(
        "triage a closed case",
        [open_case(), cmd(c.Withdraw, reason="x")],
        triage(),
        "refused: is closed",
    ),
    Case_(
        "not accepted with reason",
        [open_case()],
        cmd(
            c.NotAccept,
            reason=ev.NotAcceptedReason.OUTSIDE_TIME_LIMIT,
            explanation="Over 12 months",
            signposting="Housing Ombudsman",
        ),
        "CaseNotAccepted",
    ),
    Case_(
        "answered complaint cannot be refused",
        ISSUED,
        cmd(
            c.NotAccept,
            reason=ev.NotAcceptedReason.NOT_A_COMPLAINT,
            explanation="x",
            signposting="y",
        ),
        "refused: has been answered",
    ),
    Case_(
        "redirect an answered case",
        ISSUED,
        cmd(c.Redirect, target=ev.RedirectTarget.FREEDOM_OF_INFORMATION, destination="FOI"),
        "refused: answered case cannot be redirected",
    ),
    Case_(
        "pass on a closed compliment",
        [open_case(FeedbackKind.COMPLIMENT), cmd(c.PassToService, service_area="parks")],
        cmd(c.PassToService, service_area="parks"),
        "refused: is closed",
    ),
    Case_(
        "redirect a subject access request",
        [open_case()],
        cmd(
            c.Redirect,
            target=ev.RedirectTarget.SUBJECT_ACCESS,
            destination="information governance",
        ),
        "CaseRedirected",
    ),
    Case_(
        "reclassify as service request",
        [open_case()],
        cmd(c.ReclassifyAsServiceRequest, service_area="repairs", note="first report"),
        "CaseReclassifiedAsServiceRequest",
    ),
    Case_(
        "acknowledged complaint stays a complaint",
        ACKED,
        cmd(c.ReclassifyAsServiceRequest, service_area="repairs", note="x"),
        "refused: cannot become a service request",
    ),
    Case_(
        "complaint is not passed on like a compliment",
        [open_case()],
        cmd(c.PassToService, service_area="repairs"),
        "refused: only compliments",
    ),
    Case_(
        "compliment passed to service",
        [open_case(FeedbackKind.COMPLIMENT)],
        cmd(c.PassToService, service_area="repairs"),
        "FeedbackPassedToService",
    ),
    Case_(
        "compliment is not acknowledged as a complaint",
        [open_case(FeedbackKind.COMPLIMENT), triage(kind=FeedbackKind.COMPLIMENT)],
        acknowledge(),
        "refused: logged and passed on",
    ),
    # assignment and services' parts
    Case_("assign", [open_case()], cmd(c.Assign, officer="olivia"), "CaseAssigned"),
    Case_(
        "assign to the same officer again",
        [open_case(), cmd(c.Assign, officer="olivia")],
        cmd(c.Assign, officer="olivia"),
        "refused: already assigned",
    ),
    Case_(
        "stage 2 handled by a different person (HOS 6.12)",
        STAGE_TWO,
        cmd(c.Assign, officer="olivia"),
        "refused: different person",
    ),
    Case_("stage 2 to someone new", STAGE_TWO, cmd(c.Assign, officer="oscar"), "CaseAssigned"),
    Case_(
        "request a service's part",
        ACKED,
        cmd(
            c.RequestServiceResponse,
            part_id="A",
            service_area="repairs",
            due_on=future(5),
            request="Why was the repair missed?",
            point_ids=("1",),
        ),
        "ServiceResponseRequested",
    ),
    Case_(
        "part for an unknown point",
        ACKED,
        cmd(
            c.RequestServiceResponse,
            part_id="A",
            service_area="repairs",
            due_on=future(5),
            request="x",
            point_ids=("9",),
        ),
        "refused: no such points",
    ),
    Case_(
        "part due in the past",
        ACKED,
        cmd(
            c.RequestServiceResponse,
            part_id="A",
            service_area="repairs",
            due_on=future(-1),
            request="x",
        ),
        "refused: cannot be in the past",
    ),
    Case_(
        "part before triage",
        [open_case()],
        cmd(
            c.RequestServiceResponse,
            part_id="A",
            service_area="repairs",
            due_on=future(5),
            request="x",
        ),
        "refused: must be triaged",
    ),
    Case_(
        "service answers its own part",
        [
            *ACKED,
            cmd(
                c.RequestServiceResponse,
                part_id="A",
                service_area="repairs",
                due_on=future(5),
                request="x",
            ),
        ],
        cmd(c.ReceiveServiceResponse, actor=REPAIRS, part_id="A", response="Sorry"),
        "ServiceResponseReceived",
    ),
    Case_(
        "service cannot answer another's part",
        [
            *ACKED,
            cmd(
                c.RequestServiceResponse,
                part_id="A",
                service_area="repairs",
                due_on=future(5),
                request="x",
            ),
        ],
        cmd(c.ReceiveServiceResponse, actor=RENTS, part_id="A", response="x"),
        "refused: is for repairs",
    ),
    Case_(
        "part answered twice",
        [
            *ACKED,
            cmd(
                c.RequestServiceResponse,
                part_id="A",
                service_area="repairs",
                due_on=future(5),
                request="x",
            ),
            cmd(c.ReceiveServiceResponse, part_id="A", response="x"),
        ],
        cmd(c.ReceiveServiceResponse, part_id="A", response="y"),
        "refused: already been",
    ),
    Case_(
        "chase a late part",
        [
            *ACKED,
            cmd(
                c.RequestServiceResponse,
                part_id="A",
                service_area="repairs",
                due_on=future(5),
                request="x",
            ),
        ],
        cmd(c.ChaseServiceResponse, part_id="A"),
        "ServiceResponseChased",
    ),
    Case_(
        "chase an unknown part",
        ACKED,
        cmd(c.ChaseServiceResponse, part_id="Z"),
        "refused: no part Z",
    ),
    # acknowledgement, representatives and consent
    Case_("acknowledge before triage", [open_case()], acknowledge(), "refused: triaged first"),
    Case_("acknowledge twice", ACKED, acknowledge(), "refused: already acknowledged"),
    Case_(
        "points need their own ids",
        [open_case(), triage()],
        acknowledge("1", "1"),
        "refused: its own id",
    ),
    Case_(
        "held until consent arrives",
        [
            open_case(),
            triage(),
            cmd(
                c.RecordRepresentative,
                name="Cllr Jones",
                role=ev.RepresentativeRole.COUNCILLOR,
                consent_received=False,
            ),
        ],
        acknowledge(),
        "refused: held until the resident's consent",
    ),
    Case_(
        "consent arrives",
        [
            open_case(),
            cmd(
                c.RecordRepresentative,
                name="MP",
                role=ev.RepresentativeRole.MP,
                consent_received=False,
            ),
        ],
        cmd(c.RecordConsent),
        "ConsentReceived",
    ),
    Case_(
        "representative for the resident",
        [open_case()],
        cmd(
            c.RecordRepresentative,
            name="Cllr Jones",
            role=ev.RepresentativeRole.COUNCILLOR,
            consent_received=True,
            contact="cllr.jones@example.gov.uk",
        ),
        "RepresentativeRecorded",
    ),
    Case_(
        "representative on a closed case",
        [open_case(), cmd(c.Withdraw, reason="x")],
        cmd(
            c.RecordRepresentative,
            name="A",
            role=ev.RepresentativeRole.RELATIVE,
            consent_received=True,
        ),
        "refused: is closed",
    ),
    Case_("no consent awaited", [open_case()], cmd(c.RecordConsent), "refused: no consent"),
    # extensions and pauses
    Case_(
        "extend within the HOS limit",
        ACKED,
        cmd(c.Extend, extension_id="E1", working_days=10, reason="contractor report"),
        "ExtensionGranted",
    ),
    Case_(
        "extend beyond the HOS limit",
        [*ACKED, cmd(c.Extend, extension_id="E1", working_days=6, reason="x")],
        cmd(c.Extend, extension_id="E2", working_days=5, reason="y"),
        "refused: at most 10 working days",
    ),
    Case_(
        "extend before acknowledgement",
        [open_case(), triage()],
        cmd(c.Extend, extension_id="E1", working_days=1, reason="x"),
        "refused: must be acknowledged",
    ),
    Case_(
        "extend after the response",
        ISSUED,
        cmd(c.Extend, extension_id="E1", working_days=1, reason="x"),
        "refused: has been issued",
    ),
    Case_(
        "SPSO extension needs a manager: officer asks",
        [open_case(procedure=Procedure.SPSO), triage(Procedure.SPSO), acknowledge()],
        cmd(c.Extend, extension_id="E1", working_days=5, reason="x"),
        "ExtensionRequested",
    ),
    Case_(
        "SPSO extension by a manager is granted",
        [open_case(procedure=Procedure.SPSO), triage(Procedure.SPSO), acknowledge()],
        cmd(c.Extend, actor=MANAGER, extension_id="E1", working_days=5, reason="x"),
        "ExtensionGranted",
    ),
    Case_(
        "manager approves a pending extension",
        [
            open_case(procedure=Procedure.SPSO),
            triage(Procedure.SPSO),
            acknowledge(),
            cmd(c.Extend, extension_id="E1", working_days=5, reason="x"),
        ],
        cmd(c.ApproveExtension, actor=MANAGER, extension_id="E1"),
        "ExtensionGranted",
    ),
    Case_(
        "officer cannot approve",
        [
            open_case(procedure=Procedure.SPSO),
            triage(Procedure.SPSO),
            acknowledge(),
            cmd(c.Extend, extension_id="E1", working_days=5, reason="x"),
        ],
        cmd(c.ApproveExtension, actor=OTHER_OFFICER, extension_id="E1"),
        "refused: only a manager",
    ),
    Case_(
        "pending extensions count against the limit",
        [
            open_case(procedure=Procedure.SPSO),
            triage(Procedure.SPSO),
            acknowledge(),
            cmd(c.Extend, extension_id="E1", working_days=5, reason="x"),
        ],
        cmd(c.Extend, extension_id="E2", working_days=1, reason="y"),
        "refused: at most 5",
    ),
    Case_(
        "manager refuses a pending extension",
        [
            open_case(procedure=Procedure.SPSO),
            triage(Procedure.SPSO),
            acknowledge(),
            cmd(c.Extend, extension_id="E1", working_days=5, reason="x"),
        ],
        cmd(c.RefuseExtension, actor=MANAGER, extension_id="E1", reason="no"),
        "ExtensionRefused",
    ),
    Case_(
        "approve an unknown extension",
        ACKED,
        cmd(c.ApproveExtension, actor=MANAGER, extension_id="E9"),
        "refused: no extension E9",
    ),
    Case_(
        "HOS clock does not pause",
        ACKED,
        cmd(c.PauseClock, reason="x"),
        "refused: does not allow the clock to stop",
    ),
    Case_(
        "adult social care clock pauses",
        [
            open_case(procedure=Procedure.ADULT_SOCIAL_CARE),
            triage(Procedure.ADULT_SOCIAL_CARE),
            acknowledge(),
        ],
        cmd(c.PauseClock, reason="waiting for the resident's GP letter"),
        "ClockPaused",
    ),
    Case_(
        "pause twice",
        [
            open_case(procedure=Procedure.ADULT_SOCIAL_CARE),
            triage(Procedure.ADULT_SOCIAL_CARE),
            acknowledge(),
            cmd(c.PauseClock, reason="x"),
        ],
        cmd(c.PauseClock, reason="y"),
        "refused: already paused",
    ),
    Case_(
        "resume",
        [
            open_case(procedure=Procedure.ADULT_SOCIAL_CARE),
            triage(Procedure.ADULT_SOCIAL_CARE),
            acknowledge(),
            cmd(c.PauseClock, reason="x"),
        ],
        cmd(c.ResumeClock),
        "ClockResumed",
    ),
    Case_("resume a running clock", ACKED, cmd(c.ResumeClock), "refused: not paused"),
    # response and quality check
    Case_("draft", ACKED, draft(), "ResponseDrafted"),
    Case_(
        "draft before acknowledgement",
        [open_case(), triage()],
        draft(),
        "refused: must be acknowledged",
    ),
    Case_(
        "draft answers an unknown point",
        ACKED,
        draft(("7", ev.Outcome.UPHELD)),
        "refused: no such points",
    ),
    Case_("quality check a draft", DRAFTED, qa(), "ResponseQualityChecked"),
    Case_("quality check with nothing drafted", ACKED, qa(), "refused: no draft"),
    Case_("quality check twice", [*DRAFTED, qa()], qa(), "refused: already been checked"),
    Case_(
        "issue before drafting", ACKED, issue(), "refused: cannot be issued before it is drafted"
    ),
    Case_("issue before the quality check", DRAFTED, issue(), "refused: must pass the quality"),
    Case_(
        "issue a draft that failed the check",
        [*DRAFTED, qa(BAD_QA)],
        issue(),
        "refused: must pass the quality",
    ),
    Case_("redraft after a failed check", [*DRAFTED, qa(BAD_QA)], draft(), "ResponseDrafted"),
    Case_(
        "issue a response that misses a point",
        [open_case(), triage(), acknowledge("1", "2"), draft(("1", ev.Outcome.UPHELD)), qa()],
        issue(),
        "refused: does not answer point(s) 2",
    ),
    Case_(
        "issue while a service's part is outstanding",
        [
            *ACKED,
            cmd(
                c.RequestServiceResponse,
                part_id="A",
                service_area="rents",
                due_on=future(3),
                request="x",
            ),
            draft(),
            qa(),
        ],
        issue(),
        "refused: waiting for the services' parts A",
    ),
    Case_("issue", [*DRAFTED, qa()], issue(), "ResponseIssued"),
    Case_("issue twice", ISSUED, issue(), "refused: has been issued"),
    Case_(
        "issue while the clock is paused",
        [
            open_case(procedure=Procedure.ADULT_SOCIAL_CARE),
            triage(Procedure.ADULT_SOCIAL_CARE),
            acknowledge(),
            cmd(c.PauseClock, reason="x"),
            draft(),
            qa(),
        ],
        issue(),
        "refused: resume the clock",
    ),
    # remedies and learning
    Case_(
        "financial redress recorded",
        ISSUED,
        cmd(
            c.RecordRemedy,
            remedy_id="R1",
            remedy_type=ev.RemedyType.FINANCIAL,
            description="time and trouble",
            amount=Decimal("50.00"),
        ),
        "RemedyRecorded",
    ),
    Case_(
        "financial redress needs an amount",
        ISSUED,
        cmd(c.RecordRemedy, remedy_id="R1", remedy_type=ev.RemedyType.FINANCIAL, description="x"),
        "refused: needs an amount",
    ),
    Case_(
        "an apology has no amount",
        ISSUED,
        cmd(
            c.RecordRemedy,
            remedy_id="R1",
            remedy_type=ev.RemedyType.APOLOGY,
            description="x",
            amount=Decimal("1"),
        ),
        "refused: only financial",
    ),
    Case_(
        "redress paid before approval",
        [
            *ISSUED,
            cmd(
                c.RecordRemedy,
                remedy_id="R1",
                remedy_type=ev.RemedyType.FINANCIAL,
                description="x",
                amount=Decimal("50"),
            ),
        ],
        cmd(c.PayRedress, remedy_id="R1"),
        "refused: must be approved",
    ),
    Case_(
        "officer cannot approve redress",
        [
            *ISSUED,
            cmd(
                c.RecordRemedy,
                remedy_id="R1",
                remedy_type=ev.RemedyType.FINANCIAL,
                description="x",
                amount=Decimal("50"),
            ),
        ],
        cmd(c.ApproveRedress, remedy_id="R1"),
        "refused: only a manager",
    ),
    Case_(
        "manager approves redress",
        [
            *ISSUED,
            cmd(
                c.RecordRemedy,
                remedy_id="R1",
                remedy_type=ev.RemedyType.FINANCIAL,
                description="x",
                amount=Decimal("50"),
            ),
        ],
        cmd(c.ApproveRedress, actor=MANAGER, remedy_id="R1"),
        "RedressApproved",
    ),
    Case_(
        "redress paid",
        [
            *ISSUED,
            cmd(
                c.RecordRemedy,
                remedy_id="R1",
                remedy_type=ev.RemedyType.FINANCIAL,
                description="x",
                amount=Decimal("50"),
            ),
            cmd(c.ApproveRedress, actor=MANAGER, remedy_id="R1"),
        ],
        cmd(c.PayRedress, remedy_id="R1"),
        "RedressPaid",
    ),
    Case_(
        "redress paid twice",
        [
            *ISSUED,
            cmd(
                c.RecordRemedy,
                remedy_id="R1",
                remedy_type=ev.RemedyType.FINANCIAL,
                description="x",
                amount=Decimal("50"),
            ),
            cmd(c.ApproveRedress, actor=MANAGER, remedy_id="R1"),
            cmd(c.PayRedress, remedy_id="R1"),
        ],
        cmd(c.PayRedress, remedy_id="R1"),
        "refused: was paid",
    ),
    Case_(
        "action remedy completed",
        [
            *ISSUED,
            cmd(
                c.RecordRemedy,
                remedy_id="R2",
                remedy_type=ev.RemedyType.ACTION,
                description="fix the door",
                due_on=future(10),
            ),
        ],
        cmd(c.CompleteRemedy, remedy_id="R2"),
        "RemedyCompleted",
    ),
    Case_(
        "learning action added",
        ISSUED,
        cmd(
            c.AddLearningAction,
            action_id="L1",
            description="check repair bookings",
            owner="repairs manager",
            due_on=future(30),
        ),
        "LearningActionAdded",
    ),
    Case_(
        "learning action due in the past",
        ISSUED,
        cmd(c.AddLearningAction, action_id="L1", description="x", owner="y", due_on=future(-1)),
        "refused: cannot be in the past",
    ),
    Case_(
        "learning action completed",
        [
            *ISSUED,
            cmd(c.AddLearningAction, action_id="L1", description="x", owner="y", due_on=future(30)),
        ],
        cmd(c.CompleteLearningAction, action_id="L1"),
        "LearningActionCompleted",
    ),
    Case_(
        "complete an unknown learning action",
        ISSUED,
        cmd(c.CompleteLearningAction, action_id="L9"),
        "refused: no learning action L9",
    ),
    # escalation
    Case_(
        "escalate before the stage 1 response",
        ACKED,
        cmd(c.Escalate),
        "refused: must be issued before escalation",
    ),
    Case_("escalate to stage 2", ISSUED, cmd(c.Escalate, reasons="unhappy"), "CaseEscalated"),
    Case_(
        "stage 2 response cannot be issued before the stage 2 acknowledgement",
        STAGE_TWO,
        issue(),
        "refused: stage 2 must be acknowledged",
    ),
    Case_(
        "acknowledge stage 2",
        [*STAGE_TWO, cmd(c.Assign, officer="oscar")],
        acknowledge(),
        "CaseAcknowledged",
    ),
    Case_(
        "no stage 3 under the HOS code",
        [
            *STAGE_TWO,
            cmd(c.Assign, officer="oscar", actor=OTHER_OFFICER),
            acknowledge(),
            draft(),
            qa(),
            issue(OTHER_OFFICER),
        ],
        cmd(c.Escalate),
        "refused: final stage",
    ),
    Case_(
        "adult social care has one stage",
        [*at_stage_one_response(Procedure.ADULT_SOCIAL_CARE)],
        cmd(c.Escalate),
        "refused: final stage",
    ),
    Case_(
        "children's complaints reach stage 3",
        [
            *at_stage_one_response(Procedure.CHILDRENS_SOCIAL_CARE),
            cmd(c.Escalate),
            cmd(c.Assign, officer="oscar"),
            acknowledge(),
            draft(),
            qa(),
            issue(),
        ],
        cmd(c.Escalate, reasons="review panel please"),
        "CaseEscalated",
    ),
    # Ombudsman
    Case_(
        "Ombudsman enquiry",
        ISSUED,
        cmd(
            c.RecordOmbudsmanEnquiry,
            body=ev.OmbudsmanBody.HOUSING_OMBUDSMAN,
            ombudsman_reference="202512345",
            stage=ev.OmbudsmanStage.ENQUIRY,
            information_due_on=future(14),
        ),
        "OmbudsmanEnquiryReceived",
    ),
    Case_(
        "Ombudsman enquiry on a compliment",
        [open_case(FeedbackKind.COMPLIMENT)],
        cmd(
            c.RecordOmbudsmanEnquiry,
            body=ev.OmbudsmanBody.LGSCO,
            ombudsman_reference="1",
            stage=ev.OmbudsmanStage.ENQUIRY,
        ),
        "refused: logged and passed on",
    ),
    Case_(
        "information provided to the Ombudsman",
        [*ISSUED, OMBUDSMAN_ENQUIRY],
        cmd(c.ProvideOmbudsmanInformation, summary="case file and both responses"),
        "OmbudsmanInformationProvided",
    ),
    Case_(
        "compliance with the Ombudsman's order",
        [*ISSUED, OMBUDSMAN_ENQUIRY, OMBUDSMAN_DECISION],
        cmd(c.CompleteOmbudsmanCompliance, evidence="paid on 1 April, letter sent"),
        "OmbudsmanComplianceCompleted",
    ),
    Case_(
        "a second Ombudsman case while one is open",
        [*ISSUED, OMBUDSMAN_ENQUIRY],
        OMBUDSMAN_ENQUIRY,
        "refused: already open",
    ),
    Case_(
        "Ombudsman information without an enquiry",
        ISSUED,
        cmd(c.ProvideOmbudsmanInformation, summary="x"),
        "refused: no Ombudsman enquiry",
    ),
    Case_(
        "remedy ordered without fault",
        [
            *ISSUED,
            cmd(
                c.RecordOmbudsmanEnquiry,
                body=ev.OmbudsmanBody.HOUSING_OMBUDSMAN,
                ombudsman_reference="1",
                stage=ev.OmbudsmanStage.INVESTIGATION,
            ),
        ],
        cmd(
            c.RecordOmbudsmanDecision,
            finding=ev.OmbudsmanFinding.NO_FAULT,
            remedy_ordered="pay £100",
            compliance_due_on=future(28),
        ),
        "refused: only where fault was found",
    ),
    Case_(
        "Ombudsman decision with a remedy",
        [
            *ISSUED,
            cmd(
                c.RecordOmbudsmanEnquiry,
                body=ev.OmbudsmanBody.HOUSING_OMBUDSMAN,
                ombudsman_reference="1",
                stage=ev.OmbudsmanStage.INVESTIGATION,
            ),
        ],
        cmd(
            c.RecordOmbudsmanDecision,
            finding=ev.OmbudsmanFinding.MALADMINISTRATION,
            remedy_ordered="pay £100",
            compliance_due_on=future(28),
        ),
        "OmbudsmanDecisionRecorded",
    ),
    Case_(
        "compliance with nothing ordered",
        [
            *ISSUED,
            cmd(
                c.RecordOmbudsmanEnquiry,
                body=ev.OmbudsmanBody.HOUSING_OMBUDSMAN,
                ombudsman_reference="1",
                stage=ev.OmbudsmanStage.INVESTIGATION,
            ),
            cmd(c.RecordOmbudsmanDecision, finding=ev.OmbudsmanFinding.NO_FAULT),
        ],
        cmd(c.CompleteOmbudsmanCompliance, evidence="x"),
        "refused: ordered nothing",
    ),
    Case_(
        "close while the Ombudsman is deciding",
        [
            *ISSUED,
            cmd(
                c.RecordOmbudsmanEnquiry,
                body=ev.OmbudsmanBody.HOUSING_OMBUDSMAN,
                ombudsman_reference="1",
                stage=ev.OmbudsmanStage.ENQUIRY,
            ),
        ],
        cmd(c.Close, reason="done"),
        "refused: Ombudsman's decision",
    ),
    # flags
    Case_(
        "safeguarding needs a referral",
        [open_case()],
        cmd(c.RaiseFlag, flag_id="F1", flag_type=ev.FlagType.SAFEGUARDING, detail="x"),
        "refused: where it was referred",
    ),
    Case_(
        "safeguarding referred",
        [open_case()],
        cmd(
            c.RaiseFlag,
            flag_id="F1",
            flag_type=ev.FlagType.SAFEGUARDING,
            detail="x",
            referred_to="adult safeguarding hub",
        ),
        "FlagRaised",
    ),
    Case_(
        "risk says what kind",
        [open_case()],
        cmd(c.RaiseFlag, flag_id="F1", flag_type=ev.FlagType.RISK, detail="x"),
        "refused: what kind of risk",
    ),
    Case_(
        "restriction needs terms and review",
        [open_case()],
        cmd(
            c.RaiseFlag,
            actor=MANAGER,
            flag_id="F1",
            flag_type=ev.FlagType.UNREASONABLE_BEHAVIOUR,
            detail="x",
        ),
        "refused: review date",
    ),
    Case_(
        "restriction by an officer",
        [open_case()],
        cmd(
            c.RaiseFlag,
            flag_id="F1",
            flag_type=ev.FlagType.UNREASONABLE_BEHAVIOUR,
            detail="x",
            contact_restriction="email only to one officer",
            review_on=future(90),
        ),
        "refused: only a manager",
    ),
    Case_(
        "restriction by a manager",
        [open_case()],
        cmd(
            c.RaiseFlag,
            actor=MANAGER,
            flag_id="F1",
            flag_type=ev.FlagType.UNREASONABLE_BEHAVIOUR,
            detail="x",
            contact_restriction="email only to one officer",
            review_on=future(90),
        ),
        "FlagRaised",
    ),
    Case_(
        "lift a flag",
        [
            open_case(),
            cmd(c.RaiseFlag, flag_id="F1", flag_type=ev.FlagType.VULNERABILITY, detail="x"),
        ],
        cmd(c.LiftFlag, flag_id="F1", reason="no longer"),
        "FlagLifted",
    ),
    Case_(
        "lift a lifted flag",
        [
            open_case(),
            cmd(c.RaiseFlag, flag_id="F1", flag_type=ev.FlagType.VULNERABILITY, detail="x"),
            cmd(c.LiftFlag, flag_id="F1", reason="x"),
        ],
        cmd(c.LiftFlag, flag_id="F1", reason="y"),
        "refused: already lifted",
    ),
    # contacts, evidence
    Case_(
        "log a call",
        [open_case()],
        cmd(
            c.LogContact,
            contact_id="C1",
            contact_kind=ev.ContactKind.CALL,
            occurred_at=datetime(2026, 3, 2, 11, tzinfo=UTC),
            with_whom="resident",
            summary="discussed the repair",
        ),
        "ContactLogged",
    ),
    Case_(
        "attach evidence",
        [open_case()],
        cmd(
            c.AttachEvidence,
            evidence_id="E1",
            filename="photo.jpg",
            content_type="image/jpeg",
            size_bytes=1000,
            sha256="a" * 64,
        ),
        "EvidenceAttached",
    ),
    Case_(
        "attach the same evidence id twice",
        [
            open_case(),
            cmd(
                c.AttachEvidence,
                evidence_id="E1",
                filename="a.pdf",
                content_type="application/pdf",
                size_bytes=1,
                sha256="b" * 64,
            ),
        ],
        cmd(
            c.AttachEvidence,
            evidence_id="E1",
            filename="a.pdf",
            content_type="application/pdf",
            size_bytes=1,
            sha256="b" * 64,
        ),
        "refused: exists",
    ),
    # a reply about the case, matched by intake from its reference
    Case_("correspondence is logged", [open_case()], correspondence(), "ContactLogged"),
    Case_("correspondence for no case", [], correspondence(), "refused: no such case"),
    # withdraw, close, reopen
    Case_(
        "withdraw a closed case",
        [*ISSUED, cmd(c.Close, reason="x")],
        cmd(c.Withdraw, reason="y"),
        "refused: is closed",
    ),
    Case_(
        "complete financial redress by hand",
        [
            *ISSUED,
            cmd(
                c.RecordRemedy,
                remedy_id="R1",
                remedy_type=ev.RemedyType.FINANCIAL,
                description="x",
                amount=Decimal("50"),
            ),
        ],
        cmd(c.CompleteRemedy, remedy_id="R1"),
        "refused: completed by paying",
    ),
    Case_(
        "officer cannot refuse an extension",
        [
            open_case(procedure=Procedure.SPSO),
            triage(Procedure.SPSO),
            acknowledge(),
            cmd(c.Extend, extension_id="E1", working_days=5, reason="x"),
        ],
        cmd(c.RefuseExtension, extension_id="E1", reason="no"),
        "refused: only a manager",
    ),
    Case_(
        "log the same contact twice",
        [
            open_case(),
            cmd(
                c.LogContact,
                contact_id="C1",
                contact_kind=ev.ContactKind.EMAIL,
                occurred_at=datetime(2026, 3, 2, 11, tzinfo=UTC),
                with_whom="r",
                summary="x",
            ),
        ],
        cmd(
            c.LogContact,
            contact_id="C1",
            contact_kind=ev.ContactKind.EMAIL,
            occurred_at=datetime(2026, 3, 2, 11, tzinfo=UTC),
            with_whom="r",
            summary="x",
        ),
        "refused: already logged",
    ),
    Case_("withdraw", ACKED, cmd(c.Withdraw, reason="resolved with the resident"), "CaseWithdrawn"),
    Case_(
        "close before the response",
        ACKED,
        cmd(c.Close, reason="x"),
        "refused: must be issued before the case is closed",
    ),
    Case_("close after the response", ISSUED, cmd(c.Close, reason="answered"), "CaseClosed"),
    Case_(
        "close twice",
        [*ISSUED, cmd(c.Close, reason="x")],
        cmd(c.Close, reason="y"),
        "refused: is closed",
    ),
    Case_(
        "reopen",
        [*ISSUED, cmd(c.Close, reason="x")],
        cmd(c.Reopen, reason="new info"),
        "CaseReopened",
    ),
    Case_("reopen an open case", ISSUED, cmd(c.Reopen, reason="x"), "refused: not closed"),
]


@pytest.mark.parametrize("row", TABLE, ids=[r.name for r in TABLE])
def test_transition(row: Case_) -> None:
    state, _ = run(*row.given)
    if row.then.startswith("refused: "):
        refused(state, row.when, row.then.removeprefix("refused: "))
    else:
        _, events = run(row.when, state=state)
        assert [type(e).__name__ for e in events] == [row.then]


def test_every_command_has_an_allowed_and_a_refused_row() -> None:
    allowed = {type(r.when) for r in TABLE if not r.then.startswith("refused")}
    refusals = {type(r.when) for r in TABLE if r.then.startswith("refused")}
    every = set(c.Command.__subclasses__())
    assert every - allowed == set(), f"no allowed row for {every - allowed}"
    missing = every - refusals
    assert missing == set(), f"no refused row for {missing}"


def test_outcomes_overall() -> None:
    u, p, n = ev.Outcome.UPHELD, ev.Outcome.PARTLY_UPHELD, ev.Outcome.NOT_UPHELD
    assert overall_outcome([u, u]) is u
    assert overall_outcome([n, n]) is n
    assert overall_outcome([u, n]) is p
    assert overall_outcome([p]) is p


def test_closing_a_stage_one_answer_and_the_state_it_leaves() -> None:
    state, events = run(*ISSUED, cmd(c.Close, reason="answered"))
    assert state.lifecycle is Lifecycle.CLOSED and state.resolution is Resolution.RESPONDED
    issued = next(e for e in events if isinstance(e, ev.ResponseIssued))
    assert issued.final is False  # stage 1 of two: the letter must say how to escalate
    reopened, _ = run(cmd(c.Reopen, reason="x"), state=state)
    assert reopened.lifecycle is Lifecycle.OPEN and reopened.resolution is None


def test_final_stage_response_is_marked_final() -> None:
    state, events = run(
        *STAGE_TWO, cmd(c.Assign, officer="oscar"), acknowledge(), draft(), qa(), issue()
    )
    issued = [e for e in events if isinstance(e, ev.ResponseIssued)]
    assert [i.final for i in issued] == [False, True]
    assert state.stage == 2 and state.stages[0].handler == "olivia"
    assert state.stages[1].handler == "oscar"


def test_compliment_is_closed_when_passed_on() -> None:
    state, _ = run(open_case(FeedbackKind.COMPLIMENT), cmd(c.PassToService, service_area="parks"))
    assert state.is_closed and state.resolution is Resolution.PASSED_TO_SERVICE


def test_extension_days_accumulate() -> None:
    state, _ = run(
        *ACKED,
        cmd(c.Extend, extension_id="E1", working_days=4, reason="x"),
        cmd(c.Extend, extension_id="E2", working_days=6, reason="y"),
    )
    assert state.current.extension_days == 10


def test_references() -> None:
    assert format_reference(FeedbackKind.COMPLAINT, 2026, 1) == "CMP-2026-000001"
    assert format_reference(FeedbackKind.MEMBER_ENQUIRY, 2026, 12) == "MEQ-2026-000012"
    assert format_reference(FeedbackKind.COMPLAINT, 2027, 1234567) == "CMP-2027-1234567"
    with pytest.raises(ValueError):
        format_reference(FeedbackKind.COMPLAINT, 2027, 0)


def test_empty_case_is_not_opened() -> None:
    assert Case().lifecycle is Lifecycle.NOT_OPENED
    assert OFFICER.role.value == "officer"
