"""Deadlines' process: subscribes to case and organisation events, fires timers, serves due
lists, explanations and the calculator."""

from pathlib import Path

from contracts import CASE_TOPIC, ORGANISATION_TOPIC
from redress.service import Runtime, Service, Subscription
from services.deadlines import handlers, scheduler
from services.deadlines.api import router
from services.deadlines.settings import DeadlinesSettings


async def run_timers(runtime: Runtime) -> None:
    poll = DeadlinesSettings().timer_poll_seconds
    await scheduler.run(runtime.pool, runtime.service, runtime.clock, poll)


service = Service(
    "deadlines",
    migrations=Path(__file__).parent / "migrations",
    router=router,
    subscriptions=[
        Subscription(CASE_TOPIC, dict.fromkeys(handlers.CASE_EVENTS, handlers.on_case_event)),
        Subscription(
            ORGANISATION_TOPIC, {"OrganisationConfigured": handlers.on_organisation_configured}
        ),
    ],
    background=[run_timers],
)
app = service.create_app()
