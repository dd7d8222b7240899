"""The workspace's guards, without a browser: sign-in, CSRF, roles, a service's own cases only,
stale pages, error summaries, the domain's refusals, and searches kept out of URLs."""

from __future__ import annotations

import re

import httpx

from contracts import Role
from redress.auth import COOKIE, mint
from tests.e2e.casework_client import Staff, new_case
from tests.e2e.conftest import System

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
VERSION = re.compile(r'name="version" value="(\d+)"')


def desk(system: System, user: str, role: Role, service: str | None = None) -> httpx.AsyncClient:
    """A browser-like client: signed in by the cookie the workspace's sign-in sets."""
    token = mint(system.token_key, user=user, role=role, service_area=service)
    return httpx.AsyncClient(
        base_url=system.url("casework", ""), cookies={COOKIE: token}, timeout=20
    )


async def form_of(client: httpx.AsyncClient, path: str) -> tuple[str, str]:
    """The CSRF token and case version of the form at ``path``."""
    r = await client.get(path)
    assert r.status_code == 200, r.text
    version = VERSION.search(r.text)
    csrf = CSRF.search(r.text)
    assert csrf is not None
    return csrf.group(1), version.group(1) if version else ""


async def test_sign_in_needs_a_valid_token_and_a_csrf_token(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url("casework", ""), timeout=20) as client:
        r = await client.get("/caseload")
        assert r.status_code == 303 and r.headers["location"] == "/sign-in"
        page = await client.get("/sign-in")
        assert "Content-Security-Policy" in page.headers
        csrf = CSRF.search(page.text)
        assert csrf is not None
        forged = await client.post("/sign-in", data={"token": "x" * 40})
        assert forged.status_code == 403 and "expired" in forged.text
        bad = await client.post("/sign-in", data={"token": "not-a-token", "csrf_token": csrf[1]})
        assert bad.status_code == 400
        assert 'class="error-summary"' in bad.text and 'href="#f-token"' in bad.text
        token = mint(system.token_key, user="olga", role=Role.OFFICER)
        good = await client.post("/sign-in", data={"token": token, "csrf_token": csrf[1]})
        assert good.status_code == 303 and good.headers["location"] == "/caseload"
        set_cookie = good.headers["set-cookie"]
        assert "httponly" in set_cookie.lower() and "samesite=strict" in set_cookie.lower()
        assert token not in good.headers["location"]
        caseload = await client.get("/caseload")
        assert caseload.status_code == 200 and "Signed in as <strong>olga</strong>" in caseload.text


async def test_a_command_without_the_csrf_token_changes_nothing(system: System) -> None:
    async with httpx.AsyncClient(timeout=20) as api:
        case = await new_case(api, system, organisation_id="ws-guards")
    cid = case["case_id"]
    async with desk(system, "olga", Role.OFFICER) as client:
        _, version = await form_of(client, f"/cases/{cid}/do/withdraw")
        r = await client.post(
            f"/cases/{cid}/do/withdraw", data={"reason": "Changed my mind", "version": version}
        )
        assert r.status_code == 403 and "expired" in r.text
        r = await client.post(
            f"/cases/{cid}/do/withdraw",
            data={"reason": "Changed my mind", "version": version, "csrf_token": "x" * 40},
        )
        assert r.status_code == 403
        after = await client.get(f"/v1/cases/{cid}")
        assert after.json()["lifecycle"] == "new" and after.json()["version"] == int(version)


