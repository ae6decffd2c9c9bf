"""``limo-rl grade``: grade a JSONL file of (output, gold) pairs, or run a recipe up to the verify stage.

Ad hoc mode reads every input line first and stops with exit code 2, naming the line and
field, if any line is malformed, so nothing is graded from a half-valid file. Each output
line is the input row (all fields kept) plus the verdict fields; a summary (accuracy,
counts by status, throughput) goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path

from limo_rl.console.cliargs import AdHoc, FileFlag, Knob
from limo_rl.data.io import DataError, iter_objects
from limo_rl.errors import UsageError
from limo_rl.run.artifacts import atomic_write_jsonl, writable_problem
from limo_rl.verify.grade import Grader, grader_id

log = logging.getLogger(__name__)
ANSWER_TYPES = ("auto", "number", "expression", "choice", "approx")
MODES = ("limo_rl", "math_verify")


class GradeInputError(UsageError):
    """A bad input file or option: exit code 2 with the message."""


ADHOC = AdHoc(
    "grade",
    files=(FileFlag("--out", "OUT.jsonl", "output JSONL (ad hoc mode)"),),
    knobs=(Knob("verify.workers", kwargs={"help": "symbolic worker processes (default 2)"}),
           Knob("verify.timeout_s", "--timeout", {"help": "seconds per symbolic check (default 5)"}),
           Knob("verify.memory_mb", kwargs={"help": "address-space cap per worker (default 1024)"}),
           Knob("verify.answer_type", kwargs={"help": "default answer type (approx: the gold is a rounded decimal; "
                                              "accept values that round to it)"}),
           Knob("verify.mode", kwargs={"help": "grader: limo_rl (default; sound, structure-aware) or math_verify "
                                       "(plain math-verify semantics)"})),
    sections=("verify",),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "grade", help="grade model outputs against gold answers (JSONL), or run a recipe up to verify",
        description="Grade INPUT.jsonl (fields: output, gold; optional id, answer_type, n_tokens, "
        "finish_reason; others kept) into OUT.jsonl. With a recipe YAML instead, run the recipe up to the verify stage.",
        epilog="example: limo-rl grade outputs.jsonl --out graded.jsonl --workers 2 --timeout 5",
    )
    p.add_argument("input", help="INPUT.jsonl, or a recipe .yaml")
    p.add_argument("overrides", nargs="*", default=[], metavar="KEY=VALUE",
                   help="dotted overrides: of the recipe, or verify.* settings when grading a JSONL file")
    ADHOC.add_flags(p, title=None)
    p.set_defaults(func=_adhoc, stage="verify", recipe_mode=_recipe_mode)


def _load_rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise GradeInputError(f"{path}: input file not found")
    rows = []
    try:
        for n, row in iter_objects(path):
            for key in ("output", "gold"):
                if key not in row:
                    raise GradeInputError(f"{path}:{n}: missing field {key!r}")
                if not isinstance(row[key], (str, int, float)) or isinstance(row[key], bool):
                    raise GradeInputError(f"{path}:{n}: field {key!r} must be a string, got {type(row[key]).__name__}")
            if row.get("answer_type") not in (None, *ANSWER_TYPES):
                raise GradeInputError(f"{path}:{n}: field 'answer_type' must be one of {ANSWER_TYPES}")
            if row.get("finish_reason") is not None and not isinstance(row["finish_reason"], str):
                raise GradeInputError(f"{path}:{n}: field 'finish_reason' must be a string")
            if row.get("n_tokens") is not None and not isinstance(row["n_tokens"], int):
                raise GradeInputError(f"{path}:{n}: field 'n_tokens' must be an integer")
            rows.append(row)
    except DataError as exc:
        raise GradeInputError(str(exc)) from None
    return rows


def _recipe_mode(args: argparse.Namespace) -> bool:
    """A .yaml INPUT is the RECIPE (run up to the verify stage, the one rule); anything else is graded ad hoc."""
    if args.input.endswith((".yaml", ".yml")):
        args.recipe = args.input
        return ADHOC.recipe_mode(args)
    args.recipe = None
    ADHOC.check(args)
    return False


def _adhoc(args: argparse.Namespace) -> int:
    if (problem := writable_problem(args.out)) is not None:  # before grading, not after
        raise GradeInputError(f"--out {problem}")
    rows = _load_rows(Path(args.input))
    cpus = os.cpu_count() or 1
    if args.workers is not None and args.workers > cpus:
        log.warning("--workers %d is more than the %d CPU(s) here; using %d", args.workers, cpus, cpus)
        args.workers = cpus
    cfg = ADHOC.recipe(args).verify
    t0 = time.perf_counter()
    with Grader(cfg) as grader:
        verdicts = grader.grade_many(
            [(str(r["output"]), str(r["gold"]), r.get("answer_type") or cfg.answer_type, r.get("n_tokens"),
              r.get("finish_reason")) for r in rows])
    wall = time.perf_counter() - t0
    atomic_write_jsonl(args.out, [{**r, **v.to_dict()} for r, v in zip(rows, verdicts, strict=True)])
    counts = Counter(v.status for v in verdicts)
    n_ok = sum(v.correct for v in verdicts)
    acc = n_ok / len(verdicts) if verdicts else 0.0
    print(f"graded {len(verdicts)} in {wall:.2f}s ({len(verdicts) / wall if wall > 0 else 0:.1f}/s): "
          f"accuracy {acc:.4f} ({n_ok}/{len(verdicts)}); status "
          + ", ".join(f"{k}={counts.get(k, 0)}" for k in ("ok", "no_answer", "timeout", "error"))
          + f"; grader {grader_id(cfg.mode)}",
          file=sys.stderr)
    return 0
