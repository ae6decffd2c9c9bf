"""Final-answer extraction: last box with nested braces, text endings, choice letters, fallbacks."""

from __future__ import annotations

import pytest

from limo_rl.verify.answers import choice_letter, extract_answer, last_boxed


def test_last_boxed_wins_and_nested_braces_survive():
    text = "First \\boxed{1}. Then we fix it: \\boxed{\\frac{\\sqrt{3}}{2}} is final."
    assert last_boxed(text) == "\\frac{\\sqrt{3}}{2}"


def test_fbox_and_unbraced_box():
    assert extract_answer("so \\fbox{12} done") == "12"
    assert extract_answer("thus $\\boxed 5$.") == "5"


def test_unclosed_box_falls_back_to_earlier_complete_box():
    assert last_boxed("\\boxed{7} and then \\boxed{8") == "7"


def test_final_answer_phrase_when_no_box():
    assert extract_answer("Work...\nThe final answer is $\\frac{1}{2}$.") == "$\\frac{1}{2}$"
    assert extract_answer("Work...\nFinal Answer: 42. I hope it is correct.") == "42"
    assert extract_answer("Work...\n**Answer:** 3.5") == "3.5"


@pytest.mark.parametrize("text", ["", "I could not solve it.", "\\boxed{}", "answer is"])
def test_no_answer_is_none_not_a_crash(text):
    assert extract_answer(text) is None


def test_fallback_order_is_configurable():
    text = "The answer is 7. Actually \\boxed{8}"
    assert extract_answer(text) == "8"
    assert extract_answer(text, fallbacks=["final_answer", "boxed"]) == "7"
    assert extract_answer("we get 3 then 19 apples", fallbacks=["boxed"]) is None
    assert extract_answer("we get 3 then 19 apples", fallbacks=["boxed", "last_number"]) == "19"
    with pytest.raises(ValueError, match="unknown answer fallback"):
        extract_answer("x", fallbacks=["nope"])


def test_choice_letters():
    assert extract_answer("so the answer is \\boxed{C}", answer_type="choice") == "C"
    assert extract_answer("so \\boxed{(B) 12 ev}", answer_type="choice") == "B"
    assert extract_answer("Therefore, the answer is (D).", answer_type="choice") == "D"
    assert extract_answer("nothing to pick", answer_type="choice") is None
    assert choice_letter("C. {x \\mid -3<x<4}") == "C"
    assert choice_letter("Cats") is None


def test_answer_region_after_think_and_truncated_chains():
    assert extract_answer("<think>try \\boxed{4}</think> So the answer is \\boxed{5}.") == "5"
    assert extract_answer("<think>try \\boxed{4} and then the budget ran out") is None  # cut off while thinking
    assert extract_answer("we get \\boxed{4}", finish_reason="length") is None
    assert extract_answer("<think>x</think>\\boxed{4}", finish_reason="length") == "4"  # answered, then cut


def test_several_different_final_boxes_are_a_hedge():
    from limo_rl.verify.answers import HEDGE_SEP

    assert extract_answer("so $\\boxed{3}$ or $\\boxed{5}$") == f"3{HEDGE_SEP}5"
    assert extract_answer("\\boxed{3}.\n\nWait, no.\n\nThe answer is \\boxed{5}.") == "5"  # a later correction
    assert extract_answer("\\boxed{7} and again \\boxed{7}") == "7"
    assert extract_answer("\\boxed{B} or \\boxed{C}", answer_type="choice") == f"B{HEDGE_SEP}C"


def test_final_answer_statements_and_wrapped_letters():
    assert extract_answer("Work.\nThe answer is: **12**") == "12"
    assert extract_answer("so \\boxed{\\textbf{(B)}\\ 5}", answer_type="choice") == "B"
    assert extract_answer("The answer is **(C)** 42", answer_type="choice") == "C"


@pytest.mark.parametrize("text", ["\\boxed{" * 150_000, "{" * 1_000_000, "\\boxed{" + "{" * 1_000_000,
                                  "\\boxed{1}" * 100_000, "The answer is " * 80_000])
def test_extraction_is_linear_on_megabyte_outputs(text):
    import time

    t0 = time.perf_counter()
    extract_answer(text)
    assert time.perf_counter() - t0 < 0.5


@pytest.mark.parametrize(("text", "want"), [
    ("Work.\n\nSo there are 45 ways in total.", "45"),
    ("Work.\n\nThe town then has 3,500,000 residents.", "3500000"),
    ("Work.\n\nHence the series diverges.", "diverges"),
    ("Work.\n\nThus we get $\\frac{3}{2}$ square units. I hope this helps.", "\\frac{3}{2}"),
    ("Work.\n\nSo 20 + 25 = 45 ways.", "45"),
])
def test_a_result_stated_in_words_is_the_answer(text, want):
    assert extract_answer(text) == want


@pytest.mark.parametrize("text", [
    "We had 45 pairs.\n\nThen we remove the 3 repeats and 12 more.",  # two values: ambiguous
    "We had 45 pairs.\n\nSo is the total 45?",  # a question
    "Work.\n\nHence there cannot be 45 ways.",  # a denial
    "Work.\n\nSo there are maybe 45 ways.",  # a doubt
    "Work.\n\nThere are 45 ways.\n\nLet me look at the case n = 3 again.",  # the closing sentence is no conclusion
    "Work.\n\nHence the series does not diverge.",
])
def test_no_intermediate_or_doubtful_value_is_taken_for_a_stated_answer(text):
    assert extract_answer(text) is None


def test_a_stated_equation_is_kept_whole():
    assert extract_answer("Work.\n\nSo $2x = 10$.") == "2x = 10"  # equivalence judges it; never the bare 10


def test_a_hedge_in_words_stays_a_hedge():
    assert extract_answer("Work.\n\nHence it is either A or D.", answer_type="choice") == "A \\text{ or } D"
    assert extract_answer("So the answer is A or D.", answer_type="choice") == "A \\text{ or } D"
    assert extract_answer("Work.\n\nSo there are either 12 or 15 ways.") == "12 \\text{ or } 15"


@pytest.mark.parametrize("text", [
    "Work.\n\nSo the answer must be larger than 10.", "Work.\n\nSo n is divisible by 3.",
    "Work.\n\nSo far we have 12 cases.", "Work.\n\nSo the count is at least 7.",
])
def test_bounds_and_unfinished_statements_are_no_answer(text):
    assert extract_answer(text) is None


def test_a_stated_inequality_in_math_is_the_answer_itself():
    assert extract_answer("Work.\n\nThus $x \\ge 4$.") == "x \\ge 4"
