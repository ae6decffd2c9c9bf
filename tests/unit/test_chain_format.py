"""One chain format whatever the engine: <think>reasoning</think>answer, and the verifier reads the answer part."""

from __future__ import annotations

from types import SimpleNamespace

from limo_rl.generate.engines.openai import completion_from_response
from limo_rl.generate.engines.vllm import completion_from_vllm
from limo_rl.generate.prompts import canonical_chain, prompt_opens_think
from limo_rl.verify.answers import extract_answer

R1_PROMPT = "<｜begin▁of▁sentence｜>Solve.<｜User｜>1+1?<｜Assistant｜><think>\n"
CHATML_PROMPT = "<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n"


def test_prompt_opens_think():
    assert prompt_opens_think(R1_PROMPT)
    assert not prompt_opens_think(CHATML_PROMPT)
    assert not prompt_opens_think("...<think>x</think>\n")


def test_three_engines_store_the_same_text():
    reasoning, answer = "1 plus 1 is 2, check: 2-1=1.", "The answer is \\boxed{2}."
    # vLLM/HF on a template that opened <think> in the prompt: a lone closing tag
    lone = f"{reasoning}\n</think>\n\n{answer}"
    from_vllm = completion_from_vllm(SimpleNamespace(text=lone, token_ids=[1] * 20, finish_reason="stop"),
                                     100, "vllm==x", opens_think=True).text
    # an OpenAI-compatible server with a reasoning parser: reasoning returned apart
    body = {"choices": [{"message": {"content": answer, "reasoning_content": reasoning}, "finish_reason": "stop"}],
            "usage": {"completion_tokens": 20}}
    from_openai = completion_from_response(body, 100, "openai").text
    # a model that writes both tags itself
    both = f"<think>\n{reasoning}\n</think>\n\n{answer}"
    assert from_vllm == from_openai == both == canonical_chain(both)
    assert canonical_chain(lone) == both  # a lone </think> is recognised even without the prompt


def test_chains_without_reasoning_are_left_alone():
    assert canonical_chain("The answer is 4.") == "The answer is 4."
    assert canonical_chain("The answer is 4.", opened_in_prompt=False) == "The answer is 4."
    # cut off while thinking: the block stays open, still marked as reasoning
    assert canonical_chain("Let me think", opened_in_prompt=True) == "<think>\nLet me think"


def test_the_verifier_reads_the_answer_after_the_reasoning():
    text = "<think>\nmaybe \\boxed{3}? no, recheck.\n</think>\n\nSo \\boxed{2}."
    assert extract_answer(text) == "2"
    assert extract_answer("<think>\n\\boxed{3} wait\n</think>\n\nno final box here") is None
    assert extract_answer("no tags: \\boxed{7}") == "7"
