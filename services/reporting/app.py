"""Reporting's process: read models over every topic, reports over them."""

from pathlib import Path

from contracts import CASE_TOPIC, DEADLINE_TOPIC, INTAKE_TOPIC, NOTIFICATION_TOPIC
from redress.service import Service, Subscription
from services.reporting import projections
from services.reporting.api import router
from services.reporting.dashboard import router as dashboard

service = Service(
    "reporting",
    migrations=Path(__file__).parent / "migrations",
    router=router,
    apply_batch=projections.apply_batch,
    subscriptions=[
        Subscription(INTAKE_TOPIC, {"FeedbackSubmitted": projections.on_feedback_submitted}),
        Subscription(CASE_TOPIC, dict.fromkeys(projections.CASE_EVENTS, projections.on_case_event)),
        Subscription(
            DEADLINE_TOPIC,
            dict.fromkeys(projections.DEADLINE_EVENTS, projections.on_deadline_event),
        ),
        Subscription(NOTIFICATION_TOPIC, {"NotificationSent": projections.on_notification_sent}),
    ],
)
app = service.create_app()
app.include_router(dashboard)
