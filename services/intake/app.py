"""Intake's process: the public form, the submission APIs, letters and the shared mailbox's SMTP
listener (a background job), emitting through its outbox; it consumes case, deadline and
organisation events only for the tracking page, the form's list of organisations and matching a
reply's case reference to its case."""

from pathlib import Path

from contracts import CASE_TOPIC, DEADLINE_TOPIC, ORGANISATION_TOPIC, PERSON_TOPIC
from redress import ratelimit
from redress.service import Runtime, Service, Subscription, poll_forever
from services.intake import evidence, letters, privacy, tracking, web
from services.intake.api import router
from services.intake.domain.tracking import CASE_EVENTS, DEADLINE_EVENTS
from services.intake.mailbox import run_mailbox


async def forget_idle_rate_limits(runtime: Runtime) -> None:
    await poll_forever(
        "forgetting idle rate-limit buckets", 300, lambda: ratelimit.forget_idle(runtime.pool)
    )


service = Service(
    "intake",
    migrations=Path(__file__).parent / "migrations",
    router=router,
    subscriptions=[
        Subscription(
            CASE_TOPIC, dict.fromkeys((e.event_type for e in CASE_EVENTS), tracking.on_case_event)
        ),
        Subscription(
            DEADLINE_TOPIC,
            dict.fromkeys((e.event_type for e in DEADLINE_EVENTS), tracking.on_deadline_event),
        ),
        Subscription(
            ORGANISATION_TOPIC, {"OrganisationConfigured": tracking.on_organisation_configured}
        ),
        Subscription(PERSON_TOPIC, {"PersonErased": privacy.on_person_erased}),
    ],
    background=[forget_idle_rate_limits, run_mailbox],
)
app = service.create_app()
app.include_router(web.router)
app.include_router(letters.router)
app.include_router(evidence.router)
