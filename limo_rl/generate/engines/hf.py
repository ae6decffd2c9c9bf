"""The ``hf`` engine: transformers ``generate``, batched, on CPU or GPU.

Prompts are rendered with the tokenizer's own chat template (``add_generation_prompt``),
left-padded into batches of ``generate.batch_size`` requests, and each request is sampled
``n`` times with ``num_return_sequences``. Sampling stops at the EOS token(s) of the
tokenizer and generation config and at the recipe's stop strings (cut from the text, as
vLLM and OpenAI servers do). A sample that used its whole ``max_new_tokens`` without
stopping reports ``finish_reason="length"``.

Known quirk: transformers' stop-string criterion also looks at the prompt's last tokens, so a stop
string that spans the prompt's tail (e.g. "\n\n" after "assistant\n") can end a sample early;
such a sample reports ``stop`` (it used less than its budget). Prefer stop strings that cannot
start in the chat template.

Determinism: the torch generator is reseeded per batch from the batch's sample seeds
(:func:`limo_rl.generate.prompts.batch_seed`); batches are cut from a shard in a fixed
order, so a recipe gives the same chains on one actor or many.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from limo_rl.generate.prompts import apply_stop, batch_seed, canonical_chain, prompt_opens_think
from limo_rl.types import Completion, GenerationRequest

log = logging.getLogger(__name__)


class HFEngine:
    name = "hf"

    def __init__(self, model: str | Path, *, device: str = "auto", dtype: str = "auto", batch_size: int = 16):
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.version = f"transformers=={transformers.__version__}"
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("generate.device = 'cuda' but no CUDA device is visible")
        self.device = torch.device(device)
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        self.batch_size = max(1, int(batch_size))
        self.tokenizer = AutoTokenizer.from_pretrained(str(model))
        self.tokenizer.padding_side = "left"  # not saved with the tokenizer; needed for batched decoding
        if self.tokenizer.chat_template is None:
            raise ValueError(f"{model}: the tokenizer has no chat template; the generate stage needs one")
        self.model = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch_dtype).to(self.device).eval()
        gen_cfg = self.model.generation_config
        eos = gen_cfg.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            eos_ids.add(self.tokenizer.eos_token_id)
        if not eos_ids:
            raise ValueError(f"{model}: neither the tokenizer nor the generation config names an EOS token")
        self.eos_ids = sorted(eos_ids)
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (gen_cfg.pad_token_id if gen_cfg.pad_token_id is not None
                                                   else self.eos_ids[0])
        self._torch = torch

    def _render(self, request: GenerationRequest) -> str:
        return self.tokenizer.apply_chat_template(
            [dict(m) for m in request.messages], add_generation_prompt=True, tokenize=False
        )

    def generate(
        self, requests: Sequence[GenerationRequest], seeds: Sequence[Sequence[int]]
    ) -> list[list[Completion]]:
        if len(requests) != len(seeds):
            raise ValueError(f"{len(requests)} requests but {len(seeds)} seed lists")
        out: list[list[Completion]] = []
        start = 0
        while start < len(requests):
            # A batch holds requests with one sampling spec (all of them, from one config).
            spec = requests[start].sampling.to_dict() | {"seed": 0}
            end = start + 1
            while (end < len(requests) and end - start < self.batch_size
                   and requests[end].sampling.to_dict() | {"seed": 0} == spec):
                end += 1
            out.extend(self._generate_batch(requests[start:end], seeds[start:end]))
            start = end
        return out

    def _generate_batch(
        self, requests: Sequence[GenerationRequest], seeds: Sequence[Sequence[int]]
    ) -> list[list[Completion]]:
        torch = self._torch
        s = requests[0].sampling
        for r, sd in zip(requests, seeds, strict=True):
            if len(sd) != r.sampling.n:
                raise ValueError(f"problem {r.problem_id}: {len(sd)} seeds for n={r.sampling.n} samples")
        prompts = [self._render(r) for r in requests]
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True,
                             add_special_tokens=False).to(self.device)
        do_sample = s.temperature > 0
        kwargs = dict(
            max_new_tokens=s.max_new_tokens,
            num_return_sequences=s.n,
            do_sample=do_sample,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
        )
        if do_sample:
            # top_k=0 switches the top-k filter off (the generation config's default is 50).
            kwargs.update(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k if s.top_k > 0 else 0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if s.stop:
            kwargs.update(stop_strings=list(s.stop), tokenizer=self.tokenizer)
        torch.manual_seed(batch_seed(seeds))
        with torch.inference_mode():
            gen = self.model.generate(**enc, **kwargs)
        new = gen[:, enc["input_ids"].shape[1]:].tolist()
        results: list[list[Completion]] = []
        for i, _ in enumerate(requests):
            think = prompt_opens_think(prompts[i])
            results.append([self._completion(new[i * s.n + j], s.max_new_tokens, s.stop, think) for j in range(s.n)])
        return results

    def _completion(self, ids: list[int], max_new_tokens: int, stop: Sequence[str], think: bool = False) -> Completion:
        eos_at = next((k for k, t in enumerate(ids) if t in self.eos_ids), None)
        if eos_at is not None:
            ids, n_tokens, hit_eos = ids[:eos_at], eos_at + 1, True
        else:
            while ids and ids[-1] == self.pad_id:  # rows that stopped early on a stop string are padded
                ids = ids[:-1]
            n_tokens, hit_eos = len(ids), False
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        text, hit_stop = apply_stop(text, stop)
        text = canonical_chain(text, think)
        finish = "stop" if hit_eos or hit_stop or n_tokens < max_new_tokens else "length"
        return Completion(text=text, n_tokens=n_tokens, finish_reason=finish, engine=self.name,
                          engine_version=self.version)

    def close(self) -> None:
        self.model = None
        if self.device.type == "cuda":
            self._torch.cuda.empty_cache()
