"""Notifications' process: learns from case, deadline and organisation events, queues letters
and alerts, and a delivery worker sends them."""

from pathlib import Path

from contracts import CASE_TOPIC, DEADLINE_TOPIC, ORGANISATION_TOPIC, PERSON_TOPIC
from redress.service import Runtime, Service, Subscription
from services.notifications import delivery, handlers, privacy
from services.notifications.api import router
from services.notifications.channels import (
    Channel,
    EmailChannel,
    FileSmsProvider,
    PrintChannel,
    SmsChannel,
)
from services.notifications.settings import NotificationSettings


def channels(settings: NotificationSettings) -> dict[str, Channel]:
    return {
        "email": EmailChannel(
            settings.smtp_host, settings.smtp_port, settings.mail_from, settings.smtp_timeout
        ),
        "sms": SmsChannel(FileSmsProvider(settings.sms_file)),
        "letter": PrintChannel(settings.print_queue),
    }


async def deliver(runtime: Runtime) -> None:
    settings = NotificationSettings()
    await delivery.run(
        runtime.pool,
        runtime.service,
        channels(settings),
        settings,
        runtime.clock,
        schema=runtime.service,
    )


service = Service(
    "notifications",
    migrations=Path(__file__).parent / "migrations",
    router=router,
    subscriptions=[
        Subscription(CASE_TOPIC, dict.fromkeys(handlers.CASE_EVENTS, handlers.on_case_event)),
        Subscription(
            DEADLINE_TOPIC, dict.fromkeys(handlers.DEADLINE_EVENTS, handlers.on_deadline_event)
        ),
        Subscription(
            ORGANISATION_TOPIC, {"OrganisationConfigured": handlers.on_organisation_configured}
        ),
        Subscription(PERSON_TOPIC, {"PersonErased": privacy.on_person_erased}),
    ],
    background=[deliver],
)
app = service.create_app()
