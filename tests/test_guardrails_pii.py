"""PII scrubbing: every kind, the Luhn check, and technical numbers that must survive."""

import pytest

from coach.guardrails import scrub_pii, scrub_pii_kinds
from coach.guardrails.pii import luhn_ok


@pytest.mark.parametrize(
    "digits, ok",
    [
        ("4111111111111111", True),
        ("5555555555554444", True),
        ("378282246310005", True),
        ("4111111111111112", False),
        ("0", True),
        ("18", True),
        ("19", False),
    ],
)
def test_luhn(digits, ok):
    assert luhn_ok(digits) is ok


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mail me at jane.doe+cv@example.co.uk", "mail me at [EMAIL]"),
        ("card 4111 1111 1111 1111 thanks", "card [CARD] thanks"),
        ("card 5555-5555-5555-4444", "card [CARD]"),
        ("ssn 123-45-6789", "ssn [SSN]"),
        ("call (415) 555-0100", "call [PHONE]"),
        ("call 1-800-555-0199", "call [PHONE]"),
        ("ring +44 20 7946 0958", "ring [PHONE]"),
        ("phone: 0612345678", "phone: [PHONE]"),
        ("key sk-proj-abcdefghijklmnopqrstu", "key [API_KEY]"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123 leaked", "[API_KEY] leaked"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [API_KEY]"),
        ("hf_abcdefghijklmnopqrstuvwxyzABCDEF", "[API_KEY]"),
        ("Authorization: Bearer abc.def-ghi_jkl~mnopqrs", "Authorization: [TOKEN]"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijk_lmn", "jwt [JWT]"),
    ],
)
def test_scrubs_each_kind(text, expected):
    assert scrub_pii(text) == expected


def test_card_needs_valid_luhn_and_issuer_prefix():
    assert scrub_pii("4111 1111 1111 1112") == "4111 1111 1111 1112"  # bad check digit
    assert scrub_pii("1234567890123452") == "1234567890123452"  # no issuer starts with 1
    assert scrub_pii("ts 1700000000000") == "ts 1700000000000"


@pytest.mark.parametrize(
    "text",
    [
        "d=512, h=8, so each head has 64 dimensions",
        "a 4096 tokens context and 32k for the long variant",
        "learning rate 1e-4, warmup 2e-5, eps 1e-8",
        "GPT-3 has 175B parameters; LLaMA 65B; 1,000,000 tokens",
        "released 2024-01-15, revised 2017-06-12, years 2017-2023",
        "python 3.11.7, torch 2.13.0, v1.9.1, 10.0.0.1",
        "shape (32, 128, 768) and 512x512x8 and pi 3.14159265358979",
        "ISBN 978-3-16-148410-0 and id 4000-1234 and seed 42",
        "900-12-3456 is not a valid SSN area",
        "Q17 and [Q17] and P3",
    ],
)
def test_technical_numbers_are_not_mangled(text):
    assert scrub_pii(text) == text


def test_kinds_reported_and_literal_placeholders_ignored():
    assert scrub_pii_kinds("a@b.io and 123-45-6789")[1] == ("[EMAIL]", "[SSN]")
    assert scrub_pii_kinds("I typed [EMAIL] myself")[1] == ()
