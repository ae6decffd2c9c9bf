"""Bootstrap the toy teacher, and resolve ``toy://teacher`` / ``toy://base`` to cached model folders.

The teacher is a tiny Qwen2 pretrained (plain SFT, :mod:`limo_rl.toy.lm`) on a corpus of
mixed quality (:data:`limo_rl.toy.chains.CORPUS_MIX`: bare answers, step-by-step chains,
real and hollow checks, planted slips), so that it imitates every style, good and bad, and
lands at a middling pass@1: an honest stand-in for a pretrained teacher whose samples are
worth filtering. Because it learned a mixture, its greedy answer is the mixture's mode while
its samples cover the other styles too: it knows more than it shows (pass@k at the loop's k
well above greedy pass@1), the gap self-distillation lives on.

``toy://base``, the student the loop trains, is the teacher itself (a separate copy). This
is the ReST-EM / STaR setting (Singh et al. 2023, "Beyond Human Data"; Zelikman et al.
2022): in round 1 the model that samples is the model fine-tuned on its own filtered
samples, so "does selection raise pass@1 above the teacher?" has a clean answer, and the
static gold-817 arm starts from the same weights. A weaker base (fewer bootstrap steps)
would mix "how much does SFT teach from scratch" into the comparison.

Both are built once per configuration (the cache key is a hash of the :class:`ToyConfig`
and the world's version), written atomically, and guarded by a file lock so two processes
asking at once build it once.

Adapter module: torch is imported lazily (through :mod:`limo_rl.toy.lm`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from limo_rl.artifacts import atomic_output, atomic_write_json, hash_obj
from limo_rl.config import ToyConfig
from limo_rl.toy import lm
from limo_rl.toy.chains import STYLES, corpus_examples, write_chain
from limo_rl.toy.model import make_tiny_model
from limo_rl.toy.problems import eval_problems, make_problems
from limo_rl.types import LIMO_SYSTEM_PROMPT

log = logging.getLogger(__name__)

WORLD_VERSION = "toy-world-2"
TOY_SCHEME = "toy://"
TOY_MODELS = ("teacher", "base", "random")
INFO_FILE = "limo_toy.json"
# The teacher's architecture: big enough to learn column arithmetic, small enough for minutes on a CPU.
TEACHER_ARCH = {"hidden_size": 128, "num_layers": 2, "num_heads": 4, "vocab_size": 768}
BOOTSTRAP_BATCH = 32
BOOTSTRAP_LR = 3e-3
# Teachers bootstrapped ahead of time, one folder per cache key (see _copy_pretrained).
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def _corpus_seed(toy: ToyConfig) -> int:
    return toy.seed * 1_000 + 17


def tokenizer_corpus(toy: ToyConfig, n: int = 200) -> list[str]:
    """Text the toy tokenizer learns its merges from: chains of every style and the chat prompt's words."""
    problems = make_problems(n, seed=_corpus_seed(toy), difficulty=toy.difficulty)
    chains = [write_chain(p, s, toy.seed)[0] for p in problems for s in STYLES]
    prompts = [f"system\n{LIMO_SYSTEM_PROMPT}\nuser\n{p.question}\nassistant\n" for p in problems]
    return chains + prompts


