"""The errors a user can hit, in one leaf module: ``limo-rl`` prints each as one line and exits 2.

Every error whose message is meant for the user (a bad flag, recipe, input row or model name)
subclasses :class:`LimoError`; :func:`limo_rl.cli.main` catches that one class, so a stage raises
its own subclass without importing the CLI (which would import the stage back). Errors that mean
"the computation failed" (a crashed engine, a failed training run) stay ``RuntimeError``s of their
stage; those whose message already says what failed and why (a server answering 401, shards that
kept failing, a disk that filled during training) also subclass :class:`StageFailure`, so the user
gets that message, not a traceback. Imports nothing from limo_rl, so any module may raise these.
"""

from __future__ import annotations


class LimoError(Exception):
    """Base of the user-facing errors: printed as ``limo-rl: error: <message>``, exit code 2, no traceback."""


class UsageError(LimoError):
    """Bad input from the user on the command line (a flag, a missing file)."""


class RecipeError(LimoError, ValueError):
    """A recipe that cannot run. The message is meant for the user, one problem per line."""


class DataError(LimoError, ValueError):
    """A malformed input row; the message names the file, the row (1-based) and the field."""


class ModelURIError(UsageError):
    """A model name no resolver accepts (no such folder, not a hub id, an unknown ``scheme://``)."""


class StageFailure(LimoError, RuntimeError):
    """A stage's computation failed for a reason its message states; finished work is kept for a rerun."""
