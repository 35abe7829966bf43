"""GAIA's scoring rules, case by case: the truth picks the rule, the answer is judged by it."""

from __future__ import annotations

import pytest

from magentic.bench.scoring import extract_final_answer, normalize, parse_number, score

CASES = [
    # numeric truth: $, % and , are removed from the answer, then it must parse and be equal
    ("42", "42", True),
    ("42.0", "42", True),
    (" 42 ", "42", True),
    ("$1,234.50", "1234.5", True),
    ("1,234.5", "1234.5", True),
    ("17%", "17", True),
    ("-3.25", "-3.25", True),
    ("43", "42", False),
    ("17 km", "17", False),  # a unit left in makes the number unparseable
    ("about 17", "17", False),
    ("seventeen", "17", False),
    ("1 234", "1234", False),  # a space is not a thousands separator
    ("0.1", "0.10", True),
    ("$", "0", False),  # nothing left after cleaning
    # lists: a truth with , or ; is split on both; same length, element by element
    ("Nandakumar, Okafor, Redcloud", "Nandakumar, Okafor, Redcloud", True),
    ("nandakumar,okafor ,  REDCLOUD", "Nandakumar, Okafor, Redcloud", True),
    ("Nandakumar; Okafor; Redcloud", "Nandakumar, Okafor, Redcloud", True),
    ("Okafor, Nandakumar, Redcloud", "Nandakumar, Okafor, Redcloud", False),  # order counts
    ("Nandakumar, Okafor", "Nandakumar, Okafor, Redcloud", False),  # too short
    ("Nandakumar, Okafor, Redcloud, Wielgosz", "Nandakumar, Okafor, Redcloud", False),
    ("Pine Summit; 1557.1", "Pine Summit; 1557.1", True),
    ("pine summit; 1557.10", "Pine Summit; 1557.1", True),  # numeric element compares as number
    ("Pine Summit; $1557.1", "Pine Summit; 1557.1", True),
    ("Pine Summit; 1557", "Pine Summit; 1557.1", False),
    ("Pine Summit; 1557.1 mm", "Pine Summit; 1557.1", False),
    ("1, 2, 3", "1,2,3", True),
    ("St Paul, Boston", "St. Paul, Boston", False),  # punctuation kept inside list elements
    # strings: white space and punctuation removed, case ignored
    ("Tacoma", "Tacoma", True),
    ("tacoma.", "Tacoma", True),
    ("  TACOMA  ", "Tacoma", True),
    ("Marguerite Osei", "Marguerite Osei", True),
    ("marguerite  osei!", "Marguerite Osei", True),
    ("MargueriteOsei", "Marguerite Osei", True),
    ("Marguerite O'Sei", "Marguerite Osei", True),
    ("Osei", "Marguerite Osei", False),
    ("RVT48213KX", "RVT-48213-KX", True),
    ("2025-03-14", "2025-03-14", True),
    ("2025/03/14", "2025-03-14", True),
    ("14 March 2025", "2025-03-14", False),
    ("Tacoma, Washington", "Tacoma", False),
    # empty and missing answers are wrong whatever the truth
    ("", "42", False),
    ("   ", "Tacoma", False),
    (None, "Tacoma", False),
    ("", "a, b", False),
]


@pytest.mark.parametrize(("answer", "truth", "expected"), CASES)
def test_score_follows_gaia_rules(answer: str | None, truth: str, expected: bool) -> None:
    assert score(answer, truth) is expected


def test_no_truth_means_unscored() -> None:
    assert score("anything", None) is None
    assert score("", None) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The station is high up.\nFINAL ANSWER: 412", "412"),
        ("final answer:   Tacoma  \n", "Tacoma"),
        ("Final Answer: draft\nthinking again...\nFINAL ANSWER: 7", "7"),  # the last one wins
        ("FINAL  ANSWER : Pine Summit; 1557.1", "Pine Summit; 1557.1"),
        ("just the answer\n", "just the answer"),
        ("FINAL ANSWER:", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_extract_final_answer(text: str | None, expected: str) -> None:
    assert extract_final_answer(text) == expected


def test_extracted_answer_scores_end_to_end() -> None:
    reply = "Adding the column gives $18,356.63.\nFINAL ANSWER: $18,356.63"
    assert score(extract_final_answer(reply), "18356.63") is True


def test_helpers() -> None:
    assert parse_number("$1,000%") == 1000.0
    assert parse_number("nan") is None
    assert parse_number("12 apples") is None
    assert normalize(" Hello, World! ") == "helloworld"
    assert normalize(" St. Paul ", keep_punctuation=True) == "st.paul"