def bootstrap_teacher(out_dir: str | Path, toy: ToyConfig | None = None, *, eval_n: int = 100) -> dict:
    """Pretrain a tiny teacher into ``out_dir`` (atomically); returns its info (pass@1 on toy_eval, timings).

    Deterministic under ``toy.seed``: the corpus, the tokenizer, the init and the batch order all derive from it.
    """
    toy = toy or ToyConfig()
    t0 = time.perf_counter()
    problems = make_problems(toy.corpus_size, seed=_corpus_seed(toy), difficulty=toy.difficulty)
    corpus = corpus_examples(problems, seed=toy.seed)
    tok_text = tokenizer_corpus(toy)
    out = Path(out_dir)
    with atomic_output(out) as tmp, tempfile.TemporaryDirectory(prefix="limo-toy-init-") as init:
        init_dir = make_tiny_model(Path(init) / "model", seed=toy.seed, tokenizer_corpus=tok_text, **TEACHER_ARCH)
        model, tok, stats = lm.sft(
            init_dir, corpus, tmp, steps=toy.bootstrap_steps, batch_size=BOOTSTRAP_BATCH,
            learning_rate=BOOTSTRAP_LR, warmup_steps=min(30, max(1, toy.bootstrap_steps // 10)), seed=toy.seed,
        )
        _set_generation_defaults(tmp, tok)
        acc = None
        if eval_n:
            acc, _ = lm.pass_at_1(model, tok, eval_problems(eval_n, difficulty=toy.difficulty))
        info = {
            "kind": "toy-teacher", "world": WORLD_VERSION, "config": toy.model_dump(), "arch": TEACHER_ARCH,
            "steps": stats.steps, "final_loss": round(stats.final_loss, 4), "train_tokens": stats.tokens,
            "tokens_per_s": round(stats.tokens_per_s, 1), "wall_s": round(time.perf_counter() - t0, 1),
            "toy_eval_pass@1": acc, "toy_eval_n": eval_n,
        }
        atomic_write_json(tmp / INFO_FILE, info)
    log.info("toy teacher written to %s: pass@1 %s on %d toy_eval problems, %.0f s", out, acc, eval_n, info["wall_s"])
    return info


def _set_generation_defaults(model_dir: Path, tok) -> None:
    """Stop at ``<|im_end|>`` and pad with ``<|pad|>`` whatever engine loads the model."""
    from transformers import GenerationConfig

    gen = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                           bos_token_id=tok.bos_token_id, max_new_tokens=256)
    gen.save_pretrained(model_dir)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def toy_model_key(name: str, toy: ToyConfig) -> str:
    """The cache key of a toy model: its name, the world version and every ToyConfig field."""
    return f"{name}-{hash_obj({'world': WORLD_VERSION, 'name': name, 'toy': toy.model_dump()})[:12]}"


def _complete(path: Path) -> bool:
    return (path / INFO_FILE).is_file() and (path / "config.json").is_file()


def resolve_toy_model(uri: str, cache_dir: str | Path, toy: ToyConfig | None = None, *, eval_n: int = 100) -> Path:
    """``toy://teacher`` | ``toy://base`` | ``toy://random`` -> a model folder under ``cache_dir``, built once.

    A path that is not a ``toy://`` URI is returned unchanged, so callers may pass any model name through.
    ``eval_n``: toy_eval problems the new teacher is scored on (recorded in its ``limo_toy.json``).
    """
    if not uri.startswith(TOY_SCHEME):
        return Path(uri)
    name = uri[len(TOY_SCHEME):].strip("/")
    if name not in TOY_MODELS:
        raise ValueError(f"unknown toy model {uri!r}; known: {', '.join(TOY_SCHEME + m for m in TOY_MODELS)}")
    toy = toy or ToyConfig()
    cache = Path(cache_dir)
    path = cache / toy_model_key(name, toy)
    if _complete(path):
        return path
    with _locked(cache / f".{path.name}.lock"):
        if _complete(path):  # another process built it while we waited
            return path
        if name == "teacher" and (PRETRAINED_DIR / path.name / INFO_FILE).is_file():
            _copy_pretrained(PRETRAINED_DIR / path.name, path)
        elif name == "teacher":
            bootstrap_teacher(path, toy, eval_n=eval_n)
        elif name == "base":
            teacher = resolve_toy_model("toy://teacher", cache, toy, eval_n=eval_n)
            with atomic_output(path) as tmp:
                shutil.copytree(teacher, tmp, ignore=shutil.ignore_patterns(".*"))
                info = json.loads((tmp / INFO_FILE).read_text())
                atomic_write_json(tmp / INFO_FILE, {**info, "kind": "toy-base", "copied_from": str(teacher)})
        else:
            _random_model(path, toy)
    return path


def _copy_pretrained(src: Path, path: Path) -> None:
    """The default teacher ships with the package (2.4 MB), bootstrapped by :func:`bootstrap_teacher` under
    its recorded config; ``limo-rl toy bootstrap --out DIR`` rebuilds it (deterministic under the seed).
    It spares every quickstart and CI run the ~8 CPU-minutes of pretraining."""
    with atomic_output(path) as tmp:
        shutil.copytree(src, tmp)
        info = json.loads((tmp / INFO_FILE).read_text())
        atomic_write_json(tmp / INFO_FILE, {**info, "source": f"shipped with limo_rl ({src.name})"})
    log.info("toy teacher %s: the pretrained copy shipped with limo_rl", path.name)


def _random_model(path: Path, toy: ToyConfig) -> None:
    with atomic_output(path) as tmp:
        make_tiny_model(tmp, seed=toy.seed, tokenizer_corpus=tokenizer_corpus(toy), **TEACHER_ARCH)
        atomic_write_json(tmp / INFO_FILE, {"kind": "toy-random", "world": WORLD_VERSION, "config": toy.model_dump()})