async def test_wrong_roles_and_other_services_see_not_allowed(system: System) -> None:
    async with httpx.AsyncClient(timeout=20) as api:
        case = await new_case(api, system, organisation_id="ws-guards", service_area="repairs")
        await Staff(api, system, "olga", Role.OFFICER).do(
            case["case_id"],
            "triage",
            {
                "kind": "complaint",
                "procedure": "housing_ombudsman",
                "service_area": "repairs",
                "category": "repairs",
            },
        )
        await Staff(api, system, "olga", Role.OFFICER).do(
            case["case_id"], "assign", {"officer": "olga-guards"}
        )
    cid, ref = case["case_id"], case["reference"]
    async with desk(system, "maya", Role.MANAGER) as manager:
        theirs = await manager.get("/caseload", params={"officer": "olga-guards"})
        assert "Caseload of olga-guards" in theirs.text and ref in theirs.text
    async with desk(system, "omar", Role.OFFICER) as omar:
        own = await omar.get("/caseload", params={"officer": "olga-guards"})
        assert "My caseload" in own.text and ref not in own.text
    async with desk(system, "audrey", Role.AUDITOR) as auditor:
        read = await auditor.get(f"/cases/{cid}")
        assert read.status_code == 200 and "Read only" in read.text
        form = await auditor.get(f"/cases/{cid}/do/close")
        assert form.status_code == 403 and "not allowed" in form.text
        csrf, _ = await form_of(auditor, "/search")
        post = await auditor.post(
            f"/cases/{cid}/do/close", data={"reason": "x", "version": "1", "csrf_token": csrf}
        )
        assert post.status_code == 403
    async with desk(system, "omar", Role.OFFICER) as officer:
        r = await officer.get(f"/cases/{cid}/do/extension-approvals")
        assert r.status_code == 403 and "manager" in r.text
        r = await officer.get("/manager")
        assert r.status_code == 403
    async with desk(system, "pam", Role.SERVICE_RESPONDER, "parks") as parks:
        r = await parks.get(f"/cases/{cid}")
        assert r.status_code == 403 and "not allowed" in r.text
        assert ref not in r.text and "Ada Resident" not in r.text
        r = await parks.get(f"/cases/{cid}/do/service-responses")
        assert r.status_code == 403 and ref not in r.text
        csrf, _ = await form_of(parks, "/search")
        found = await parks.post("/search", data={"reference": ref, "csrf_token": csrf})
        assert found.status_code == 200 and "0 cases found" in found.text
        assert f'href="/cases/{cid}"' not in found.text
    async with desk(system, "ravi", Role.SERVICE_RESPONDER, "repairs") as repairs:
        r = await repairs.get(f"/cases/{cid}")
        assert r.status_code == 200 and ref in r.text
        r = await repairs.get(f"/cases/{cid}/do/close")
        assert r.status_code == 403


async def test_a_stale_form_shows_what_changed_and_overwrites_nothing(system: System) -> None:
    async with httpx.AsyncClient(timeout=20) as api:
        case = await new_case(api, system, organisation_id="ws-guards")
        cid = case["case_id"]
        async with desk(system, "olga", Role.OFFICER) as olga:
            csrf, version = await form_of(olga, f"/cases/{cid}/do/withdraw")
            # meanwhile a colleague triages the case through the API
            await Staff(api, system, "tom", Role.OFFICER).do(
                cid,
                "triage",
                {
                    "kind": "complaint",
                    "procedure": "housing_ombudsman",
                    "service_area": "repairs",
                    "category": "repairs - boilers",
                },
            )
            data = {"reason": "Resolved on the phone", "version": version, "csrf_token": csrf}
            stale = await olga.post(f"/cases/{cid}/do/withdraw", data=data)
            unversioned = {k: v for k, v in data.items() if k != "version"}
            blind = await olga.post(f"/cases/{cid}/do/withdraw", data=unversioned)
            assert blind.status_code == 400 and "which version of the case" in blind.text
            stale = await olga.post(f"/cases/{cid}/do/withdraw", data=data)
            assert stale.status_code == 409
            assert "Someone else changed this case" in stale.text
            assert "Case triaged" in stale.text and "tom (officer)" in stale.text
            assert "repairs - boilers" in stale.text
            assert "Resolved on the phone" in stale.text  # what she typed is kept
            fresh = VERSION.search(stale.text)
            assert fresh is not None and int(fresh[1]) == int(version) + 1
            view = await olga.get(f"/v1/cases/{cid}")
            assert view.json()["lifecycle"] == "open"  # not withdrawn

            # sent again, deliberately, against the case as it now is: it is done
            again = await olga.post(f"/cases/{cid}/do/withdraw", data={**data, "version": fresh[1]})
            assert again.status_code == 303
            assert again.headers["location"] == f"/cases/{cid}?done=withdraw"
            view = await olga.get(f"/v1/cases/{cid}")
            assert view.json()["lifecycle"] == "closed"


