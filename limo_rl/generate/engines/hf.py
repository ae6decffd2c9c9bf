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

Determinism: every sample draws its tokens from its own random stream, keyed by its own
sample seed (:func:`limo_rl.generate.prompts.sample_seeds`, from base seed, round, problem id and
sample index): :class:`_PerSampleSampler` applies temperature, top-k and top-p and draws the
next token per row from a counter-based stream keyed by that seed, and ``generate`` then runs
greedily over that choice. A chain therefore does
not depend on which other prompts share its batch, so ``generate.batch_size``, ``shard_size`` and
the number of actors do not change the chains (one torch generator per batch did: issue 15).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from limo_rl.context_window import model_window, prompt_overflows
from limo_rl.generate.prompts import apply_stop, canonical_chain, prompt_opens_think
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
        self.window = model_window(self.model.config.to_dict())  # max_position_embeddings (rope scaling)
        self._max_token_chars: int | None = None

    def prompt_overflow(self, requests: Sequence[GenerationRequest]) -> list[dict[str, Any]]:
        """The requests whose prompt tokens + max_new_tokens exceed the model's positions (the driver drops
        them: beyond its window a model attends over positions it never learned, and a huge prompt exhausts
        memory before a token comes out)."""
        if self._max_token_chars is None:
            self._max_token_chars = max((len(t) for t in self.tokenizer.get_vocab()), default=0)
        return prompt_overflows(requests, self._render,
                                lambda text: self.tokenizer(text, add_special_tokens=False)["input_ids"],
                                self.window, self._max_token_chars)

    def _render(self, request: GenerationRequest) -> str:
        return self.tokenizer.apply_chat_template(
            [dict(m) for m in request.messages], add_generation_prompt=True, tokenize=False
        )

    def generate(
        self, requests: Sequence[GenerationRequest], seeds: Sequence[Sequence[int]],
        progress: Callable[[int], None] | None = None,
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
            if progress is not None:
                progress(sum(len(sd) for sd in seeds[start:end]))
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
        from transformers import LogitsProcessorList

        prompts = [self._render(r) for r in requests]
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True,
                             add_special_tokens=False).to(self.device)
        # one row per sample (prompt i repeated n times), so each row can carry its own seed
        enc = {k: v.repeat_interleave(s.n, dim=0) for k, v in enc.items()}
        kwargs = dict(
            max_new_tokens=s.max_new_tokens,
            do_sample=False,  # greedy over the token _PerSampleSampler drew (or over the logits at T=0)
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
            temperature=None, top_p=None, top_k=None,
        )
        if self.device.type == "cpu":
            # a preallocated KV cache: the dynamic one concatenates every layer's cache at every step,
            # which took ~60% of generation time on CPU (same chains: tested); on a GPU the dynamic
            # cache only grows as long as the batch's longest sample
            kwargs["cache_implementation"] = "static"
        if s.temperature > 0:
            row_seeds = [seed for sd in seeds for seed in sd]
            kwargs["logits_processor"] = LogitsProcessorList(
                [_PerSampleSampler(row_seeds, s.temperature, s.top_p, s.top_k, self.device)])
        if s.stop:
            kwargs.update(stop_strings=list(s.stop), tokenizer=self.tokenizer)
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


_M32 = 0xFFFFFFFF


def _mix32(x):
    """A 32-bit integer hash (xor-shift-multiply, a bijection) on int64 tensors holding 32-bit values.

    The multiplier is below 2**27, so no product leaves int64: the same bits on CPU and GPU.
    """
    x = ((x >> 16) ^ x) * 0x45D9F3B & _M32
    x = ((x >> 16) ^ x) * 0x45D9F3B & _M32
    return (x >> 16) ^ x


class _PerSampleSampler:
    """A logits processor that samples each row's next token from that row's own random stream.

    Temperature, then top-k (``top_k <= 0``: off), then top-p (nucleus) as in transformers' warpers;
    the drawn token keeps its score and every other gets -inf, so greedy decoding picks it.

    The stream is counter-based: the uniform for (row, step, token) is a hash of the row's sample
    seed, the step (tokens generated so far in this call) and the token id, and the token is drawn
    with the Gumbel-max trick (argmax of logits + Gumbel noise: an exact categorical draw). So a
    row's chain depends on its seed alone, never on its batch, and the whole batch is drawn in a
    few tensor operations (a Python loop over rows with one torch generator each cost ~64 ms per
    step at 512 rows and dominated generation on CPU).
    """

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float, top_k: int, device):
        import torch

        self._torch = torch
        self.temperature, self.top_p, self.top_k = temperature, top_p, top_k
        lo = torch.tensor([int(sd) & _M32 for sd in seeds], dtype=torch.int64, device=device)
        hi = torch.tensor([(int(sd) >> 32) & _M32 for sd in seeds], dtype=torch.int64, device=device)
        self.keys = _mix32(lo ^ _mix32(hi ^ 0x5BD1E995))
        self.step = 0
        self._salt = None  # per-token salts, made once the vocabulary size is known

    def _uniform(self, vocab: int):
        torch = self._torch
        if self._salt is None or self._salt.shape[0] != vocab:
            ids = torch.arange(vocab, dtype=torch.int64, device=self.keys.device)
            self._salt = _mix32(ids * 0x9E3779B1 & _M32)
        step_key = _mix32(self.keys ^ _mix32(torch.full_like(self.keys, (self.step * 0x27D4EB2F + 1) & _M32)))
        bits = _mix32(step_key[:, None] ^ self._salt[None, :]) >> 8  # 24 uniform bits
        return (bits.float() + 0.5) / float(1 << 24)

    def __call__(self, input_ids, scores):
        torch = self._torch
        logits = scores.float() / self.temperature
        if 0 < self.top_k < logits.shape[-1]:
            kth = torch.topk(logits, self.top_k, dim=-1).values[..., -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if self.top_p < 1.0:
            sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
            cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
            drop = cum - sorted_logits.softmax(dim=-1) >= self.top_p  # keep the smallest prefix reaching top_p
            logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
        gumbel = -torch.log(-torch.log(self._uniform(logits.shape[-1])))
        token = torch.argmax(logits + gumbel, dim=-1, keepdim=True)
        self.step += 1
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, token, 0.0)
