"""The toy world's pure core: problems, chain styles, the check reader, the grader, the gold set."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest

from limo_rl.toy.chains import (
    GOLD_MIX,
    STYLES,
    _int_arith,
    boxed_answer,
    corpus_examples,
    equalities,
    gold_examples,
    parse_question,
    process_consistent,
    toy_correct,
    verification_steps,
    write_chain,
)
from limo_rl.toy.problems import (
    KINDS,
    dev_problems,
    eval_problems,
    is_eval_question,
    make_problems,
    question_side,
)
from limo_rl.types import LIMO_SYSTEM_PROMPT


def _true_answer(question: str) -> str:
    spec = parse_question(question)
    if spec["kind"] == "add":
        return str(spec["a"] + spec["b"])
    if spec["kind"] == "sub":
        return str(spec["a"] - spec["b"])
    if spec["kind"] == "mul":
        return str(spec["a"] * spec["b"])
    if spec["kind"] == "linear":
        return str(Fraction(spec["c"] - spec["b"], spec["a"]))
    f = Fraction(spec["p"], spec["q"])
    return f"\\frac{{{f.numerator}}}{{{f.denominator}}}"


@pytest.mark.parametrize("difficulty", [1, 2, 4])
def test_problems_have_exact_gold_answers(difficulty):
    problems = make_problems(60, seed=3, difficulty=difficulty)
    assert len(problems) == 60 and len({p.id for p in problems}) == 60
    assert Counter(p.subject for p in problems) == {k: 12 for k in KINDS}
    for p in problems:
        assert p.answer == _true_answer(p.question), p


def test_problems_are_deterministic_and_seed_dependent():
    a, b, c = make_problems(30, seed=1), make_problems(30, seed=1), make_problems(30, seed=2)
    assert a == b
    assert [p.question for p in a] != [p.question for p in c]


def test_difficulty_grows_operands():
    def width(d):
        return max(len(str(parse_question(p.question).get("a", 0))) for p in make_problems(50, difficulty=d)
                   if p.subject == "add")
    assert width(1) < width(2) < width(4)


def test_eval_side_is_disjoint_from_training_side():
    train = {p.question for s in range(3) for p in make_problems(400, seed=s)}
    evals = eval_problems(100)
    assert len(evals) == 100
    assert not train & {p.question for p in evals}
    assert all(is_eval_question(p.question) for p in evals)
    assert all(p.id.startswith("toyeval-") for p in evals)


def test_eval_and_dev_sets_are_stratified_disjoint_and_grow_by_adding():
    evals, dev = eval_problems(), dev_problems()
    assert len(evals) == 1000 and len(dev) == 500
    assert Counter(p.subject for p in evals) == {k: 200 for k in KINDS}
    assert Counter(p.subject for p in dev) == {k: 100 for k in KINDS}
    assert Counter(p.subject for p in eval_problems(7)) == {"add": 2, "sub": 2, "mul": 1, "linear": 1, "fraction": 1}
    assert {p.question for p in eval_problems(300)} <= {p.question for p in evals}  # a bigger set only adds
    assert not {p.question for p in evals} & {p.question for p in dev}
    assert {question_side(p.question) for p in evals} == {"eval"} and {question_side(p.question) for p in dev} == {"dev"}
    assert all(p.source == "toy_dev" and p.id.startswith("toydev-") for p in dev)
    train = {p.question for p in make_problems(2000, seed=0)}
    assert not train & ({p.question for p in evals} | {p.question for p in dev})
    with pytest.raises(ValueError, match="distinct 'add' problems exist on the dev side"):
        dev_problems(5000)


def test_answers_cannot_be_guessed():
    """Every kind has a wide answer range: at least 45 answers per kind, none above 6% of a kind's test problems."""
    evals = eval_problems()
    for kind in KINDS:
        answers = Counter(p.answer for p in evals if p.subject == kind)
        assert len(answers) >= 45, (kind, len(answers))
        assert answers.most_common(1)[0][1] <= 12, (kind, answers.most_common(3))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="difficulty"):
        make_problems(3, difficulty=9)
    with pytest.raises(ValueError, match="kind"):
        make_problems(3, kinds=("division",))
    with pytest.raises(ValueError, match="not a toy question"):
        write_chain("What is the capital of France?", "steps")
    with pytest.raises(ValueError, match="style"):
        write_chain("What is 1 + 2?", "poetic")


