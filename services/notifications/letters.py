"""Letters and messages: Jinja2 templates (autoescaped, and strict, so a missing value is an
error rather than a blank in a letter), rendered to HTML email, plain text and PDF.

Each resident-facing letter has a standard and an easy-read version; large print changes the
type size of the HTML and the PDF. What a letter must say about the next step comes from the
procedure (HOS Code 6.17-6.19, LGSCO Code, SPSO MCHP, SI 2009/309, SI 2006/1738).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

from fpdf import FPDF
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from contracts import Procedure

TEMPLATES = Path(__file__).parent / "templates"
RESIDENT_TEMPLATES: Final = (
    "receipt",
    "acknowledgement",
    "delay_notice",
    "outcome",
    "not_accepted",
    "thanks",
)
STAFF_TEMPLATES: Final = (
    "responder_reminder",
    "deadline_warning",
    "breach_alert",
    "ombudsman_alert",
    "delivery_failed",
)

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    # templates ship with the code: without this every lookup stats the file (and its base)
    # to see whether it changed, once per letter
    auto_reload=False,
)


@cache
def _template(name: str) -> Template:
    """Each template compiled once per process (jinja's own cache is bounded and keyed per
    lookup; this skips the lookup too)."""
    return _env.get_template(name)


OMBUDSMAN: Final = {
    Procedure.HOUSING_OMBUDSMAN: (
        "the Housing Ombudsman Service, PO Box 1484, Unit D, Preston, PR2 0ET, "
        "telephone 0300 111 3000, www.housing-ombudsman.org.uk"
    ),
    Procedure.LGSCO: (
        "the Local Government and Social Care Ombudsman, telephone 0300 061 0614, www.lgo.org.uk"
    ),
    Procedure.SPSO: (
        "the Scottish Public Services Ombudsman, Bridgeside House, 99 McDonald Road, "
        "Edinburgh, EH7 4NS, freephone 0800 377 7330, www.spso.org.uk"
    ),
    Procedure.ADULT_SOCIAL_CARE: (
        "the Local Government and Social Care Ombudsman, telephone 0300 061 0614, www.lgo.org.uk"
    ),
    Procedure.CHILDRENS_SOCIAL_CARE: (
        "the Local Government and Social Care Ombudsman, telephone 0300 061 0614, www.lgo.org.uk"
    ),
}


def signposting(procedure: Procedure, stage: int, final: bool) -> dict[str, str]:
    """What the letter must say about the next step, by procedure and stage."""
    ombudsman = OMBUDSMAN[procedure]
    if final:
        if procedure is Procedure.SPSO:
            next_step = (
                f"This is our final response. You can ask {ombudsman} to look at your "
                "complaint. You must normally do so within 12 months of when you first knew "
                "of the matter."
            )
        else:
            next_step = (
                f"This is our final response. If you remain unhappy you can ask {ombudsman} "
                "to consider your complaint; they usually expect you to contact them within "
                "12 months."
            )
    elif procedure is Procedure.CHILDRENS_SOCIAL_CARE:
        what = (
            "an independent investigation (stage 2)" if stage == 1 else "a review panel (stage 3)"
        )
        next_step = (
            f"If you are not satisfied, you can ask for {what} within 20 working days of "
            "this letter. Tell us which parts you are still unhappy with."
        )
    else:
        next_step = (
            f"If you are not satisfied, you can ask us to take your complaint to stage "
            f"{stage + 1}. You do not need to give reasons, but it helps to tell us which "
            f"parts you are still unhappy with. You can also contact {ombudsman} at any time "
            "for advice."
        )
    return {
        "next_step": next_step,
        "delay": f"If you are unhappy with this delay you can contact {ombudsman}.",
        "refusal": f"If you disagree with this decision you can ask {ombudsman} to look at it.",
    }


SUBJECTS: Final = {
    "receipt": "We have received your message ({reference})",
    "acknowledgement": "We have received your complaint ({reference})",
    "delay_notice": "We need more time to answer your complaint ({reference})",
    "outcome": "Our response to your complaint ({reference})",
    "not_accepted": "About your complaint ({reference})",
    "thanks": "Thank you for your feedback ({reference})",
    "responder_reminder": "Response due from your service: {reference}",
    "deadline_warning": "Deadline approaching: {reference}",
    "breach_alert": "Missed deadline: {reference}",
    "ombudsman_alert": "Ombudsman information due: {reference}",
    "delivery_failed": "A letter could not be sent: {reference}",
}


@dataclass(frozen=True)
class Rendered:
    template: str
    subject: str
    html: str
    text: str
    large_print: bool


def render(
    template: str, context: dict[str, Any], *, easy_read: bool = False, large_print: bool = False
) -> Rendered:
    """Raises jinja2 errors for a template that cannot be filled: the caller records that as a
    failed notification rather than sending a letter with holes in it."""
    name = (
        f"{template}.easy.html"
        if easy_read and template in RESIDENT_TEMPLATES
        else (f"{template}.html")
    )
    subject = SUBJECTS[template].format(**context)
    body = _template(name).render(**context, subject=subject, large_print=large_print)
    return Rendered(template, subject, body, html_to_text(body), large_print)


_BLOCK = re.compile(r"</?(p|h1|h2|li|tr|br|ol|ul|table)[^>]*>", re.I)
_TAGS = re.compile(r"<[^>]+>")
_ITEM = re.compile(r"<li[^>]*>", re.I)
_CELL_END = re.compile(r"</t[dh]>", re.I)
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(markup: str) -> str:
    """Plain text for the text part of an email and for PDFs."""
    _, found, rest = markup.partition("<body")
    body = rest.split(">", 1)[1] if found else markup
    body = _ITEM.sub("\n- ", body)
    body = _CELL_END.sub(" | ", body)
    body = _BLOCK.sub("\n", body)
    body = _TAGS.sub("", body)
    body = html.unescape(body)
    lines = [_SPACES.sub(" ", line).strip() for line in body.splitlines()]
    text = "\n".join(lines)
    return _BLANK_LINES.sub("\n\n", text).strip() + "\n"


def to_pdf(rendered: Rendered, created: datetime | None = None) -> bytes:
    """A printable letter for post and for the case file."""
    return pdf_of(rendered.text, large_print=rendered.large_print, created=created)


def pdf_of(text: str, *, large_print: bool, created: datetime | None = None) -> bytes:
    """The PDF of a letter's text. Made only for letters that are printed, or when someone
    asks for one (the case file, a subject access request): it is the dearest part of a
    letter, and most go by email. With ``created`` (the letter's own time) the bytes are the
    same however often it is made, so a PDF made on request is the one that would have been
    posted."""
    pdf = FPDF(format="A4")
    if created is not None:
        pdf.set_creation_date(created.astimezone(UTC))
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    pdf.set_font("Helvetica", size=16 if large_print else 11)
    text = text.encode("latin-1", "replace").decode("latin-1")
    pdf.multi_cell(0, 9 if large_print else 6, text)
    return bytes(pdf.output())
