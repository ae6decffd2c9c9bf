"""Entry point of one symbolic worker process: ``python -m limo_rl.verify._worker MEMORY_MB``.

Kept apart from :mod:`limo_rl.verify.sandbox` so that running it as ``__main__`` never
re-executes a module the package has already imported. The protocol is pickled messages
over stdin/stdout (see ``sandbox._worker_main``); stray prints go to stderr.
"""

from __future__ import annotations

import os
import sys
from multiprocessing.connection import Connection

from limo_rl.procs import die_with_parent

if __name__ == "__main__":
    die_with_parent()  # killed with the grader that started us, even by SIGKILL (no orphan at 100% CPU)

from limo_rl.verify.sandbox import _worker_main  # noqa: E402 - after the watchdog: importing takes seconds

if __name__ == "__main__":
    _in = Connection(os.dup(0), writable=False)
    _out = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # stray prints go to stderr, never into the protocol pipe
    _worker_main(_in, _out, int(sys.argv[1]) if len(sys.argv) > 1 else 1024)
