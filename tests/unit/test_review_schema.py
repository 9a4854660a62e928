"""The review answer's schema (what Ollama constrains the model to) and the strict parser."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lsp_assist.review.schema import (
    CATEGORIES,
    CONFIDENCES,
    InvalidReview,
    RawFinding,
    finding_from_json,
    parse_review,
    review_schema,
)


def finding(**fields: Any) -> dict[str, Any]:
    base = {
        "line": 3,
        "evidence": "if amount < balance:",
        "trigger": "withdraw(5) with a balance of 10 raises",
        "is_problem": True,
        "category": "logic",
        "confidence": "high",
        "message": "The comparison is inverted",
        "fix_old": "amount < balance",
        "fix_new": "amount > balance",
    }
    return base | fields


def answer(*findings: Any) -> str:
    return json.dumps({"findings": list(findings)})


def all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


# -- the schema -----------------------------------------------------------------------------------


def test_the_schema_is_flat_without_refs_or_alternatives() -> None:
    keys = all_keys(review_schema(3))
    assert not keys & {"$ref", "$defs", "definitions", "anyOf", "oneOf", "allOf"}


def test_the_schema_limits_the_number_of_findings() -> None:
    assert review_schema(3)["properties"]["findings"]["maxItems"] == 3
    assert review_schema(1)["properties"]["findings"]["maxItems"] == 1


def test_every_field_of_a_finding_is_required() -> None:
    item = review_schema(3)["properties"]["findings"]["items"]
    assert item["required"] == list(item["properties"])
    assert review_schema(3)["required"] == ["findings"]


def test_the_model_quotes_and_reasons_before_its_verdict() -> None:
    item = review_schema(3)["properties"]["findings"]["items"]
    order = list(item["properties"])
    assert order.index("evidence") < order.index("trigger") < order.index("is_problem")
    assert order.index("is_problem") < order.index("category") < order.index("confidence")


def test_category_and_confidence_are_enums_and_every_field_is_described() -> None:
    properties = review_schema(3)["properties"]["findings"]["items"]["properties"]
    assert properties["category"]["enum"] == list(CATEGORIES)
    assert properties["confidence"]["enum"] == list(CONFIDENCES)
    assert all(p.get("description") for p in properties.values())


def test_the_schema_is_plain_json() -> None:
    schema = review_schema(3)
    assert json.loads(json.dumps(schema)) == schema


# -- parsing the answer ---------------------------------------------------------------------------


def test_a_well_formed_answer_gives_its_findings() -> None:
    (parsed,) = parse_review(answer(finding()), max_findings=3)
    assert parsed == RawFinding(**finding())


def test_an_empty_findings_list_is_a_valid_answer() -> None:
    assert parse_review('{"findings": []}', max_findings=3) == []


@pytest.mark.parametrize(
    "content",
    ["", "Sure! Here is my review:", '{"findings": [', "```json\n{}\n```", "[" * 100_000],
    ids=["empty", "prose", "truncated", "fenced", "deeply-nested"],
)
def test_an_answer_that_is_not_json_is_invalid(content: str) -> None:
    with pytest.raises(InvalidReview):
        parse_review(content, max_findings=3)


@pytest.mark.parametrize(
    "content",
    ["{}", '{"findings": {}}', '{"findings": null}', "[]", '"findings"', '{"issues": []}'],
)
def test_an_answer_without_a_findings_list_is_invalid(content: str) -> None:
    with pytest.raises(InvalidReview):
        parse_review(content, max_findings=3)


def test_a_malformed_finding_is_dropped_alone() -> None:
    content = answer(
        finding(message="first"),
        finding(category="style"),
        "not an object",
        finding(message="second"),
    )
    assert [f.message for f in parse_review(content, max_findings=5)] == ["first", "second"]


def test_no_more_findings_than_the_maximum_are_kept() -> None:
    content = answer(*(finding(message=f"finding {i}") for i in range(5)))
    parsed = parse_review(content, max_findings=3)
    assert [f.message for f in parsed] == ["finding 0", "finding 1", "finding 2"]


def test_a_line_given_as_digits_in_a_string_is_a_number() -> None:
    (parsed,) = parse_review(answer(finding(line=" 12 ")), max_findings=3)
    assert parsed.line == 12


@pytest.mark.parametrize("line", ["twelve", None, True, 2.5, "-3"])
def test_a_line_that_is_not_a_number_is_no_hint_but_keeps_the_finding(line: Any) -> None:
    (parsed,) = parse_review(answer(finding(line=line)), max_findings=3)
    assert parsed.line == 0


def test_a_missing_line_is_no_hint() -> None:
    item = finding()
    del item["line"]
    parsed = finding_from_json(item)
    assert parsed is not None and parsed.line == 0


def test_category_and_confidence_are_checked_case_insensitively() -> None:
    (parsed,) = parse_review(answer(finding(category=" LOGIC", confidence="High ")), max_findings=3)
    assert (parsed.category, parsed.confidence) == ("logic", "high")


@pytest.mark.parametrize(
    "fields",
    [{"category": "style"}, {"category": ""}, {"confidence": "certain"}, {"confidence": 3}],
    ids=["unknown-category", "no-category", "unknown-confidence", "numeric-confidence"],
)
def test_a_finding_outside_the_enums_is_dropped(fields: dict[str, Any]) -> None:
    assert finding_from_json(finding(**fields)) is None


@pytest.mark.parametrize(
    "fields",
    [{"evidence": ""}, {"evidence": "   "}, {"message": ""}, {"message": "\n"}],
    ids=["no-evidence", "blank-evidence", "no-message", "blank-message"],
)
def test_a_finding_without_evidence_or_message_is_dropped(fields: dict[str, Any]) -> None:
    assert parse_review(answer(finding(**fields)), max_findings=3) == []


def test_a_string_field_of_another_type_drops_the_finding() -> None:
    assert finding_from_json(finding(evidence=["if amount < balance:"])) is None


def test_null_optional_strings_mean_none() -> None:
    parsed = finding_from_json(finding(fix_old=None, fix_new=None, trigger=None))
    assert parsed is not None
    assert (parsed.fix_old, parsed.fix_new, parsed.trigger) == ("", "", "")


@pytest.mark.parametrize(
    ("given", "expected"), [("false", False), (" False ", False), ("true", True)]
)
def test_is_problem_given_as_a_string_is_understood(given: str, expected: bool) -> None:
    parsed = finding_from_json(finding(is_problem=given))
    assert parsed is not None and parsed.is_problem is expected


def test_a_finding_without_is_problem_counts_as_a_problem() -> None:
    item = finding()
    del item["is_problem"]
    parsed = finding_from_json(item)
    assert parsed is not None and parsed.is_problem is True


def test_message_and_trigger_are_trimmed_but_the_quote_is_kept_as_sent() -> None:
    parsed = finding_from_json(
        finding(message="  inverted \n", trigger=" t ", evidence="    if amount < balance:")
    )
    assert parsed is not None
    assert (parsed.message, parsed.trigger) == ("inverted", "t")
    assert parsed.evidence == "    if amount < balance:"


def test_a_finding_survives_its_own_json_form() -> None:
    parsed = finding_from_json(finding())
    assert parsed is not None
    assert finding_from_json(json.loads(json.dumps(parsed.to_json()))) == parsed
