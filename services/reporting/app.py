"""Reporting's process: subscribes to every topic, serves reports."""

from pathlib import Path

from contracts import CASE_TOPIC, DEADLINE_TOPIC, INTAKE_TOPIC, NOTIFICATION_TOPIC
from redress.service import Service, Subscription
from services.reporting import projections
from services.reporting.api import router

service = Service(
    "reporting",
    migrations=Path(__file__).parent / "migrations",
    router=router,
    subscriptions=[
        Subscription(INTAKE_TOPIC, {"FeedbackSubmitted": projections.on_feedback_submitted}),
        Subscription(CASE_TOPIC, {"CaseOpened": projections.on_case_opened}),
        Subscription(DEADLINE_TOPIC, {"DeadlineSet": projections.on_deadline_set}),
        Subscription(NOTIFICATION_TOPIC, {"NotificationSent": projections.on_notification_sent}),
    ],
)
app = service.create_app()
