"""Pure request building, seeds, hashes and engine request/result mapping of the generate stage."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from limo_rl.config import GenerateConfig
from limo_rl.generate.engines import make_engine
from limo_rl.generate.engines.openai import OpenAIError, completion_from_response, retry_delay
from limo_rl.generate.engines.vllm import completion_from_vllm, flatten_requests, regroup
from limo_rl.generate.prompts import (
    apply_stop,
    batch_seed,
    build_request,
    normalize_finish_reason,
    openai_payload,
    prompt_hash,
    sample_seeds,
    spec_hash,
    vllm_sampling_kwargs,
)
from limo_rl.run.artifacts import derive_seed
from limo_rl.types import LIMO_SYSTEM_PROMPT, Completion, Problem

P = Problem(id="a1", question="What is 2 + 3?", answer="5")


def test_request_has_limo_prompt_and_config_sampling():
    cfg = GenerateConfig(n=3, temperature=0.6, top_p=0.9, top_k=20, max_new_tokens=77, stop=["</s>"])
    req = build_request(P, cfg, base_seed=4, round=2)
    assert req.messages == ({"role": "system", "content": LIMO_SYSTEM_PROMPT}, {"role": "user", "content": P.question})
    s = req.sampling
    assert (s.n, s.temperature, s.top_p, s.top_k, s.max_new_tokens, s.stop) == (3, 0.6, 0.9, 20, 77, ("</s>",))
    assert s.seed == derive_seed(4, 2, "a1", 0)
    no_sys = build_request(P, cfg.model_copy(update={"system_prompt": None}))
    assert no_sys.messages == ({"role": "user", "content": P.question},)


def test_sample_seeds_are_derived_per_sample():
    seeds = sample_seeds(4, 2, "a1", 3)
    assert seeds == tuple(derive_seed(4, 2, "a1", i) for i in range(3)) and len(set(seeds)) == 3
    assert sample_seeds(4, 3, "a1", 3) != seeds and sample_seeds(5, 2, "a1", 3) != seeds


def test_prompt_hash_tracks_the_messages():
    cfg = GenerateConfig()
    h = prompt_hash(build_request(P, cfg).messages)
    assert h == prompt_hash(build_request(Problem(id="other", question=P.question, answer="9"), cfg).messages)
    assert h != prompt_hash(build_request(Problem(id="a1", question="What is 2 + 4?", answer="6"), cfg).messages)
    assert h != prompt_hash(build_request(P, cfg.model_copy(update={"system_prompt": "Be brief."})).messages)


def test_batch_seed_depends_on_seeds_and_order():
    assert batch_seed([(1, 2), (3, 4)]) == batch_seed([(1, 2), (3, 4)])
    assert batch_seed([(1, 2), (3, 4)]) != batch_seed([(3, 4), (1, 2)])
    assert 0 <= batch_seed([(9,)]) < 2**31


def test_spec_hash_ignores_scaling_knobs_only():
    cfg = GenerateConfig()
    h = spec_hash(cfg, "m", round=1, base_seed=0, teacher="t")
    assert h == spec_hash(cfg.model_copy(update={"num_actors": 4, "shard_size": 3, "cpus_per_actor": 2.0}), "m",
                          round=1, base_seed=0, teacher="t")
    for changed in ({"n": 5}, {"temperature": 0.1}, {"max_new_tokens": 9}, {"stop": ["x"]}, {"batch_size": 3}):
        assert spec_hash(cfg.model_copy(update=changed), "m", round=1, base_seed=0, teacher="t") != h
    assert spec_hash(cfg, "m2", round=1, base_seed=0, teacher="t") != h
    assert spec_hash(cfg, "m", round=2, base_seed=0, teacher="t") != h


@pytest.mark.parametrize("text,stops,expected", [
    ("abc STOP def END", ["END", "STOP"], ("abc ", True)),
    ("no stop here", ["zzz"], ("no stop here", False)),
    ("x", [], ("x", False)),
    ("a</s>", ["", "</s>"], ("a", True)),
])
def test_apply_stop_cuts_at_earliest(text, stops, expected):
    assert apply_stop(text, stops) == expected


def test_openai_payload_one_sample_with_its_seed():
    cfg = GenerateConfig(n=4, max_new_tokens=321, stop=["\n\n\n"])
    body = openai_payload(build_request(P, cfg), "served", 1234)
    assert body["n"] == 1 and body["seed"] == 1234 and body["max_tokens"] == 321 and body["model"] == "served"
    assert body["stop"] == ["\n\n\n"] and "top_k" not in body
    assert body["messages"][1] == {"role": "user", "content": P.question}
    assert openai_payload(build_request(P, cfg.model_copy(update={"top_k": 40})), "s", 1)["top_k"] == 40


def test_vllm_sampling_kwargs_set_max_tokens_explicitly():
    cfg = GenerateConfig(n=8, max_new_tokens=4096, temperature=0.7, top_k=-1)
    kw = vllm_sampling_kwargs(build_request(P, cfg).sampling, 99)
    assert kw["max_tokens"] == 4096 and kw["n"] == 1 and kw["seed"] == 99 and kw["top_k"] == -1
    assert kw["stop"] is None and kw["include_stop_str_in_output"] is False


def test_normalize_finish_reason():
    assert normalize_finish_reason("length", 3, 10) == "length"
    assert normalize_finish_reason("stop", 10, 10) == "stop"
    assert normalize_finish_reason(None, 10, 10) == "length"
    assert normalize_finish_reason(None, 4, 10) == "stop"
    with pytest.raises(ValueError, match="abort"):
        normalize_finish_reason("abort", 1, 10)


def test_vllm_flatten_and_map_results_back():
    cfg = GenerateConfig(n=2, max_new_tokens=8)
    probs = [P, Problem(id="b2", question="q?", answer="1")]
    reqs = [build_request(p, cfg) for p in probs]
    seeds = [sample_seeds(0, 1, p.id, 2) for p in probs]
    flat = flatten_requests(reqs, seeds)
    assert [i for i, _, _ in flat] == [0, 0, 1, 1]
    assert [kw["seed"] for _, _, kw in flat] == [*seeds[0], *seeds[1]]
    outs = [SimpleNamespace(text=f"t{k}", token_ids=list(range(8 if k == 3 else 2)),
                            finish_reason="length" if k == 3 else "stop") for k in range(4)]
    comps = [completion_from_vllm(o, 8, "vllm==x") for o in outs]
    grouped = regroup(flat, comps, 2)
    assert [[c.text for c in g] for g in grouped] == [["t0", "t1"], ["t2", "t3"]]
    assert grouped[1][1] == Completion(text="t3", n_tokens=8, finish_reason="length", engine="vllm",
                                       engine_version="vllm==x")
    with pytest.raises(ValueError, match="seeds"):
        flatten_requests(reqs, [seeds[0][:1], seeds[1]])
    with pytest.raises(ValueError, match="outputs"):
        regroup(flat, comps[:3], 2)


def test_openai_response_mapping():
    body = {"choices": [{"message": {"content": "\\boxed{5}", "reasoning_content": "2+3=5"},
                         "finish_reason": "stop"}], "usage": {"completion_tokens": 7}}
    c = completion_from_response(body, 100, "v")
    assert c.text == "<think>\n2+3=5\n</think>\n\n\\boxed{5}" and c.n_tokens == 7 and c.finish_reason == "stop"
    trunc = {"choices": [{"message": {"content": "abc"}, "finish_reason": "length"}], "usage": {}}
    assert completion_from_response(trunc, 100, "v").finish_reason == "length"
    with pytest.raises(OpenAIError, match="malformed"):
        completion_from_response({"choices": []}, 100, "v")
    with pytest.raises(OpenAIError, match="content_filter"):
        completion_from_response({"choices": [{"message": {"content": ""}, "finish_reason": "content_filter"}]},
                                 100, "v")


def test_retry_delay():
    assert retry_delay(0, 1.0, "3") == 3.0
    assert retry_delay(0, 1.0, "soon") <= 1.0
    assert 2.0 <= retry_delay(2, 1.0) <= 4.0
    assert retry_delay(20, 1.0) == 60.0


def test_vllm_engine_without_vllm_says_how_to_install():
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover
        pytest.skip("vllm is installed here")
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[vllm\]'"):
        make_engine(GenerateConfig(engine="vllm"), "some/model")
