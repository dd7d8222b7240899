"""A housing complaint walked through the staff API from submission to closure, the way an
officer, a service, a manager and an investigator would, with the Ombudsman at the end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx

from contracts import Role
from redress.clock import london_today
from tests.e2e.casework_client import Staff, new_case
from tests.e2e.conftest import System

GOOD_QA = {
    "checklist": {
        "every_point_answered": True,
        "plain_english": True,
        "remedy_stated": True,
        "signposting_present": True,
    }
}


def london_date() -> date:
    return london_today(datetime.now(UTC))


def soon(days: int) -> str:
    return (london_date() + timedelta(days=days)).isoformat()


async def test_a_housing_complaint_from_submission_to_closure(system: System) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        case = await new_case(client, system, organisation_id="walkthrough-homes")
        cid = case["case_id"]
        olivia = Staff(client, system, "olivia", Role.OFFICER)
        oscar = Staff(client, system, "oscar", Role.OFFICER)
        maya = Staff(client, system, "maya", Role.MANAGER)
        repairs = Staff(client, system, "ravi", Role.SERVICE_RESPONDER, "repairs")
        auditor = Staff(client, system, "audrey", Role.AUDITOR)

        triage_queue = await olivia.get("/v1/queues/triage")
        assert cid in [c["case_id"] for c in triage_queue["cases"]]

        await olivia.do(
            cid,
            "triage",
            {
                "kind": "complaint",
                "procedure": "housing_ombudsman",
                "service_area": "repairs",
                "category": "repairs - missed appointments",
                "priority": "high",
                "location": {"address": "10 Mill Lane", "postcode": "M1 1AE", "ward": "Ancoats"},
            },
        )
        await olivia.do(cid, "assign", {"officer": "olivia", "service_area": "repairs"})
        await olivia.do(
            cid,
            "acknowledge",
            {
                "points": [
                    {"point_id": "1", "text": "Three repair appointments were missed"},
                    {"point_id": "2", "text": "Nobody returned my calls"},
                ],
                "outcomes_sought": ["Boiler repaired", "An apology and compensation"],
            },
        )
        await olivia.do(
            cid,
            "service-requests",
            {
                "part_id": "A",
                "service_area": "repairs",
                "contributor": "ravi",
                "point_ids": ["1"],
                "due_on": soon(5),
                "request": "Why were the appointments missed, and when will the boiler be fixed?",
            },
        )
        caseload = await olivia.get("/v1/queues/caseload")
        assert cid in [c["case_id"] for c in caseload["cases"]]

        # the repairs service sees its part, but cannot act like an officer
        mine = await repairs.get("/v1/cases", service_area="repairs")
        assert cid in [c["case_id"] for c in mine["cases"]]
        await repairs.do(cid, "escalate", {}, expect=403)
        await repairs.do(
            cid,
            "service-responses",
            {
                "part_id": "A",
                "response": "Our contractor missed two visits; fixed on 5 March.",
            },
        )

        refused = await olivia.do(cid, "issue-response", expect=409)
        assert "cannot be issued before it is drafted" in refused["detail"]

        await olivia.do(
            cid,
            "draft-response",
            {
                "text": "Dear Ms Resident, thank you ...",
                "point_outcomes": [
                    {"point_id": "1", "outcome": "upheld", "reasons": "Two visits were missed."},
                    {"point_id": "2", "outcome": "not_upheld", "reasons": "Calls were returned."},
                ],
            },
        )
        await maya.do(cid, "quality-check", GOOD_QA)
        issued = await olivia.do(cid, "issue-response")
        stage_one = issued["case"]["stages"][0]
        assert stage_one["overall"] == "partly_upheld"

        await olivia.do(
            cid,
            "remedies",
            {
                "remedy_id": "R1",
                "remedy_type": "financial",
                "amount": "50.00",
                "description": "For the time and trouble of three missed appointments",
            },
        )
        refused = await olivia.do(cid, "redress-payments", {"remedy_id": "R1"}, expect=409)
        assert "must be approved" in refused["detail"]
        await olivia.do(cid, "redress-approvals", {"remedy_id": "R1"}, expect=403)
        await maya.do(cid, "redress-approvals", {"remedy_id": "R1"})
        await olivia.do(cid, "redress-payments", {"remedy_id": "R1"})
        await olivia.do(
            cid,
            "learning-actions",
            {
                "action_id": "L1",
                "description": "Text residents the day before a repair visit",
                "owner": "repairs manager",
                "due_on": soon(60),
            },
        )

        # the resident is still unhappy: stage 2, by someone else (HOS Code 6.12)
        await olivia.do(cid, "escalate", {"reasons": "The boiler broke again"})
        refused = await olivia.do(cid, "assign", {"officer": "olivia"}, expect=409)
        assert "different person" in refused["detail"]
        await maya.do(cid, "assign", {"officer": "oscar"})
        refused = await oscar.do(cid, "issue-response", expect=409)
        assert "stage 2 must be acknowledged" in refused["detail"]
        await oscar.do(
            cid,
            "acknowledge",
            {
                "points": [{"point_id": "1", "text": "The repair did not last"}],
                "outcomes_sought": ["A working boiler"],
            },
        )
        await oscar.do(
            cid,
            "draft-response",
            {
                "text": "Dear Ms Resident, at stage 2 ...",
                "point_outcomes": [
                    {"point_id": "1", "outcome": "upheld", "reasons": "The part was faulty."}
                ],
            },
        )
        await maya.do(cid, "quality-check", GOOD_QA)
        final = await oscar.do(cid, "issue-response")
        assert final["case"]["stage"] == 2

        # the Ombudsman
        await oscar.do(
            cid,
            "ombudsman-enquiries",
            {
                "body": "housing_ombudsman",
                "ombudsman_reference": "202612345",
                "stage": "investigation",
                "information_due_on": soon(14),
            },
        )
        refused = await oscar.do(cid, "close", {"reason": "done"}, expect=409)
        assert "Ombudsman" in refused["detail"]
        await oscar.do(cid, "ombudsman-information", {"summary": "Full case file sent"})
        await oscar.do(
            cid,
            "ombudsman-decisions",
            {
                "finding": "service_failure",
                "remedy_ordered": "Pay a further £100",
                "compliance_due_on": soon(28),
            },
        )
        await oscar.do(cid, "ombudsman-compliance", {"evidence": "Paid; confirmed to the HOS"})
        closed = await oscar.do(cid, "close", {"reason": "Ombudsman order complied with"})
        assert closed["case"]["lifecycle"] == "closed"

        # everything is on the record, with who and when
        history = await auditor.get(f"/v1/cases/{cid}/history")
        steps = [(e["event_type"], e["actor"]) for e in history["events"]]
        assert steps == [
            ("CaseOpened", "service:casework"),
            ("CaseTriaged", "officer:olivia"),
            ("CaseAssigned", "officer:olivia"),
            ("CaseAcknowledged", "officer:olivia"),
            ("ServiceResponseRequested", "officer:olivia"),
            ("ServiceResponseReceived", "service_responder:ravi"),
            ("ResponseDrafted", "officer:olivia"),
            ("ResponseQualityChecked", "manager:maya"),
            ("ResponseIssued", "officer:olivia"),
            ("RemedyRecorded", "officer:olivia"),
            ("RedressApproved", "manager:maya"),
            ("RedressPaid", "officer:olivia"),
            ("LearningActionAdded", "officer:olivia"),
            ("CaseEscalated", "officer:olivia"),
            ("CaseAssigned", "manager:maya"),
            ("CaseAcknowledged", "officer:oscar"),
            ("ResponseDrafted", "officer:oscar"),
            ("ResponseQualityChecked", "manager:maya"),
            ("ResponseIssued", "officer:oscar"),
            ("OmbudsmanEnquiryReceived", "officer:oscar"),
            ("OmbudsmanInformationProvided", "officer:oscar"),
            ("OmbudsmanDecisionRecorded", "officer:oscar"),
            ("OmbudsmanComplianceCompleted", "officer:oscar"),
            ("CaseClosed", "officer:oscar"),
        ]
        assert all(e["occurred_at"] for e in history["events"])
        view = await auditor.get(f"/v1/cases/{cid}")
        state = view["state"]
        assert state["remedies"][0]["amount"] == "50.00" and state["remedies"][0]["paid_on"]
        assert state["learning_actions"][0]["owner"] == "repairs manager"
        assert state["ombudsman"]["finding"] == "service_failure"
        assert view["ward"] == "Ancoats"

        # and the case as it stood before today is empty of today's work
        yesterday = (london_date() - timedelta(days=1)).isoformat()
        past = await auditor.get(f"/v1/cases/{cid}/history", as_of=yesterday)
        assert past["events"] == [] and past["case"] is None
        today = await auditor.get(f"/v1/cases/{cid}/history", as_of=london_date().isoformat())
        assert today["case"]["lifecycle"] == "closed"
        # an auditor reads but cannot act
        await auditor.do(cid, "reopen", {"reason": "x"}, expect=403)
