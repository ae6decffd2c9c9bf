"""Progress bars for long stages, and the one switch that silences them.

``limo-rl --quiet`` (or ``LIMO_RL_QUIET=1``) turns every bar off, in the driver and in
Ray workers alike, since the environment variable travels with them.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

QUIET_ENV = "LIMO_RL_QUIET"


def set_quiet(quiet: bool) -> None:
    if quiet:
        os.environ[QUIET_ENV] = "1"
    else:
        os.environ.pop(QUIET_ENV, None)


def is_quiet() -> bool:
    return os.environ.get(QUIET_ENV, "") not in ("", "0", "false")


def bar(total: int | None = None, desc: str = "", unit: str = "it", **kwargs: Any):
    """A tqdm bar on stderr, disabled when quiet."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=is_quiet(), file=sys.stderr, dynamic_ncols=True, **kwargs)


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 0 else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("limo_rl").setLevel(level)
