"""The ``openai`` engine: any OpenAI-compatible chat server (``vllm serve``, SGLang, a hosted teacher).

One ``POST {base_url}/chat/completions`` per sample (``n=1`` with the sample's derived seed,
so a server that honors ``seed`` gives reproducible chains and a failed call costs one
sample, not k). Calls run on a bounded thread pool (``generate.openai.concurrency``) with a
per-call timeout. 429, 408 and 5xx answers and dropped connections are retried with
exponential backoff (honoring ``Retry-After``) up to ``max_retries`` times; 401/403 and 404
fail at once with a message naming the key variable or the URL and model, since retrying
cannot fix them.

HTTP client: ``requests`` (already a dependency; synchronous calls on a thread pool keep this
module simple and need no event loop inside a Ray actor). The API key is read from the
environment variable named in the recipe and is never logged or written anywhere.
Reasoning servers that return the chain separately (DeepSeek's ``reasoning_content``, vLLM's
``reasoning``) get it put back in front of the answer inside ``<think>`` tags.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from limo_rl.console.redact import redact, register_secret
from limo_rl.generate.prompts import canonical_chain, normalize_finish_reason, openai_payload
from limo_rl.types import Completion, GenerationRequest

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class OpenAIError(RuntimeError):
    """A call that cannot succeed (bad key, unknown model or URL) or that kept failing after retries."""

    def __init__(self, message: str):
        super().__init__(redact(message))  # no key or bearer token in any message that may be stored


def completion_from_response(body: Any, max_new_tokens: int, version: str) -> Completion:
    """Map a chat-completions JSON body (one choice) to a Completion; malformed bodies raise OpenAIError."""
    try:
        choice = body["choices"][0]
        message = choice.get("message") or {}
        content = message.get("content") or ""
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        usage = body.get("usage") or {}
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise OpenAIError(f"malformed chat completion response ({exc!r}): {str(body)[:200]}") from None
    text = f"<think>\n{reasoning}\n</think>\n\n{content}" if reasoning else canonical_chain(content)
    n_tokens = usage.get("completion_tokens")
    if not isinstance(n_tokens, int):
        n_tokens = max(1, len(text) // 4)  # no usage block: a rough estimate, logged once per engine
        log.debug("response without usage.completion_tokens; estimating %d tokens", n_tokens)
    try:
        finish = normalize_finish_reason(choice.get("finish_reason"), n_tokens, max_new_tokens)
    except ValueError as exc:
        raise OpenAIError(str(exc)) from None
    return Completion(text=text, n_tokens=n_tokens, finish_reason=finish, engine="openai", engine_version=version)


def retry_delay(attempt: int, backoff_s: float, retry_after: str | None = None, cap_s: float = 60.0) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): Retry-After if given, else exponential with jitter."""
    if retry_after:
        try:
            return min(cap_s, max(0.0, float(retry_after)))
        except ValueError:
            pass
    base = backoff_s * (2 ** attempt)
    return min(cap_s, base * (0.5 + random.random() / 2))


class OpenAIEngine:
    name = "openai"

    def __init__(self, ocfg: Any, *, default_model: str):
        import requests

        self._requests = requests
        self.cfg = ocfg
        self.model = ocfg.model or default_model
        self.url = ocfg.base_url.rstrip("/") + "/chat/completions"
        self.version = f"openai-compatible:{ocfg.base_url.rstrip('/')}:{self.model}"
        key = os.environ.get(ocfg.api_key_env) if ocfg.api_key_env else None
        self._headers = {"Content-Type": "application/json"}
        if key:
            register_secret(key)  # scrubbed from every error text this engine raises
            self._headers["Authorization"] = f"Bearer {key}"
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=ocfg.concurrency, thread_name_prefix="limo-openai")

    def _session(self):
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = self._requests.Session()
        return s

    def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        requests = self._requests
        last = ""
        for attempt in range(self.cfg.max_retries + 1):
            retry_after = None
            try:
                resp = self._session().post(self.url, json=body, headers=self._headers, timeout=self.cfg.timeout_s)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code == 200:
                    try:
                        return resp.json()
                    except ValueError:
                        raise OpenAIError(f"{self.url}: answer is not JSON: {resp.text[:200]!r}") from None
                snippet = redact(resp.text[:300])  # a server may echo the request, bearer token included
                if resp.status_code in (401, 403):
                    hint = (f"the key in ${self.cfg.api_key_env} was refused" if "Authorization" in self._headers
                            else f"no API key sent: set the environment variable {self.cfg.api_key_env}")
                    raise OpenAIError(f"{self.url}: HTTP {resp.status_code} unauthorized ({hint}): {snippet}")
                if resp.status_code == 404:
                    raise OpenAIError(
                        f"{self.url}: HTTP 404: no such endpoint or model {self.model!r} (check "
                        f"generate.openai.base_url and generate.openai.model): {snippet}"
                    )
                if resp.status_code not in RETRY_STATUS:
                    raise OpenAIError(f"{self.url}: HTTP {resp.status_code}: {snippet}")
                last = f"HTTP {resp.status_code}: {snippet}"
                retry_after = resp.headers.get("Retry-After")
            if attempt < self.cfg.max_retries:
                delay = retry_delay(attempt, self.cfg.backoff_s, retry_after)
                log.info("openai call failed (%s); retry %d/%d in %.2fs", last, attempt + 1,
                         self.cfg.max_retries, delay)
                time.sleep(delay)
        raise OpenAIError(f"{self.url}: gave up after {self.cfg.max_retries + 1} attempts; last error: {last}")

    def _one(self, request: GenerationRequest, seed: int) -> Completion:
        body = self._call(openai_payload(request, self.model, seed))
        return completion_from_response(body, request.sampling.max_new_tokens, self.version)

    def generate(
        self, requests: Sequence[GenerationRequest], seeds: Sequence[Sequence[int]],
        progress: Callable[[int], None] | None = None,
    ) -> list[list[Completion]]:
        if len(requests) != len(seeds):
            raise ValueError(f"{len(requests)} requests but {len(seeds)} seed lists")
        futures = [[self._pool.submit(self._one, r, s) for s in sd] for r, sd in zip(requests, seeds, strict=True)]
        if progress is not None:
            for row in futures:
                for f in row:
                    f.add_done_callback(lambda f: f.cancelled() or f.exception() or progress(1))
        try:
            return [[f.result() for f in row] for row in futures]
        except BaseException:
            for row in futures:
                for f in row:
                    f.cancel()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
