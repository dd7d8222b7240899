"""Casework's process: staff API plus subscribers to intake, deadlines and notifications."""

from pathlib import Path

from contracts import DEADLINE_TOPIC, INTAKE_TOPIC, NOTIFICATION_TOPIC, PERSON_TOPIC
from redress.service import Service, Subscription
from services.casework import handlers, privacy
from services.casework.api import router
from services.casework.command_routes import router as command_router
from services.casework.organisations import router as organisation_router
from services.casework.workspace.routes import install as install_workspace

subscriptions = [
    Subscription(
        INTAKE_TOPIC,
        {
            "FeedbackSubmitted": handlers.on_feedback_submitted,
            "CorrespondenceReceived": handlers.on_correspondence_received,
        },
    ),
    Subscription(
        DEADLINE_TOPIC,
        {
            "DeadlineSet": handlers.on_deadline_set,
            **dict.fromkeys(
                [
                    "DeadlineChanged",
                    "DeadlinePaused",
                    "DeadlineMet",
                    "DeadlineMissed",
                    "DeadlineCancelled",
                    "ExtensionNotAllowed",
                ],
                handlers.on_deadline_moved,
            ),
        },
    ),
    Subscription(
        NOTIFICATION_TOPIC,
        dict.fromkeys(["NotificationSent", "NotificationFailed"], handlers.on_notification),
    ),
    Subscription(PERSON_TOPIC, {"PersonErased": privacy.on_person_erased}),
]
service = Service(
    "casework",
    migrations=Path(__file__).parent / "migrations",
    router=router,
    subscriptions=subscriptions,
    # deadlines' and notifications' events folded per batch, the rest through their handlers
    apply_batch=handlers.fold_projections(
        {event: h for s in subscriptions for event, h in s.handlers.items()}
    ),
    background=[privacy.retention_job],
)
app = service.create_app()
app.include_router(command_router)
app.include_router(organisation_router)
install_workspace(app)
app.include_router(privacy.router)