def test_chain_styles_have_the_quality_they_claim():
    problems = make_problems(100, seed=5)
    wrong = Counter()
    for p in problems:
        for style in STYLES:
            text, ans = write_chain(p, style, seed=1)
            assert boxed_answer(text) == ans
            assert text.count("\\boxed{") == 1
            checks = verification_steps(text)
            assert checks["failed"] == 0, text  # the generator never writes false arithmetic in a check
            if style in ("terse", "steps", "verified", "hollow", "caught"):
                assert toy_correct(text, p.answer), (style, text)
            else:
                wrong[style] += not toy_correct(text, p.answer)
            if style == "verified":
                assert checks["real"] == 1 and checks["hollow"] == 0
            if style in ("hollow", "slip"):
                assert checks["real"] == 0 and checks["hollow"] == 1
            if style in ("terse", "steps"):
                assert checks == {"real": 0, "failed": 0, "hollow": 0}
            if style == "caught" and "redo" in text:
                assert checks["real"] == 2
    assert wrong["slip"] == 100  # a planted slip always changes the answer


def test_every_step_is_an_equality_a_reader_checks():
    problems = make_problems(200, seed=6)
    for p in problems:
        for style in ("steps", "verified", "hollow", "caught"):
            text, _ = write_chain(p, style, seed=2)
            assert process_consistent(text), text
            if style != "terse" and p.subject != "fraction":
                assert equalities(text)["true"] >= 2, text
        slip, _ = write_chain(p, "slip", seed=2)
        # a slip is a false step, except in fractions, where it stops one division early
        assert process_consistent(slip) == (p.subject == "fraction"), slip
    caught = "2+8+0=11, write 1.\nCheck: 114-84=30.\nIt does not match. Let me redo it.\n2+8+0=10, write 0."
    assert equalities(caught) == {"true": 2, "false": 1} and process_consistent(caught)
    assert not process_consistent("Subtract 6: 7x=34-6=29.\nThe answer is \\boxed{4}.")
    assert equalities("So 78 + 33 = 111. 16=4*5+0. 7/2=3. gcd(4,6)=2. 3x=12") == {"true": 1, "false": 2}


def test_caught_chains_recover_from_the_slip():
    p = make_problems(1, seed=0, kinds=("add",))[0]
    text, ans = write_chain(p, "caught", seed=0)
    assert "It does not match. Let me redo it." in text and ans == p.answer
    first_result = text.split("Check:")[0].strip().splitlines()[-1]
    assert first_result.endswith(".") and p.answer not in first_result.split("=")[-1]


def test_verification_steps_reads_model_text():
    assert verification_steps("Check: 3 * 7 + 5 = 26.\nIt matches.") == {"real": 1, "failed": 0, "hollow": 0}
    assert verification_steps("Check: 3 * 7 + 5 = 27.") == {"real": 0, "failed": 1, "hollow": 0}
    assert verification_steps("Check: it is fine.") == {"real": 0, "failed": 1, "hollow": 0}
    assert verification_steps("Let me verify. Looks right.\nLet me check. Yes.")["hollow"] == 2
    assert verification_steps("Check: 2 * 3 = 6, 4 * 3 = 12, gcd(2, 4) = 2.")["real"] == 1


def test_int_arith_is_a_closed_reader():
    assert _int_arith("12 - 3 * 4 + 10 / 5") == 2
    assert _int_arith("7 / 2") is None  # inexact division is not an integer check
    for bad in ("__import__('os')", "2 ** 8", "3 +", "* 3", "1e9", "(1 + 2)", "9" * 20):
        assert _int_arith(bad) is None, bad


def test_grader_and_boxed_extraction():
    assert boxed_answer("so \\boxed{12} then \\boxed{\\frac{3}{4}}.") == "\\frac{3}{4}"
    assert boxed_answer("no box") is None
    assert toy_correct("The answer is \\boxed{ 42 }.", "42")
    assert not toy_correct("The answer is \\boxed{420}.", "42")
    assert not toy_correct("42", "42")


def test_corpus_mix_and_messages():
    problems = make_problems(400, seed=0)
    exs = corpus_examples(problems, seed=0)
    styles = Counter(e.chain_ref for e in exs)
    assert set(styles) == {f"toy:{s}" for s in STYLES}
    ex = exs[0]
    assert [m["role"] for m in ex.messages] == ["system", "user", "assistant"]
    assert ex.messages[0]["content"] == LIMO_SYSTEM_PROMPT and ex.messages[1]["content"] == problems[0].question
    assert corpus_examples(problems, seed=0) == exs


def test_gold_set_is_817_verified_correct_chains():
    gold = gold_examples()
    assert len(gold) == 817 and len({e.problem_id for e in gold}) == 817
    assert {e.chain_ref for e in gold} <= {f"toy:{s}" for s in GOLD_MIX}
    assert all(e.source == "static" for e in gold)
    for e in gold[:200]:
        reply = e.messages[-1]["content"]
        assert verification_steps(reply)["real"] >= 1
        assert toy_correct(reply, _true_answer(e.messages[1]["content"]))
    assert gold_examples(5, system_prompt=None)[0].messages[0]["role"] == "user"
