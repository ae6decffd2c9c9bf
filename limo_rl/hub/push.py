"""``limo-rl push``: upload a run's student or SFT set to the Hugging Face Hub, card included.

What is pushed is a folder the run already made Hub-ready (a student's ``model/`` with its
``README.md``; an SFT set's folder with its parquet file and its ``README.md``), so what a
user inspects locally is exactly what lands on the Hub. The token comes from the environment
(``HF_TOKEN``, as ``huggingface_hub`` reads it), never from a file of ours or a flag.
``--dry-run`` prints the plan and touches nothing. Only :func:`hf_api` talks to the Hub.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from limo_rl.hub.cards import CARD, PARQUET, read_card
from limo_rl.run.hashing import STALE_PREFIX
from limo_rl.run.layout import CONFIG, DIFFICULTY, MODEL, SELECT, STAGE_STATS, TRAIN, RunLayout, stage_dir

log = logging.getLogger(__name__)
TOKEN_ENVS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
# never pushed: stage records, hidden files, trainer state, and work a stage set aside (stale-*/, not the set)
IGNORE = ["_STAGE_*", ".*", "**/.*", "training_args.bin", DIFFICULTY, STAGE_STATS, f"{STALE_PREFIX}*",
          f"**/{STALE_PREFIX}*"]
_REPO = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}")


class PushError(ValueError):
    """The run, the item or the repo cannot be pushed; the message says which and why."""


@dataclass(frozen=True)
class PushPlan:
    folder: Path
    repo_id: str
    repo_type: str  # "model" | "dataset"
    files: list[str]
    card: dict[str, Any]


def find_item(run_dir: Path, item: str | None, dataset: bool) -> Path:
    """The folder to push: ``item`` (relative to the run), else the last loop round's student or SFT set."""
    layout = RunLayout(run_dir)
    if not layout.is_run():
        raise PushError(f"{run_dir}: not a limo-rl run directory (no {CONFIG})")
    if item:
        folder = run_dir / item
        if folder.is_dir() and (folder / MODEL / "config.json").is_file():
            folder = folder / MODEL  # a train stage folder: its student
        if not folder.is_dir():
            raise PushError(f"{run_dir}: no folder {item}")
        return folder
    for seed in layout.seeds():
        for rnd in reversed(layout.rounds(seed)):
            rd = layout.round_dir(seed, rnd)
            folder = stage_dir(rd, SELECT) if dataset else stage_dir(rd, TRAIN) / MODEL
            if (folder / (PARQUET if dataset else "config.json")).is_file():
                return folder
    what = "SFT set" if dataset else "trained student"
    raise PushError(f"{run_dir}: no {what} of the loop arm yet (give one with --item, e.g. seed0/static/train)")


def plan_push(run_dir: str | Path, repo_id: str, *, item: str | None = None, dataset: bool = False,
              license: str | None = None) -> PushPlan:
    run_dir = Path(run_dir)
    if not _REPO.fullmatch(repo_id):
        raise PushError(f"--to {repo_id!r}: expected a Hub repo id like your-name/limo-student")
    folder = find_item(run_dir, item, dataset)
    if (folder / "config.json").is_file():
        repo_type = "model"
    elif (folder / PARQUET).is_file():
        repo_type = "dataset"
    else:
        raise PushError(f"{folder}: neither a model folder (config.json) nor an SFT set with {PARQUET}; "
                        "finish the run (cards and parquet are written as its stages end)")
    if not (folder / CARD).is_file():
        raise PushError(f"{folder}: no {CARD} card; rerun `limo-rl run` on the recipe to write it")
    card, body = read_card(folder / CARD)
    if license:
        card["license"] = license
        (folder / CARD).write_text("---\n" + yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=100)
                                   + "---\n" + body)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                   and not _ignored(p.relative_to(folder)))
    return PushPlan(folder, repo_id, repo_type, files, card)


def _ignored(rel: Path) -> bool:
    import fnmatch

    return any(fnmatch.fnmatch(str(rel), pat) or fnmatch.fnmatch(rel.name, pat) for pat in IGNORE)


def hub_token(env: dict[str, str] | None = None) -> str | None:
    env = dict(os.environ if env is None else env)
    return next((env[k] for k in TOKEN_ENVS if env.get(k)), None)


def hf_api(token: str) -> Any:
    """The one place that talks to the Hub."""
    from huggingface_hub import HfApi

    return HfApi(token=token)


def push(plan: PushPlan, *, private: bool = True, api: Any = None, token: str | None = None) -> str:
    """Create the repo (if needed) and upload the folder in one commit; returns the repo URL."""
    if api is None:
        token = token or hub_token()
        if not token:
            raise PushError(f"no Hugging Face token: set {TOKEN_ENVS[0]} to a write token "
                            "(https://huggingface.co/settings/tokens), or use --dry-run")
        api = hf_api(token)
    url = api.create_repo(plan.repo_id, repo_type=plan.repo_type, private=private, exist_ok=True)
    api.upload_folder(repo_id=plan.repo_id, folder_path=str(plan.folder), repo_type=plan.repo_type,
                      ignore_patterns=IGNORE, commit_message=f"limo_rl: {plan.folder.name} from run "
                      f"{(plan.card.get('limo_rl') or {}).get('provenance', {}).get('run', '?')}")
    log.info("pushed %s to %s (%s)", plan.folder, plan.repo_id, plan.repo_type)
    return str(url)
