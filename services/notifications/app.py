"""Notifications' process: subscribes to case and deadline events, serves the delivery log."""

from pathlib import Path

from contracts import CASE_TOPIC, DEADLINE_TOPIC
from redress.service import Service, Subscription
from services.notifications import handlers
from services.notifications.api import router

service = Service(
    "notifications",
    migrations=Path(__file__).parent / "migrations",
    router=router,
    subscriptions=[
        Subscription(CASE_TOPIC, {"CaseOpened": handlers.on_case_opened}),
        Subscription(DEADLINE_TOPIC, {"DeadlineSet": handlers.on_deadline_set}),
    ],
)
app = service.create_app()
