"""Bootstrap the toy teacher, and resolve ``toy://teacher`` / ``toy://base`` to cached model folders.

The teacher is a tiny Qwen2 pretrained (plain SFT, :mod:`limo_rl.toy.lm`) on a corpus of
mixed quality (:data:`limo_rl.toy.chains.CORPUS_MIX`: bare answers, step-by-step chains,
real and hollow checks, planted slips), so that it imitates every style, good and bad: an
honest stand-in for a pretrained teacher whose samples are worth filtering. Two phases:

1. ``bootstrap_steps`` from a random init on that corpus (it learns the procedures);
2. ``continue_steps`` on fresh problems where bare answers are the most common style
   (:data:`CONTINUE_MIX`, 55%).

After phase 2 the teacher's greedy reply is a bare answer, which a model this small rarely
gets right (toy_eval greedy pass@1 about 0.02), while about half of its samples at T=0.8 still
write the steps (pass@8 about 0.3): it knows more than it shows, the gap LIMO's hypothesis and
self-distillation live on. Measured on toy_dev (500 problems): SFT on 100 gold chains (3
epochs, lr 1e-4) lifts greedy pass@1 from 0.02 to 0.16; the same 300 steps of phase 2 on the
first corpus's mix instead give a teacher whose greedy reply already writes steps (0.32) and
that 400 gold chains barely move (+0.6 points): no headroom for a selection to show.

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

from limo_rl.config import ToyConfig
from limo_rl.run.artifacts import atomic_output, atomic_write_json, hash_obj
from limo_rl.toy import lm
from limo_rl.toy.chains import CORPUS_MIX, STYLES, corpus_examples, write_chain
from limo_rl.toy.model import make_tiny_model
from limo_rl.toy.problems import dev_problems, make_problems
from limo_rl.types import LIMO_SYSTEM_PROMPT

log = logging.getLogger(__name__)

WORLD_VERSION = "toy-world-2"
TOY_SCHEME = "toy://"
TOY_MODELS = ("teacher", "base", "random", "base_steps")
INFO_FILE = "limo_toy.json"
# The teacher's architecture: big enough to learn column arithmetic, small enough for minutes on a CPU.
TEACHER_ARCH = {"hidden_size": 128, "num_layers": 2, "num_heads": 4, "vocab_size": 768}
BOOTSTRAP_BATCH = 32
BOOTSTRAP_LR = 3e-3
CONTINUE_LR = 1e-3
CONTINUE_SEED = 123_457  # the continued-pretraining problems' stream (disjoint from the first corpus's)
# Phase 2's corpus: bare answers become the single most common style (55%), the other styles keep their shares
# of the rest. The teacher's greedy reply is then a bare answer (rarely right) while its samples still write
# steps about half the time: it knows more than it shows, and a few hundred step-by-step chains flip its habit.
CONTINUE_TERSE = 0.55
CONTINUE_MIX = {"terse": CONTINUE_TERSE, **{s: w * (1 - CONTINUE_TERSE) / (1 - CORPUS_MIX["terse"])
                                            for s, w in CORPUS_MIX.items() if s != "terse"}}
# toy://base_steps: the teacher continued on fresh problems where no chain is a bare answer (every other style in
# CORPUS_MIX's proportions), so its greedy reply writes steps: the second base of the finding (issue 28), on which a
# set that writes steps no longer wins by flipping a bare-answer habit. Measured (seed 0, 200 toy_dev problems, greedy):
# it writes steps in 100% of its replies and scores 0.29, the teacher 8% and 0.03; 150 steps took 1,447 s at
# load 33 on 2 cores (about 1 s a step on a quiet machine). Beware: the docstring above found that a teacher whose
# greedy reply writes steps (0.32) barely moves under 400 gold chains; pilot the headroom before the finding.
STEPS_MIX = {s: w / (1 - CORPUS_MIX["terse"]) for s, w in CORPUS_MIX.items() if s != "terse"}
STEPS_BASE_STEPS = 150
STEPS_BASE_SEED = 331_013  # its corpus's problem stream (disjoint from the first corpus's and phase 2's streams)
HEADROOM_K, HEADROOM_T = 8, 0.8  # the teacher's info records pass@8 at T=0.8 beside greedy pass@1: its headroom
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


def continue_corpus(toy: ToyConfig) -> list:
    """The continued-pretraining corpus: fresh problems (about 4 visits each) in :data:`CONTINUE_MIX`'s styles."""
    n = toy.continue_steps * BOOTSTRAP_BATCH // 4 + 100
    problems = make_problems(n, seed=toy.seed * 1_000 + CONTINUE_SEED, difficulty=toy.difficulty)
    return corpus_examples(problems, seed=toy.seed + 1, mix=CONTINUE_MIX)


