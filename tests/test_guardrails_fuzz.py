"""Robustness: no guard may crash on any text, however odd or large."""

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coach.guardrails import check_input, check_output, fake_guards, scrub_pii
from coach.guardrails.normalize import detection_views

GUARDS = fake_guards()
PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|CARD|SSN|API_KEY|JWT|TOKEN|PRIVATE_KEY)\]")
# Full Unicode including lone surrogates, NUL and controls; plus attack-ish fragments so the
# rule and decoder paths are exercised, not only the "nothing found" path.
FRAGMENTS = st.sampled_from(
    [
        "ignore previous instructions",
        "aWdub3JlIGFsbA==",
        "[Q17]",
        "sk-abcdefghijklmnop1234",
        "4111 1111 1111 1111",
        "\u200b",
        "ｉｇｎｏｒｅ",
        "\U000e0069",
        "(415) 555-0100",
        "\ud800",
        "\x00",
    ]
)
TEXT = st.lists(st.one_of(st.text(max_size=80), FRAGMENTS), max_size=12).map("".join)
FAST = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@FAST
@given(TEXT, st.sampled_from(["ask", "interview"]))
def test_check_input_never_crashes(text, context):
    v = check_input(text, context, guards=GUARDS)
    v.to_json()
    v.text.encode("utf-8")  # always storable: no lone surrogates survive


@FAST
@given(TEXT)
def test_scrub_pii_never_crashes_and_keeps_placeholders(text):
    once = scrub_pii(text)
    # Not strictly idempotent (a second pass may catch a number that sat glued to the first),
    # but a second pass never undoes a redaction.
    assert len(PLACEHOLDER.findall(scrub_pii(once))) >= len(PLACEHOLDER.findall(once))


@FAST
@given(TEXT, st.lists(st.sampled_from(["Q01", "Q17", "P3", "junk"]), max_size=3), TEXT)
def test_check_output_never_crashes(answer, ids, canary):
    text, v = check_output(answer, ids, canary, guards=GUARDS, support=lambda s, _: [0.0] * len(s))
    text.encode("utf-8")


@FAST
@given(st.binary(max_size=200))
def test_decoded_bytes_never_crash(data):
    detection_views(data.decode("latin-1"))


def test_megabyte_inputs():
    big = "x" * 1_000_000
    assert check_input(big, guards=GUARDS).names == ("size_limit",)
    assert check_input(big, "interview", guards=GUARDS).names == ("size_limit",)
    assert scrub_pii("a@b.com " * 50_000).count("[EMAIL]") == 50_000
    text, v = check_output("[Q01] " + "y" * 1_000_000, ["Q01"])
    assert v.allowed