async def test_errors_come_back_summarised_with_the_input_kept(system: System) -> None:
    async with httpx.AsyncClient(timeout=20) as api:
        case = await new_case(api, system, organisation_id="ws-guards")
    cid = case["case_id"]
    async with desk(system, "olga", Role.OFFICER) as olga:
        csrf, version = await form_of(olga, f"/cases/{cid}/do/triage")
        r = await olga.post(
            f"/cases/{cid}/do/triage",
            data={
                "csrf_token": csrf,
                "version": version,
                "kind": "complaint",
                "procedure": "housing_ombudsman",
                "service_area": "repairs",
                "category": "",
                "location.address": "10 Mill Lane",
                "location.postcode": "not a postcode",
            },
        )
        assert r.status_code == 400
        summary = _between(r.text, 'class="error-summary"', "</div>")
        assert 'href="#f-category"' in summary and "Enter category" in summary
        assert 'href="#f-location-postcode"' in summary and "postcode" in summary.lower()
        assert summary.index("#f-category") < summary.index("#f-location-postcode")
        assert 'value="10 Mill Lane"' in r.text and 'value="not a postcode"' in r.text
        assert r.text.count('aria-invalid="true"') == 2
        assert "<title>Error: " in r.text

        # valid input that the case's state does not allow: the domain's rule, said plainly
        csrf, version = await form_of(olga, f"/cases/{cid}/do/issue-response")
        refused = await olga.post(
            f"/cases/{cid}/do/issue-response", data={"csrf_token": csrf, "version": version}
        )
        assert refused.status_code == 409
        assert "This cannot be done now" in refused.text
        assert "must be triaged first" in refused.text


async def test_searches_by_personal_data_are_posted(system: System) -> None:
    async with httpx.AsyncClient(timeout=20) as api:
        email = "grace.findable@example.org"
        case = await new_case(
            api,
            system,
            organisation_id="ws-guards",
            complainant={"name": "Grace Findable", "email": email, "postcode": "YO1 7HH"},
        )
    async with desk(system, "olga", Role.OFFICER) as olga:
        csrf, _ = await form_of(olga, "/search")
        for field, value in [
            ("email", email),
            ("name", "findable"),
            ("postcode", "yo17hh"),
            ("reference", case["reference"]),
            ("q", "Grace Find"),
        ]:
            r = await olga.post("/search", data={field: value, "csrf_token": csrf})
            assert r.status_code == 200 and case["reference"] in r.text, field
        empty = await olga.post("/search", data={"csrf_token": csrf})
        assert empty.status_code == 400 and "error-summary" in empty.text
        # the search form itself never sends what was searched for in the address
        form = await olga.get("/search")
        assert 'method="post" action="/search"' in form.text


def _between(text: str, start: str, end: str) -> str:
    i = text.index(start)
    return text[i : text.index(end, i)]


async def test_evidence_is_attached_from_the_case_page(system: System) -> None:
    async with httpx.AsyncClient(timeout=20) as api:
        case = await new_case(api, system, organisation_id="ws-guards")
    cid = case["case_id"]
    async with desk(system, "olga", Role.OFFICER) as olga:
        csrf, _ = await form_of(olga, f"/cases/{cid}")
        ok = await olga.post(
            f"/cases/{cid}/evidence",
            data={"csrf_token": csrf, "description": "Resident's note"},
            files={"file": ("note.txt", b"The boiler is still broken.", "text/plain")},
        )
        assert ok.status_code == 303 and ok.headers["location"] == f"/cases/{cid}?done=evidence"
        page = await olga.get(ok.headers["location"])
        assert "Done: Evidence attached" in page.text and "note.txt" in page.text
        link = re.search(rf'href="(/v1/cases/{cid}/evidence/[0-9a-f]+)"', page.text)
        assert link is not None
        download = await olga.get(link[1])  # the API, signed in by the same cookie
        assert download.content == b"The boiler is still broken."
        bad = await olga.post(
            f"/cases/{cid}/evidence",
            data={"csrf_token": csrf},
            files={"file": ("run.exe", b"MZ\x90\x00", "application/octet-stream")},
        )
        assert bad.status_code == 400 and 'href="#f-file"' in bad.text
