"""Hard limits and safety: killable workers, any-thread and async use, planted code never runs."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from limo_rl.config import VerifyConfig
from limo_rl.verify.grade import Grader, grade


@pytest.fixture(scope="module")
def grader():
    with Grader(VerifyConfig(workers=2, timeout_s=2.0, memory_mb=768)) as g:
        g.pool.run([("x", "y"), ("y", "x")])  # both workers booted (start-up is not what the tests time)
        yield g


def test_tower_times_out_and_pool_carries_on(grader):
    # a tower against itself plus one: only exact integer arithmetic can tell them apart, and it cannot finish
    items = [("\\boxed{9^{9^{9}}}", "9^{9^{9}}+1"), ("\\boxed{\\sqrt{8}}", "2\\sqrt{2}"),
             ("\\boxed{\\frac{\\pi}{2}}", "\\pi/2")]
    t0 = time.perf_counter()
    verdicts = grader.grade_many(items, progress=False)
    elapsed = time.perf_counter() - t0
    assert [v.status for v in verdicts] == ["timeout", "ok", "ok"]
    assert [v.correct for v in verdicts] == [False, True, True]
    assert elapsed < 2.0 + 1.0 + 3.0  # timeout + 1 s, plus a replacement worker's start-up at most
    assert grader.pool.replaced >= 1
    assert grader.equal("2\\pi", "\\pi+\\pi") is True  # the replaced worker serves again


def test_long_expression_is_bounded(grader):
    expr = "+".join(f"\\frac{{x^{{{i}}}}}{{{i + 1}}}" for i in range(500))
    assert 9_000 < len(expr) < 10_000
    t0 = time.perf_counter()
    v = grader.grade_many([("\\boxed{" + expr + "}", "x")], progress=False)[0]
    assert v.status in ("ok", "timeout") and v.correct is False
    assert time.perf_counter() - t0 < 2.0 + 1.0 + 3.0


@pytest.mark.parametrize("payload", [
    "__import__('os').system('touch {marker}')",
    "exec(\"open('{marker}','w').write('x')\")",
    "lambda: __import__('os').system('touch {marker}')",
])
def test_planted_code_stays_a_string(grader, tmp_path, payload):
    marker = tmp_path / "pwned"
    text = payload.format(marker=marker)
    v = grader.grade_many([(f"so \\boxed{{{text}}}", "0"), (f"The final answer is {text}", "0")], progress=False)
    assert all(x.correct is False for x in v)
    assert v[0].extracted == text
    assert not marker.exists()


def test_works_from_threads_and_async(grader):
    out: list = []
    threads = [threading.Thread(target=lambda: out.append(grader.equal("\\sin^2 x+\\cos^2 x", "1")))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert out == [True, True, True]

    async def main():
        return await asyncio.gather(asyncio.to_thread(grader.equal, "2\\sqrt{2}", "\\sqrt{8}"),
                                    asyncio.to_thread(grader.equal, "\\sqrt{3}", "\\sqrt{2}"))

    assert asyncio.run(main()) == [True, False]


def test_results_keep_input_order(grader):
    items = [(f"\\boxed{{{i}\\sqrt{{2}}}}", f"\\sqrt{{{2 * i * i}}}") for i in range(1, 9)]
    items[3] = ("\\boxed{5}", "\\sqrt{7}")
    verdicts = grader.grade_many(items, progress=False)
    assert [v.correct for v in verdicts] == [True, True, True, False, True, True, True, True]
    assert [v.extracted for v in verdicts][:2] == ["1\\sqrt{2}", "2\\sqrt{2}"]


def test_grade_single_call_fast_path_and_features():
    v = grade("We get 2x + 1 = 11, so x = 5.\n\nCheck: 2(5) + 1 = 11. \\boxed{5}", "5")
    assert v.correct and v.status == "ok" and v.extracted == "5"
    assert {s.kind for s in v.verification_steps} >= {"substitution"}
    assert v.verification_density > 0 and v.arithmetic_consistency == 1.0
    assert 0.0 < v.score <= 1.0 and v.grader_version
    none = grade("I give up.", "5")
    assert none.status == "no_answer" and not none.correct


def test_thread_pool_use_from_many_threads_with_default_grader():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda i: grade(f"\\boxed{{{i}/2}}", f"\\frac{{{i}}}{{2}}").correct, range(8)))
    assert got == [True] * 8


def test_big_batches_compute_features_in_workers_identically(grader):
    from limo_rl.verify.grade import FEATURES_IN_WORKERS_MIN, chain_features

    texts = [f"Let me verify: {i} + {i} = {2 * i}.\n\nSo 3x = {3 * i}, x = {i}. \\boxed{{{i}}}"
             for i in range(FEATURES_IN_WORKERS_MIN + 5)]
    verdicts = grader.grade_many([(t, str(i)) for i, t in enumerate(texts)], progress=False)
    assert all(v.correct for v in verdicts)
    for t, v in zip(texts, verdicts, strict=True):
        want = chain_features(t, None, grader.cfg)
        assert v.verification_steps == want["verification_steps"] and v.score == want["score"]
    bare = grader.grade_many([(t, str(i)) for i, t in enumerate(texts)], progress=False, features=False)
    assert [v.correct for v in bare] == [v.correct for v in verdicts] and bare[0].quality == {}


def test_megabyte_outputs_never_stall_the_main_process(grader):
    """1 MB of repeated \\boxed{, of nested braces, and of check spam: extraction is linear and bounded, and
    the chain analysis of a long chain runs in a worker under the timeout (cheap features if it runs out)."""
    outs = ["\\boxed{" * 150_000, "{" * 1_000_000, "\\boxed{" + "{" * 1_000_000,
            "Let me check: 2+2=4. " * 50_000 + "\\boxed{4}"]
    t0 = time.perf_counter()
    verdicts = grader.grade_many([(o, "4") for o in outs], progress=False)
    elapsed = time.perf_counter() - t0
    assert [v.status for v in verdicts] == ["no_answer", "no_answer", "no_answer", "ok"]
    assert verdicts[3].correct is True
    assert grader.max_inprocess_s < 1.0  # nothing long ran in this process
    assert grader.pool.max_job_s < 2.0 + 1.0  # every job in a worker: at most its timeout (+ the kill)
    assert elapsed < 60  # a gross stall guard only: replacement workers boot on a shared, loaded machine
    assert all(isinstance(v.quality.get("n_tokens"), float) for v in verdicts)
