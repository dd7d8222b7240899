"""Triage hints: words in a submission that suggest it needs more than a complaints officer
(a safeguarding concern, a subject access or FOI request, a media or legal risk). They travel on
the event for a person to confirm; they decide nothing."""

from __future__ import annotations

import re
from typing import Final

from contracts.events import TriageHint

_PATTERNS: Final[dict[TriageHint, re.Pattern[str]]] = {
    TriageHint.SAFEGUARDING: re.compile(
        r"\b(abuse[ds]?|neglect(ed)?|self[- ]harm|suicid\w*|unsafe at home|vulnerable (adult|child)"
        r"|domestic violence|hit me|hurting (me|him|her|them)|no heating and (elderly|disabled))\b",
        re.I,
    ),
    TriageHint.SUBJECT_ACCESS: re.compile(
        r"\b(subject access|my personal data|copy of (all )?(my|the) (data|information|records)"
        r"|data protection act|gdpr|sar)\b",
        re.I,
    ),
    TriageHint.FREEDOM_OF_INFORMATION: re.compile(
        r"\b(freedom of information|foi( request)?|under the foi)\b", re.I
    ),
    TriageHint.MEDIA_OR_LEGAL_RISK: re.compile(
        r"\b(solicitor|lawyer|legal action|sue|court|newspaper|journalist|the press|media|bbc"
        r"|ombudsman)\b",
        re.I,
    ),
}


def hints(*texts: str | None) -> list[TriageHint]:
    """Each hint once, in a fixed order."""
    joined = "\n".join(t for t in texts if t)
    return [hint for hint, pattern in _PATTERNS.items() if pattern.search(joined)]
