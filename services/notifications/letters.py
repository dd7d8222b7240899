"""The words of each letter. Plain text for now; the notifications issue brings templates per
procedure and organisation, HTML email and PDF."""

from __future__ import annotations

from datetime import date


def acknowledgement(name: str, reference: str, response_due_on: date | None) -> tuple[str, str]:
    subject = f"We have received your complaint ({reference})"
    lines = [
        f"Dear {name},",
        "",
        f"Thank you for contacting us. We have logged your complaint as {reference}.",
    ]
    if response_due_on is not None:
        lines.append(
            f"We will send you our response by {response_due_on:%A %d %B %Y} at the latest, "
            "or tell you before then why we need longer and when you will hear from us."
        )
    lines += ["", f"Please quote {reference} if you contact us about it.", ""]
    return subject, "\n".join(lines)


def thanks(name: str, reference: str) -> tuple[str, str]:
    subject = f"Thank you for your feedback ({reference})"
    body = (
        f"Dear {name},\n\nThank you for taking the time to tell us. We have logged your "
        f"feedback as {reference} and passed it to the service concerned.\n"
    )
    return subject, body
