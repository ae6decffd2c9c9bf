"""Evaluation presets (LIMO protocol) and markdown tables."""

from __future__ import annotations

import pytest

from limo_rl.config import EvaluateConfig
from limo_rl.evaluate.metrics import ProblemSamples, benchmark_metrics, exact_equal
from limo_rl.evaluate.presets import resolve_protocol
from limo_rl.evaluate.table import format_value, render_comparison, render_metrics_table
from limo_rl.types import LIMO_SYSTEM_PROMPT


def test_limo_preset_matches_the_paper():
    cfg = EvaluateConfig(preset="limo", benchmarks=["aime24", "amc23", "math500"])
    for name in ("aime24", "amc23"):
        p = resolve_protocol(cfg, name)
        assert (p.n, p.temperature, p.top_p, p.max_new_tokens) == (16, 0.7, 0.95, 32768)
        assert p.system_prompt == LIMO_SYSTEM_PROMPT and 16 in p.ks and 1 in p.ks
    m = resolve_protocol(cfg, "math500")
    assert (m.n, m.temperature, m.max_new_tokens, m.greedy) == (1, 0.0, 32768, True)
    assert m.ks == (1,)


def test_limo_preset_explicit_fields_override():
    cfg = EvaluateConfig(preset="limo", n=4, max_new_tokens=64)
    a = resolve_protocol(cfg, "aime24")
    assert (a.n, a.max_new_tokens, a.temperature) == (4, 64, 0.7)
    assert max(a.ks) == 4
    g = resolve_protocol(cfg, "math500")
    assert (g.n, g.max_new_tokens) == (1, 64)  # greedy stays one sample


def test_custom_preset_uses_the_section():
    cfg = EvaluateConfig(n=3, temperature=0.6, top_p=0.9, max_new_tokens=50, k=[2], system_prompt=None)
    p = resolve_protocol(cfg, "toy_eval")
    assert (p.n, p.temperature, p.top_p, p.max_new_tokens, p.system_prompt) == (3, 0.6, 0.9, 50, None)
    assert p.ks == (1, 2, 3)


def _doc(model, label, correct_by_problem):
    probs = [
        ProblemSamples(str(i), tuple(c), tuple("1" if x else "2" for x in c), (12,) * len(c), (False,) * len(c))
        for i, c in enumerate(correct_by_problem)
    ]
    bm = benchmark_metrics(probs, [1, 2], exact_equal, bootstrap_samples=200, seed=0)
    return {"model": model, "label": label, "benchmarks": {"toy_eval": bm.to_dict()}}


def test_metrics_table_structure():
    doc = _doc("m/strong", "strong", [[True, True], [True, False], [False, False], [True, True]])
    text = render_metrics_table(doc)
    assert "`m/strong`" in text and "Acc" not in text
    headline = [ln for ln in text.splitlines() if ln.startswith("| toy_eval | 4 | 8 |")]
    assert len(headline) == 1 and "pass@1[avg of 2]" in headline[0] and "62.5 [" in headline[0]
    rows = {ln.split("|")[2].strip(): ln for ln in text.splitlines() if ln.startswith("| toy_eval | ")}
    assert {"pass@2", "maj@2", "no_answer_rate", "truncation_rate", "mean_tokens"} <= set(rows)
    assert rows["mean_tokens"].split("|")[3].strip() == "12.0"
    assert rows["pass@2"].split("|")[3].strip() == "75.0"


def test_comparison_table_orders_models():
    strong = _doc("m/strong", "strong", [[True, True], [True, False], [True, True]])
    weak = _doc("m/weak", "weak", [[False, False], [True, False], [False, False]])
    text = render_comparison([strong, weak])
    lines = text.splitlines()
    assert lines[0] == "| model | toy_eval pass@1[avg of 2] |"
    assert lines[2].startswith("| strong | 83.3 [") and lines[3].startswith("| weak | 16.7 [")
    assert "| weak | 16.7" in render_comparison([strong, weak], metric="pass@1[avg of 2]")
    assert render_comparison([strong, weak], metric="maj@8").splitlines()[2] == "| strong | - |"


@pytest.mark.parametrize(("name", "expected"), [("pass@4", "50.0 [25.0, 75.0]"), ("mean_tokens", "0.5 [0.2, 0.8]")])
def test_format_value(name, expected):
    assert format_value(name, {"value": 0.5, "ci_low": 0.25, "ci_high": 0.75}) == expected


def test_protocol_summary_tells_explicit_from_default():
    from limo_rl.evaluate.presets import protocol_summary

    default = protocol_summary(EvaluateConfig(preset="limo", benchmarks=["aime24"]))
    explicit = protocol_summary(EvaluateConfig(preset="limo", benchmarks=["aime24"], n=1))
    assert default["aime24"]["n"] == 16 and explicit["aime24"]["n"] == 1
    assert EvaluateConfig(preset="limo", n=1).model_dump() == EvaluateConfig(preset="limo").model_dump()


def test_open_r1_preset_samples_every_benchmark_like_r1():
    from limo_rl.config import EvaluateConfig
    from limo_rl.evaluate.presets import resolve_protocol

    cfg = EvaluateConfig(preset="open-r1", benchmarks=["aime24", "math500", "gpqa_diamond"])
    aime, math, gpqa = (resolve_protocol(cfg, b) for b in cfg.benchmarks)
    for p in (aime, math, gpqa):
        assert (p.temperature, p.top_p, p.max_new_tokens, p.system_prompt) == (0.6, 0.95, 32768, None)
    assert (aime.n, math.n, gpqa.n) == (16, 4, 4) and aime.ks == (1, 4, 8, 16) and math.ks == (1, 4)
    smoke = EvaluateConfig(preset="open-r1", benchmarks=["aime24"], n=2, max_new_tokens=64)
    p = resolve_protocol(smoke, "aime24")
    assert (p.n, p.max_new_tokens, p.temperature) == (2, 64, 0.6)  # explicit fields win, sampling stays R1's
