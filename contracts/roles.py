"""Staff roles. Shared vocabulary: the auth layer grants them and the case rules read them
(only a manager approves an extension or redress where the procedure says so)."""

from enum import StrEnum


class Role(StrEnum):
    OFFICER = "officer"
    AGENT = "agent"  # a contact-centre agent keying in calls and visits
    MANAGER = "manager"
    SERVICE_RESPONDER = "service_responder"
    AUDITOR = "auditor"
    ADMIN = "admin"
