"""PII and secret scrubbing: emails, phone numbers, payment cards, US SSNs, API keys and tokens.

Matches are replaced with placeholders ([EMAIL], [PHONE], [CARD], [SSN], [API_KEY], [JWT],
[TOKEN], [PRIVATE_KEY]). The patterns are deliberately narrow, because the coach's inputs are
full of technical numbers that must survive untouched: "d=512, h=8", "4096 tokens", "1e-4",
"175B parameters", "2024-01-15", "v3.11.2". Phone numbers therefore need a `+` country code,
the (555) 123-4567 / 555-123-4567 shape, or a "phone:"-style label; card numbers need a known
issuer prefix *and* a valid Luhn check digit.

Leaves out: names and street addresses (no reliable offline detector; a false positive there
would mangle handbook terms like "Adam" or "Attention Is All You Need").
"""

from __future__ import annotations

import re

_SECRETS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "[PRIVATE_KEY]",
        re.compile(
            r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[\s\S]{0,10000}?-----END [A-Z ]{0,40}"
            r"PRIVATE KEY-----"
        ),
    ),
    ("[JWT]", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    (
        "[API_KEY]",
        re.compile(
            r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"  # OpenAI / Anthropic style
            r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
            r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key id
            r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
            r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
            r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
            r"|glpat-[A-Za-z0-9_-]{20,})"  # GitLab
        ),
    ),
    ("[TOKEN]", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*")),
)

_EMAIL = re.compile(
    r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*"
    r"\.[A-Za-z]{2,24}\b"
)
# 13-19 digits, optionally in groups separated by one space or dash.
_CARD = re.compile(r"(?<![\d.,])\d(?:[ -]?\d){12,18}(?![\d.,]\d)")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6(?:011|5|4[4-9])|35)")
# Never-issued areas (000, 666, 9xx) are excluded so that ids like 900-12-3456 survive.
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
_PHONES: tuple[re.Pattern[str], ...] = (
    # International with a + country code: +44 20 7946 0958, +1-415-555-0100.
    re.compile(r"(?<![\w+])\+\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){2,5}\d(?!\d)"),
    # North American shape with separators: (415) 555-0100, 1-415-555-0100, 415.555.0100.
    re.compile(r"(?<![\w.-])(?:1[\s.-])?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\w.-]?\d)"),
)
# A labelled number of any shape: "phone: 07700 900123", "call me on 0612345678".
_LABELLED_PHONE = re.compile(
    r"(?i)\b(phone|tel|telephone|mobile|cell|whatsapp|call me(?: on| at)?)(\s*(?:number|no\.?)?"
    r"\s*[:#]?\s*)(\+?\d[\d\s().-]{5,18}\d)"
)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum that every payment card number satisfies.

    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group())
    if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_ok(digits):
        return "[CARD]"
    return m.group()


def _phone(m: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in m.group())
    return "[PHONE]" if 8 <= digits <= 15 else m.group()


def scrub_pii_kinds(text: str) -> tuple[str, tuple[str, ...]]:
    """Scrub `text` and also say which kinds of PII were found (placeholders, sorted).

    >>> scrub_pii_kinds("mail bob@example.com, d=512, h=8")
    ('mail [EMAIL], d=512, h=8', ('[EMAIL]',))
    """
    out = text
    for placeholder, pattern in _SECRETS:
        out = pattern.sub(placeholder, out)
    out = _EMAIL.sub("[EMAIL]", out)
    out = _CARD.sub(_card, out)
    out = _SSN.sub("[SSN]", out)
    out = _LABELLED_PHONE.sub(lambda m: m.group(1) + m.group(2) + _phone_or_keep(m.group(3)), out)
    for pattern in _PHONES:
        out = pattern.sub(_phone, out)
    kinds = tuple(
        sorted(
            set(
                re.findall(
                    r"\[(?:PRIVATE_KEY|JWT|API_KEY|TOKEN|EMAIL|CARD|SSN|"
                    r"PHONE)\]",
                    out,
                )
            )
            - set(_placeholders_in(text))
        )
    )
    return out, kinds


def _phone_or_keep(number: str) -> str:
    return "[PHONE]" if 7 <= sum(c.isdigit() for c in number) <= 15 else number


def _placeholders_in(text: str) -> list[str]:
    # A user who literally types "[EMAIL]" has not shared an email address.
    return re.findall(r"\[(?:PRIVATE_KEY|JWT|API_KEY|TOKEN|EMAIL|CARD|SSN|PHONE)\]", text)


def scrub_pii(text: str) -> str:
    """Replace PII and secrets in `text` with placeholders; everything else is unchanged.

    >>> scrub_pii("key sk-abcdefghijklmnop1234, card 4111 1111 1111 1111, lr 1e-4")
    'key [API_KEY], card [CARD], lr 1e-4'
    """
    return scrub_pii_kinds(text)[0]
