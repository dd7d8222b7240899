"""Deadlines' process: subscribes to case events, serves due lists and explanations."""

from pathlib import Path

from contracts import CASE_TOPIC, ORGANISATION_TOPIC
from redress.service import Service, Subscription
from services.deadlines import handlers
from services.deadlines.api import router

service = Service(
    "deadlines",
    migrations=Path(__file__).parent / "migrations",
    router=router,
    subscriptions=[
        Subscription(CASE_TOPIC, {"CaseOpened": handlers.on_case_opened}),
        Subscription(
            ORGANISATION_TOPIC, {"OrganisationConfigured": handlers.on_organisation_configured}
        ),
    ],
)
app = service.create_app()
