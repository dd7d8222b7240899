"""Demo data: complaints submitted and handled through the public and staff APIs of a running
system, exactly as residents and officers would, so that every service (and the dashboard) has
something to show."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from contracts import Role
from redress.auth import mint

CATEGORIES = [
    "repairs",
    "damp and mould",
    "anti-social behaviour",
    "rent and charges",
    "staff conduct",
    "waste collection",
    "council tax",
]
WARDS = [
    ("M1 1AE", "Piccadilly"),
    ("M15 5AT", "Hulme"),
    ("M14 4PX", "Moss Side"),
    ("M20 2RN", "Didsbury"),
    ("M4 6FG", "Ancoats"),
]
NAMES = [
    "Ada Lovelace",
    "Alan Turing",
    "Mary Seacole",
    "Rosalind Franklin",
    "Tim Berners-Lee",
    "Grace Hopper",
    "Dorothy Hodgkin",
    "Tommy Flowers",
]


async def configure_organisation(
    client: httpx.AsyncClient,
    base: Callable[[str], str],
    key: str,
    organisation_id: str,
    name: str | None = None,
) -> None:
    """Make sure an organisation is configured, then wait until intake takes submissions for
    it. Once any organisation is configured intake refuses the others (422), and it learns of
    a configuration from casework's event, a moment later. One configured already (by an
    admin, or an earlier run) is left as it is; a new one gets the settings an organisation
    nobody configured has anyway (England's bank holidays, the default procedure)."""
    admin = {"Authorization": f"Bearer {mint(key, user='demo-admin', role=Role.ADMIN)}"}
    url = base("casework") + f"/v1/organisations/{organisation_id}"
    r = await client.get(url, headers=admin)
    if r.status_code == 404:
        r = await client.put(
            url,
            json={
                "name": name or organisation_id.replace("-", " ").title(),
                "nation": "ENG",
                "default_procedure": "housing_ombudsman",
            },
            headers=admin,
        )
    r.raise_for_status()
    await intake_knows(client, base("intake"), admin, organisation_id)


async def intake_knows(
    client: httpx.AsyncClient, intake: str, headers: dict[str, str], organisation_id: str
) -> None:
    """Wait until intake (at ``intake``) takes submissions for the organisation: it hears of a
    configuration from casework's event, a moment after casework took it."""
    known = f"{intake}/v1/organisations/{organisation_id}"
    async with asyncio.timeout(120):  # generous: a busy machine, a slow consumer
        for _ in itertools.count():
            if (await client.get(known, headers=headers)).status_code == 200:
                return
            await asyncio.sleep(0.1)


async def load(
    base: Callable[[str], str],
    key: str,
    cases: int,
    organisation_id: str,
    seed: int,
    concurrency: int = 8,
    progress: Callable[[], None] = lambda: None,
) -> dict[str, int]:
    rnd = random.Random(seed)
    officer = {"Authorization": f"Bearer {mint(key, user='demo-officer', role=Role.OFFICER)}"}
    manager = {"Authorization": f"Bearer {mint(key, user='demo-manager', role=Role.MANAGER)}"}
    counts: dict[str, int] = {"submitted": 0, "answered": 0, "escalated": 0}
    plans = [
        (
            rnd.random(),
            rnd.random(),
            rnd.random(),
            rnd.randrange(0, 365),
            rnd.choice(WARDS),
            rnd.choice(CATEGORIES),
            rnd.choice(NAMES),
            rnd.choices(["complaint", "compliment", "comment"], [85, 10, 5])[0],
            number,
        )
        for number in range(cases)
    ]
    run = uuid.uuid4().hex[:6]
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30) as client:
        await configure_organisation(client, base, key, organisation_id)

        async def post(url: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
            r = await client.post(url, json=body, headers=headers)
            while r.status_code == 429:  # the public endpoint's rate limit: wait as told
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                r = await client.post(url, json=body, headers=headers)
            r.raise_for_status()
            return r.json()  # type: ignore[no-any-return]

        async def one(plan: tuple[Any, ...]) -> None:
            answered, escalated, upheld, days_ago, (postcode, ward), category, name, kind, n = plan
            async with gate:
                received = datetime.now(UTC) - timedelta(days=days_ago, hours=3)
                receipt = await post(
                    base("intake") + "/v1/submissions",
                    {
                        "kind": kind,
                        "channel": "web",
                        "organisation_id": organisation_id,
                        "service_area": category,
                        "summary": f"About {category}",
                        "received_at": received.isoformat(),
                        "complainant": {
                            "name": name,
                            # one address per resident and run: the same words from the same
                            # address on one day would be linked as a duplicate, not a new case
                            "email": f"resident{n}.{run}@example.org",
                            "postcode": postcode,
                        },
                    },
                    officer,  # staff are not rate-limited as the public are
                )
                counts["submitted"] += 1
                case = None
                for _ in range(200):
                    r = await client.get(
                        base("casework") + "/v1/cases",
                        headers=officer,
                        params={"submission_id": receipt["submission_id"]},
                    )
                    if r.json()["cases"]:
                        case = r.json()["cases"][0]
                        break
                    await asyncio.sleep(0.1)
                if case is None or kind != "complaint" or answered > 0.8:
                    progress()
                    return
                url = base("casework") + f"/v1/cases/{case['case_id']}"
                await post(
                    f"{url}/triage",
                    {
                        "kind": "complaint",
                        "procedure": case["procedure"],
                        "service_area": category,
                        "category": category,
                        "location": {"postcode": postcode, "ward": ward},
                    },
                    officer,
                )
                for stage in (1, 2):
                    if stage == 2:
                        await post(f"{url}/escalate", {"reasons": "Still unhappy"}, officer)
                        await post(f"{url}/assign", {"officer": "demo-investigator"}, manager)
                        counts["escalated"] += 1
                    await post(
                        f"{url}/acknowledge",
                        {
                            "points": [{"point_id": "1", "text": f"Problem with {category}"}],
                            "outcomes_sought": ["Put it right"],
                        },
                        officer,
                    )
                    outcome = (
                        "upheld"
                        if upheld < 0.4
                        else ("partly_upheld" if upheld < 0.7 else "not_upheld")
                    )
                    await post(
                        f"{url}/draft-response",
                        {
                            "text": "Dear resident",
                            "point_outcomes": [
                                {
                                    "point_id": "1",
                                    "outcome": outcome,
                                    "reasons": "We looked into it",
                                }
                            ],
                        },
                        officer,
                    )
                    await post(
                        f"{url}/quality-check",
                        {
                            "checklist": {
                                "every_point_answered": True,
                                "plain_english": True,
                                "remedy_stated": True,
                                "signposting_present": True,
                            }
                        },
                        manager,
                    )
                    await post(f"{url}/issue-response", None, officer)
                    counts["answered"] += 1
                    if stage == 1 and outcome != "not_upheld" and upheld < 0.2:
                        await post(
                            f"{url}/remedies",
                            {
                                "remedy_id": "R1",
                                "remedy_type": "financial",
                                "amount": "50.00",
                                "description": "For the time and trouble",
                            },
                            officer,
                        )
                        await post(f"{url}/redress-approvals", {"remedy_id": "R1"}, manager)
                    if stage == 1 and escalated > 0.15:
                        break
                progress()

        await asyncio.gather(*(one(p) for p in plans))
    return counts
