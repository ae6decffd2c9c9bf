"""The ``openai`` engine against real HTTP servers on 127.0.0.1 started by the tests.

One server answers from the tiny HF model (so the chains are real samples); others fail in
the ways hosted servers do (429/503 then success, 401, 404, a slow answer) to check retries,
backoff, timeouts and clear errors; the last runs through Ray to check that a shard that keeps
failing is reported by name while the other shards are kept.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from limo_rl.config import GenerateConfig, OpenAIConfig
from limo_rl.generate import GenerationError, read_chains, run_generation
from limo_rl.generate.engines.openai import OpenAIEngine, OpenAIError
from limo_rl.generate.prompts import build_request, sample_seeds
from limo_rl.types import Problem


class _Server:
    """A ThreadingHTTPServer on a free port whose POST handler is ``respond(body) -> (status, json, headers)``."""

    def __init__(self, respond):
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.calls.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                status, payload, headers = respond(self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _ok(text: str, tokens: int, finish: str = "stop") -> dict:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"completion_tokens": tokens}}


def _problems(k: int = 3) -> list[Problem]:
    return [Problem(id=f"o{i}", question=f"What is {i} + 1?", answer=str(i + 1)) for i in range(k)]


def _engine(url: str, **kw) -> OpenAIEngine:
    ocfg = OpenAIConfig(base_url=url, model="teacher", api_key_env="LIMO_TEST_KEY",
                        **{"concurrency": 2, "timeout_s": 5.0, "max_retries": 3, "backoff_s": 0.01, **kw})
    return OpenAIEngine(ocfg, default_model="unused")


def _requests(cfg: GenerateConfig, problems):
    return [build_request(p, cfg) for p in problems], [sample_seeds(0, 1, p.id, cfg.n) for p in problems]


@pytest.mark.slow
def test_served_by_the_tiny_model(tiny_model_dir, monkeypatch):
    from limo_rl.generate.engines.hf import HFEngine

    hf = HFEngine(tiny_model_dir)
    lock = threading.Lock()
    gcfg = GenerateConfig(n=1, temperature=1.0, top_p=1.0)

    def respond(path, body):
        if path != "/v1/chat/completions":
            return 404, {"error": "no route"}, None
        req = build_request(Problem(id="x", question=body["messages"][-1]["content"], answer="0"),
                            gcfg.model_copy(update={"max_new_tokens": body["max_tokens"],
                                                    "temperature": body["temperature"]}))
        with lock:
            c = hf.generate([req], [(body["seed"],)])[0][0]
        return 200, _ok(c.text, c.n_tokens, c.finish_reason), None

    monkeypatch.setenv("LIMO_TEST_KEY", "sk-test")
    cfg = GenerateConfig(n=2, max_new_tokens=6, temperature=1.0)
    reqs, seeds = _requests(cfg, _problems())
    with _Server(respond) as srv:
        eng = _engine(srv.base_url)
        out = eng.generate(reqs, seeds)
        again = eng.generate(reqs, seeds)
        eng.close()
    assert [len(row) for row in out] == [2, 2, 2]
    assert out == again  # seeds travel with each call: reproducible
    assert all(c.engine == "openai" and c.n_tokens <= 6 for row in out for c in row)
    assert all(c.finish_reason == "length" for row in out for c in row if c.n_tokens == 6)
    bodies = [c["body"] for c in srv.calls]
    assert len(bodies) == 12 and all(b["n"] == 1 and b["max_tokens"] == 6 and b["model"] == "teacher"
                                     for b in bodies)
    assert sorted(b["seed"] for b in bodies[:6]) == sorted(s for sd in seeds for s in sd)
    assert {c["auth"] for c in srv.calls} == {"Bearer sk-test"}
    assert [b["messages"] for b in bodies[:6]].count(list(map(dict, reqs[0].messages))) == 2


def test_retries_429_and_503_then_succeeds():
    seen: Counter = Counter()
    lock = threading.Lock()

    def respond(path, body):
        with lock:
            seen[body["seed"]] += 1
            k = seen[body["seed"]]
        if k == 1:
            return 429, {"error": "slow down"}, {"Retry-After": "0"}
        if k == 2:
            return 503, {"error": "overloaded"}, None
        return 200, _ok(f"seed {body['seed']}", 3), None

    cfg = GenerateConfig(n=2)
    reqs, seeds = _requests(cfg, _problems(2))
    with _Server(respond) as srv:
        eng = _engine(srv.base_url)
        out = eng.generate(reqs, seeds)
        eng.close()
    assert [[c.text for c in row] for row in out] == [[f"seed {s}" for s in sd] for sd in seeds]
    assert set(seen.values()) == {3} and len(srv.calls) == 12


def test_gives_up_after_max_retries_with_last_error():
    def respond(path, body):
        return 500, {"error": "boom"}, None

    cfg = GenerateConfig(n=1)
    reqs, seeds = _requests(cfg, _problems(1))
    with _Server(respond) as srv:
        eng = _engine(srv.base_url, max_retries=2)
        with pytest.raises(OpenAIError, match=r"gave up after 3 attempts.*HTTP 500.*boom"):
            eng.generate(reqs, seeds)
        eng.close()
    assert len(srv.calls) == 3


@pytest.mark.parametrize("status,pattern", [(401, r"401 unauthorized.*LIMO_TEST_KEY"),
                                            (404, r"404.*'teacher'.*base_url")])
def test_auth_and_not_found_fail_at_once(status, pattern, monkeypatch):
    monkeypatch.delenv("LIMO_TEST_KEY", raising=False)

    def respond(path, body):
        return status, {"error": {"message": "nope"}}, None

    cfg = GenerateConfig(n=1)
    reqs, seeds = _requests(cfg, _problems(1))
    with _Server(respond) as srv:
        eng = _engine(srv.base_url)
        with pytest.raises(OpenAIError, match=pattern):
            eng.generate(reqs, seeds)
        eng.close()
    assert len(srv.calls) == 1  # never retried
    assert srv.calls[0]["auth"] is None


def test_timeout_is_retried():
    import time as _time

    first = threading.Event()

    def respond(path, body):
        if not first.is_set():
            first.set()
            _time.sleep(1.5)
        return 200, _ok("late but fine", 2), None

    cfg = GenerateConfig(n=1)
    reqs, seeds = _requests(cfg, _problems(1))
    with _Server(respond) as srv:
        eng = _engine(srv.base_url, timeout_s=0.5)
        out = eng.generate(reqs, seeds)
        eng.close()
    assert out[0][0].text == "late but fine" and len(srv.calls) == 2


@pytest.mark.slow
def test_failing_shard_is_reported_and_others_kept(ray_cluster, tmp_path):
    """Through Ray: problem o1 always fails; its shard is retried max_shard_retries times, then named."""
    attempts: Counter = Counter()
    lock = threading.Lock()

    def respond(path, body):
        q = body["messages"][-1]["content"]
        with lock:
            attempts[q] += 1
        if q == "What is 1 + 1?":
            return 500, {"error": "teacher crashed on this one"}, None
        return 200, _ok(f"answer to {q}", 4), None

    problems = _problems(3)
    with _Server(respond) as srv:
        cfg = GenerateConfig(engine="openai", n=2, shard_size=1, num_actors=2, max_shard_retries=1,
                             openai={"base_url": srv.base_url, "max_retries": 0, "concurrency": 2})
        with pytest.raises(GenerationError) as info:
            run_generation(problems, cfg, "teacher", tmp_path, teacher_name="remote")
    failed = info.value.failed
    assert len(failed) == 1
    (name, error), = failed.items()
    assert name.startswith("shard-00001-") and "teacher crashed on this one" in error
    assert name in str(info.value)
    # first attempt + 1 shard retry; each attempt sends both samples (one fails, the other may too)
    assert 2 <= attempts["What is 1 + 1?"] <= 4
    chains = read_chains(tmp_path / "chains")
    assert sorted({c.problem_id for c in chains}) == ["o0", "o2"] and len(chains) == 4
    assert all(c.engine == "openai" and c.teacher == "remote" for c in chains)
