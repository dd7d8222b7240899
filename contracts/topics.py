"""Topic names.

Topics are ``redress.<context>.v<major>`` and keyed by ``stream_id`` so that every event of one
case (or submission) lands on one partition, in order. A breaking change to a context's events
gets a new major topic; additive changes stay on the same one and bump ``schema_version``.
"""

from typing import Final

INTAKE_TOPIC: Final = "redress.intake.v1"
CASE_TOPIC: Final = "redress.case.v1"
DEADLINE_TOPIC: Final = "redress.deadline.v1"
NOTIFICATION_TOPIC: Final = "redress.notification.v1"
ORGANISATION_TOPIC: Final = "redress.organisation.v1"
PERSON_TOPIC: Final = "redress.person.v1"

ALL_TOPICS: Final = (
    INTAKE_TOPIC,
    CASE_TOPIC,
    DEADLINE_TOPIC,
    NOTIFICATION_TOPIC,
    ORGANISATION_TOPIC,
    PERSON_TOPIC,
)


def dead_letter_topic(topic: str, group: str) -> str:
    """Each consuming group has its own dead-letter topic per source topic.

    Keeping it per group means one service's poison message never hides another's, and an
    operator can re-publish to exactly the group that failed.
    """
    if not topic or not group:
        raise ValueError("topic and group are both required")
    return f"{topic}.dlq.{group}"
