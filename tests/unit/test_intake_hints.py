import pytest

from contracts.events import TriageHint
from services.intake.domain.hints import hints

S, SAR, FOI, RISK = (
    TriageHint.SAFEGUARDING,
    TriageHint.SUBJECT_ACCESS,
    TriageHint.FREEDOM_OF_INFORMATION,
    TriageHint.MEDIA_OR_LEGAL_RISK,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The bins were not collected on Tuesday", []),
        ("My elderly mother is being neglected by her carers", [S]),
        ("He said he would self-harm if the repair is not done", [S]),
        ("I want a copy of all my records under the Data Protection Act", [SAR]),
        ("This is a Freedom of Information request for the repairs budget", [FOI]),
        ("I have spoken to my solicitor and the local newspaper", [RISK]),
        ("Neglected flat; I will take legal action and want my personal data", [S, SAR, RISK]),
        ("Please send the forms to my address", []),  # 'sar' only as a word, not inside one
    ],
)
def test_hints(text: str, expected: list[TriageHint]) -> None:
    assert hints(text) == expected


def test_hints_look_at_every_text_given() -> None:
    assert hints("the boiler", None, "and I want to sue") == [RISK]