def bootstrap_teacher(out_dir: str | Path, toy: ToyConfig | None = None, *, eval_n: int = 100,
                      pretrained: str | Path | None = None) -> dict:
    """Pretrain a tiny teacher into ``out_dir`` (atomically); returns its info (greedy pass@1 and pass@8 at
    T=0.8 on ``eval_n`` toy_dev problems: a model's metadata never scores the test sets; timings).

    Two phases: ``bootstrap_steps`` from a random init (peak lr 3e-3), then ``continue_steps`` on fresh problems
    where bare answers are the most common style (:data:`CONTINUE_MIX`, peak lr 1e-3). ``pretrained``: a folder holding phase 1's output for this config
    (an earlier bootstrap's), so only phase 2 runs. Deterministic under ``toy.seed`` (single-threaded CPU): the
    corpora, the tokenizer, the init and the batch order all derive from it.
    """
    toy = toy or ToyConfig()
    t0 = time.perf_counter()
    out = Path(out_dir)
    phases = []
    with atomic_output(out) as tmp, tempfile.TemporaryDirectory(prefix="limo-toy-init-") as scratch:
        first = Path(pretrained) if pretrained else Path(scratch) / "phase1"
        if not pretrained:
            problems = make_problems(toy.corpus_size, seed=_corpus_seed(toy), difficulty=toy.difficulty)
            init_dir = make_tiny_model(Path(scratch) / "init", seed=toy.seed, tokenizer_corpus=tokenizer_corpus(toy),
                                       **TEACHER_ARCH)
            model, tok, stats = lm.sft(
                init_dir, corpus_examples(problems, seed=toy.seed), tmp if not toy.continue_steps else first,
                steps=toy.bootstrap_steps, batch_size=BOOTSTRAP_BATCH, learning_rate=BOOTSTRAP_LR,
                warmup_steps=min(30, max(1, toy.bootstrap_steps // 10)), seed=toy.seed,
            )
            phases.append({"phase": "pretrain", "steps": stats.steps, "final_loss": round(stats.final_loss, 4),
                           "train_tokens": stats.tokens, "wall_s": round(stats.wall_s, 1)})
        else:
            phases.append({"phase": "pretrain", "steps": toy.bootstrap_steps, "reused": str(first)})
        if toy.continue_steps:
            model, tok, stats = lm.sft(first, continue_corpus(toy), tmp, steps=toy.continue_steps,
                                       batch_size=BOOTSTRAP_BATCH, learning_rate=CONTINUE_LR, warmup_steps=10,
                                       seed=toy.seed)
            phases.append({"phase": "continue", "steps": stats.steps, "final_loss": round(stats.final_loss, 4),
                           "train_tokens": stats.tokens, "wall_s": round(stats.wall_s, 1)})
        elif pretrained:
            model, tok = lm.load(first)
            shutil.copytree(first, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*", INFO_FILE))
        _set_generation_defaults(tmp, tok)
        acc = pass_k = None
        if eval_n:
            problems = dev_problems(eval_n, difficulty=toy.difficulty, short_ok=True)
            acc, _ = lm.pass_at_1(model, tok, problems)
            pass_k = lm.pass_at_k(model, tok, problems, k=HEADROOM_K, temperature=HEADROOM_T, seed=toy.seed)
        info = {
            "kind": "toy-teacher", "world": WORLD_VERSION, "config": toy.model_dump(), "arch": TEACHER_ARCH,
            "steps": toy.bootstrap_steps + toy.continue_steps, "phases": phases,
            "final_loss": phases[-1].get("final_loss"), "wall_s": round(time.perf_counter() - t0, 1),
            "toy_dev_pass@1": acc, f"toy_dev_pass@{HEADROOM_K}_T{HEADROOM_T}": pass_k,
            "toy_dev_n": len(problems) if eval_n else 0,
        }
        atomic_write_json(tmp / INFO_FILE, info)
    log.info("toy teacher written to %s: greedy pass@1 %s, pass@%d %s on %d toy_dev problems, %.0f s", out, acc,
             HEADROOM_K, pass_k, info["toy_dev_n"], info["wall_s"])
    return info


def _writes_steps(text: str) -> bool:
    """At least two lines of work besides the boxed answer (limo_rl.select.controls.writes_steps's rule)."""
    return sum(1 for ln in text.splitlines() if ln.strip() and "\\boxed" not in ln) >= 2


def steps_corpus(toy: ToyConfig, steps: int = STEPS_BASE_STEPS) -> list:
    """toy://base_steps's corpus: fresh problems (about 4 visits each) in :data:`STEPS_MIX`'s styles."""
    n = steps * BOOTSTRAP_BATCH // 4 + 100
    problems = make_problems(n, seed=toy.seed * 1_000 + STEPS_BASE_SEED, difficulty=toy.difficulty)
    return corpus_examples(problems, seed=toy.seed + 2, mix=STEPS_MIX)


def build_steps_base(out_dir: str | Path, teacher: str | Path, toy: ToyConfig | None = None, *,
                     steps: int = STEPS_BASE_STEPS, eval_n: int = 100) -> dict:
    """toy://base_steps into ``out_dir`` (atomically): ``teacher`` continued ``steps`` steps on
    :func:`steps_corpus` (peak lr :data:`CONTINUE_LR`), so its greedy reply writes steps. Returns its info
    (greedy pass@1 and the share of greedy replies that write steps, on ``eval_n`` toy_dev problems)."""
    toy = toy or ToyConfig()
    t0 = time.perf_counter()
    with atomic_output(Path(out_dir)) as tmp:
        model, tok, stats = lm.sft(teacher, steps_corpus(toy, steps), tmp, steps=steps, batch_size=BOOTSTRAP_BATCH,
                                   learning_rate=CONTINUE_LR, warmup_steps=min(10, steps), seed=toy.seed)
        _set_generation_defaults(tmp, tok)
        acc = steps_share = None
        if eval_n:
            problems = dev_problems(eval_n, difficulty=toy.difficulty, short_ok=True)
            acc, outputs = lm.pass_at_1(model, tok, problems)
            steps_share = round(sum(_writes_steps(o[0]) for o in outputs) / max(len(outputs), 1), 4)
        info = {"kind": "toy-base-steps", "world": WORLD_VERSION, "config": toy.model_dump(), "arch": TEACHER_ARCH,
                "continued_from": str(teacher), "phases": [{"phase": "steps", "steps": stats.steps,
                                                           "final_loss": round(stats.final_loss, 4),
                                                           "wall_s": round(stats.wall_s, 1)}],
                "wall_s": round(time.perf_counter() - t0, 1), "toy_dev_pass@1": acc,
                "toy_dev_greedy_writes_steps": steps_share, "toy_dev_n": len(problems) if eval_n else 0}
        atomic_write_json(tmp / INFO_FILE, info)
    log.info("toy base_steps written to %s: greedy pass@1 %s on %d toy_dev problems, %.0f s", out_dir, acc,
             info["toy_dev_n"], info["wall_s"])
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
    """``toy://teacher`` | ``toy://base`` | ``toy://random`` | ``toy://base_steps`` -> a model folder under
    ``cache_dir``, built once (``base_steps``: :func:`build_steps_base`, about 150 CPU-seconds at 1 s a step).

    A path that is not a ``toy://`` URI is returned unchanged, so callers may pass any model name through.
    ``eval_n``: toy_dev problems a new model is scored on (recorded in its ``limo_toy.json``).
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
        elif name == "base_steps":
            teacher = resolve_toy_model("toy://teacher", cache, toy, eval_n=eval_n)
            build_steps_base(path, teacher, toy, eval_n=eval_n)
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
    It spares every quickstart and CI run the ~20 CPU-minutes of pretraining."""
    with atomic_output(path) as tmp:
        shutil.copytree(src, tmp)
        info = json.loads((tmp / INFO_FILE).read_text())
        atomic_write_json(tmp / INFO_FILE, {**info, "source": f"shipped with limo_rl ({src.name})"})
    log.info("toy teacher %s: the pretrained copy shipped with limo_rl", path.name)


def _random_model(path: Path, toy: ToyConfig) -> None:
    with atomic_output(path) as tmp:
        make_tiny_model(tmp, seed=toy.seed, tokenizer_corpus=tokenizer_corpus(toy), **TEACHER_ARCH)
        atomic_write_json(tmp / INFO_FILE, {"kind": "toy-random", "world": WORLD_VERSION, "config": toy.model_dump()})
