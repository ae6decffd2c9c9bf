"""``limo-rl clean RUN_DIR``: remove what a run set aside and end what a killed driver left running.

Only things the run folder itself records are touched: the set-aside folders of the stage cache's one
naming (:func:`limo_rl.run.stagecache.set_aside`: ``stale-<hash>-<time>/``, whole stages and, inside a stage,
shards and verdicts files), those the manifest lists under ``set_aside`` that lie inside the run folder and
any other inside it that holds its ``_SET_ASIDE.json`` record; what runs made before that naming set aside
(``chains/.stale/``, ``verdicts/.stale/``, ``.verdicts.jsonl.untrusted-*`` / ``.stale-*`` / ``.damaged-*``);
and the processes of the private Ray cluster recorded in ``<run>/.ray-cluster.json`` by a driver that is gone
(each checked by pid *and* start time). It takes the run's lock first, so it never cleans under a live writer.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from limo_rl.run.artifacts import Manifest
from limo_rl.run.layout import MANIFEST
from limo_rl.run.lock import run_lock
from limo_rl.run.stagecache import STALE_PREFIX, is_set_aside
from limo_rl.runtime.raysession import end_orphan_cluster

log = logging.getLogger(__name__)


@dataclass
class CleanReport:
    removed: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    killed: list[int] = field(default_factory=list)


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


# what runs made before the one naming set aside inside their stage folders
_LEGACY_DIR = ".stale"
_LEGACY_FILE = re.compile(r"^\.verdicts\.jsonl\.(untrusted|stale|damaged)-\d+$")


def shard_set_asides(run_dir: Path) -> list[Path]:
    """Set-aside work the manifest does not list: every ``stale-*`` folder with its record (what stages set
    aside inside their own folders, or a command outside ``limo-rl run``), and the legacy namings."""
    found = []
    for dirpath, dirnames, filenames in os.walk(run_dir):  # never follows links
        here = Path(dirpath)
        found += [here / d for d in dirnames if is_set_aside(here / d)]
        if _LEGACY_DIR in dirnames:
            found.append(here / _LEGACY_DIR)
        dirnames[:] = [d for d in dirnames if not d.startswith(STALE_PREFIX) and d != _LEGACY_DIR]
        found += [here / f for f in filenames if _LEGACY_FILE.match(f)]
    return sorted(found)


def clean_run(run_dir: str | Path, *, dry_run: bool = False, set_aside: bool = True,
              clusters: bool = True) -> CleanReport:
    run_dir = Path(run_dir)
    report = CleanReport()
    with run_lock(run_dir, ["limo-rl", "clean", str(run_dir)]):
        if clusters and not dry_run:
            report.killed = end_orphan_cluster(run_dir)
        if not set_aside:
            return report
        manifest = Manifest(run_dir / MANIFEST)
        root = run_dir.resolve()
        kept = []
        for entry in manifest.data.get("set_aside") or []:
            path = Path(entry.get("path", ""))
            if not path.exists():
                continue
            if not (path.resolve().is_relative_to(root) and path.name.startswith(STALE_PREFIX)):
                kept.append(entry)  # listed, but not a stage-cache folder of this run: not ours to delete
                continue
            report.removed.append(str(path))
            report.freed_bytes += _size(path)
            if dry_run:
                kept.append(entry)
            else:
                shutil.rmtree(path)
        listed = {Path(p).resolve() for p in report.removed}
        for path in shard_set_asides(run_dir):
            if path.resolve() in listed or not path.exists():  # a listed one: counted (and removed) above
                continue
            report.removed.append(str(path))
            report.freed_bytes += _size(path) if path.is_dir() else path.stat().st_size
            if not dry_run:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        if not dry_run:
            manifest.data["set_aside"] = kept
            manifest.save()
    return report
