"""The console: one live line per stage for people, log files for everything else.

The console is for people (a quickstart used to print ~5,000 lines of libraries' output): each
stage shows one live line (name, arm, round, seed, a bar with ETA, its figures) that becomes
one permanent line when the stage ends; warnings from limo_rl are shown once; the run ends on
its own result. Everything else (limo_rl's INFO log, Ray's and the libraries' loggers, the
stdout/stderr of every Ray worker) goes to ``<run>/logs/``; ``-v`` streams it instead.
``--quiet`` (``LIMO_RL_QUIET=1``) keeps warnings and errors only; when stderr is not a
terminal the live line becomes plain lines (one per stage, plus a heartbeat at least every :data:`HEARTBEAT_S`
with its progress where the stage counts it: what ``ray job logs`` shows of a day-long run).

The switches are environment variables so that they travel into Ray workers with their env.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from limo_rl.console.figures import stage_name, stage_place, summarize

QUIET_ENV = "LIMO_RL_QUIET"
VERBOSE_ENV = "LIMO_RL_VERBOSE"
LOG_DIR_ENV = "LIMO_RL_LOG_DIR"
HEARTBEAT_S = 60.0  # plain mode: a progress line this often while a stage runs
_TAG = "_limo_rl_handler"


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false")


def set_quiet(quiet: bool) -> None:
    if quiet:
        os.environ[QUIET_ENV] = "1"
    else:
        os.environ.pop(QUIET_ENV, None)


def is_quiet() -> bool:
    return _flag(QUIET_ENV)


def is_verbose() -> bool:
    return _flag(VERBOSE_ENV)


# ---------------------------------------------------------------------------------------- logging
class _ConsoleFilter(logging.Filter):
    """limo_rl's warnings, each distinct message once; everything at INFO with -v."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if is_verbose():
            return True
        if record.levelno < logging.WARNING or not record.name.startswith("limo_rl"):
            return False
        msg = record.getMessage()
        if msg in self.seen:
            return False
        self.seen.add(msg)
        return True


class _ConsoleHandler(logging.Handler):
    """Writes through the display, so a message never tears the live line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if is_verbose():
                text = f"{time.strftime('%H:%M:%S')} {record.levelname} {record.name}: {record.getMessage()}"
            else:
                text = f"{record.levelname.lower()}: {record.getMessage()}"
            display().line(text, err=True)
        except Exception:  # never let logging raise
            self.handleError(record)


_buffer: logging.handlers.MemoryHandler | None = None
_log_file: Path | None = None


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Console for people, the rest buffered until :func:`attach_log_dir` names the run's ``logs/``."""
    global _buffer
    if verbose:
        os.environ[VERBOSE_ENV] = str(verbose)
    else:
        os.environ.pop(VERBOSE_ENV, None)
    set_quiet(quiet)
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, _TAG, False)]:
        root.removeHandler(h)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    logging.getLogger("limo_rl").setLevel(logging.DEBUG if verbose else logging.INFO)
    console = _ConsoleHandler(level=logging.INFO if verbose else logging.WARNING)
    console.addFilter(_ConsoleFilter())
    _buffer = logging.handlers.MemoryHandler(capacity=100_000, flushLevel=logging.CRITICAL + 1)
    for h in (console, _buffer):
        setattr(h, _TAG, True)
        root.addHandler(h)
    logging.captureWarnings(True)  # library warnings.warn(...) -> the log file, not the console
    quiet_env = {
        "RAY_TRAIN_ENABLE_PRINT_PATCH": "0",  # Ray Train's print patch escapes dill's capture: bytecode floods
        "TOKENIZERS_PARALLELISM": "false",
    }
    if not verbose:
        quiet_env.update({"WANDB_SILENT": "true", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
                          "RAY_DEDUP_LOGS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
                          "HF_HUB_DISABLE_PROGRESS_BARS": "1"})  # transformers' "Loading weights" bars too
    for k, v in quiet_env.items():
        os.environ.setdefault(k, v)
    adopt_library_loggers()


# Libraries that give their root logger its own stderr handler and cut it off from ours.
_SELF_HANDLING = ("transformers", "datasets")


def adopt_library_loggers() -> None:
    """Bring the self-handling libraries' loggers under our policy: all of it to the log file.

    ``transformers`` and ``datasets`` attach a stderr handler to their root logger on import, set it
    to WARNING and stop propagation, so their lines skip our console filter and never reach the run's
    log file. Only libraries already imported are touched (this never imports one); it is called when
    logging is set up, when the log file is attached and as each stage starts.
    """
    level = logging.DEBUG if os.environ.get(VERBOSE_ENV, "0") not in ("", "0", "1") else logging.INFO
    for name in _SELF_HANDLING:
        if f"{name}.utils.logging" not in sys.modules:
            continue
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            if type(h) is logging.StreamHandler:
                lg.removeHandler(h)
        lg.propagate = True
        lg.setLevel(level)
    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS") == "1" and (t := sys.modules.get("transformers.utils.logging")):
        t.disable_progress_bar()  # transformers imported before the env was set


def attach_log_dir(log_dir: str | Path) -> Path:
    """Write the log (and what was buffered before the run folder existed) to ``log_dir/limo_rl.log``."""
    global _log_file
    log_dir = Path(log_dir).resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    os.environ[LOG_DIR_ENV] = str(log_dir)
    path = log_dir / "limo_rl.log"
    root = logging.getLogger()
    if _log_file == path:
        return path
    for h in [h for h in root.handlers if isinstance(h, logging.FileHandler) and getattr(h, _TAG, False)]:
        root.removeHandler(h)
        h.close()
    fh = logging.FileHandler(path, encoding="utf-8")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    setattr(fh, _TAG, True)
    if _buffer is not None:
        _buffer.setTarget(fh)
        _buffer.flush()
        root.removeHandler(_buffer)
    root.addHandler(fh)
    _log_file = path
    adopt_library_loggers()
    return path


def log_dir() -> Path | None:
    value = os.environ.get(LOG_DIR_ENV)
    return Path(value) if value else None


# ---------------------------------------------------------------------------------------- the display
class Bar:
    """Progress within a stage: a count with ETA and live figures (what ``tqdm`` offered the stages)."""

    def __init__(self, disp: Display, total: int | None, unit: str, desc: str):
        self.disp, self.total, self.unit, self.desc = disp, total, unit, desc
        self.n, self.postfix = 0, {}
        self.t0 = self.last_beat = time.monotonic()
        self.task = disp._add_task(self)

    def update(self, n: int = 1) -> None:
        self.n += n
        self.disp._refresh(self)

    def set_postfix(self, **figures: Any) -> None:
        self.postfix.update(figures)
        self.disp._refresh(self)

    def reset(self, total: int | None) -> None:
        self.total, self.n, self.t0 = total, 0, time.monotonic()
        self.disp._refresh(self)

    def eta(self) -> float | None:
        elapsed = time.monotonic() - self.t0
        if not self.total or self.n <= 0 or elapsed <= 0:
            return None
        return (self.total - self.n) * elapsed / self.n

    def text(self) -> str:
        figs = ", ".join(f"{k} {v}" for k, v in self.postfix.items())
        count = f"{self.n:,}/{self.total:,} {self.unit}" if self.total else f"{self.n:,} {self.unit}"
        eta = self.eta()
        return f"{self.desc}: {count}" + (f", ETA {eta:.0f} s" if eta is not None else "") + (
            f", {figs}" if figs else "")

    def close(self) -> None:
        self.disp._remove_task(self)

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Display:
    """One live area (rich, on a terminal) or plain lines; the console's only writer."""

    def __init__(self, stream: Any = None):
        self._stream = stream  # None: whatever sys.stderr is when a line is written (it may be replaced)
        self.live = bool(getattr(self.stream, "isatty", lambda: False)()) and not is_quiet()
        self.lock = threading.RLock()
        self.stage_label = ""
        self._progress: Any = None
        self._console: Any = None
        self.bars: list[Bar] = []
        self.last_out = time.monotonic()  # when a line last went to stderr (plain mode's heartbeat)
        self._beat: tuple[threading.Thread, threading.Event] | None = None

    @property
    def stream(self) -> Any:
        return self._stream if self._stream is not None else sys.stderr

    # -------------------------------------------------------------- rich plumbing
    def _rich(self) -> Any:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._console = Console(file=self.stream)
            self._progress = Progress(
                TextColumn("[bold]{task.fields[stage]}[/]"), BarColumn(bar_width=24),
                TextColumn("{task.fields[count]}"), TimeRemainingColumn(), TextColumn("{task.fields[figs]}"),
                console=self._console, transient=True, refresh_per_second=4,
            )
            self._progress.start()
        return self._progress

    def _add_task(self, bar: Bar) -> Any:
        with self.lock:
            self.bars.append(bar)
        if not self.live:
            return None
        with self.lock:
            return self._rich().add_task("", total=bar.total, stage=self.stage_label or bar.desc, count="",
                                         figs="")

    def _refresh(self, bar: Bar) -> None:
        if is_quiet():
            return
        with self.lock:
            if self.live and bar.task is not None:
                figs = ", ".join(f"{k} {v}" for k, v in bar.postfix.items())
                count = f"{bar.n:,}/{bar.total:,} {bar.unit}" if bar.total else f"{bar.n:,} {bar.unit}"
                self._rich().update(bar.task, completed=bar.n, total=bar.total, count=count, figs=figs)
            elif not self.live and time.monotonic() - bar.last_beat >= HEARTBEAT_S:
                bar.last_beat = time.monotonic()
                label = self.stage_label or bar.desc
                self._write(f"  ... {label}: {bar.text().split(': ', 1)[-1]}", err=True)

    def _remove_task(self, bar: Bar) -> None:
        with self.lock:
            if bar in self.bars:
                self.bars.remove(bar)
            if self._progress is not None and bar.task is not None:
                self._progress.remove_task(bar.task)
                bar.task = None

    def _write(self, text: str, err: bool) -> None:
        stream = self.stream if err else sys.stdout
        with self.lock:
            if err:
                self.last_out = time.monotonic()
            if self._progress is not None and err:
                self._console.print(text, markup=False, highlight=False, soft_wrap=True)
            else:
                stream.write(text + "\n")
                stream.flush()

    # -------------------------------------------------------------- public
    def line(self, text: str, err: bool = True) -> None:
        """A permanent line (above the live area); ``err=False`` writes the run's result to stdout."""
        self._write(text, err)

    def stage_done(self, kind: str, key: str, status: str, seconds: float | None = None,
                   figures: Mapping[str, Any] | None = None) -> None:
        if is_quiet():
            return
        mark = {"done": "✓", "reused": "·", "failed": "✗"}.get(status, "-")
        detail = summarize(kind, figures or {}) if status == "done" else status
        secs = f"{seconds:6.1f} s" if seconds is not None else ""
        self.line(f"{mark} {stage_name(kind, key):<9} {stage_place(key):<26} {secs:>8}  {detail}".rstrip())

    def close(self) -> None:
        self.stop_heartbeat()
        with self.lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None

    # -------------------------------------------------------------- plain mode's heartbeat
    def start_heartbeat(self) -> None:
        """While a stage runs (plain mode), a line whenever none was written for HEARTBEAT_S."""
        if self.live or is_quiet() or self._beat is not None:
            return
        stop = threading.Event()
        thread = threading.Thread(target=self._heartbeat, args=(stop, time.monotonic()), daemon=True,
                                  name="limo-rl-heartbeat")
        self._beat = (thread, stop)
        thread.start()

    def stop_heartbeat(self) -> None:
        beat, self._beat = self._beat, None
        if beat is not None:
            beat[1].set()
            beat[0].join(timeout=5)

    def _heartbeat(self, stop: threading.Event, t0: float) -> None:
        while not stop.wait(min(5.0, max(HEARTBEAT_S / 4, 0.01))):
            with self.lock:
                if time.monotonic() - self.last_out < HEARTBEAT_S or is_quiet():
                    continue
                label = self.stage_label or "limo-rl"
                state = "; ".join(b.text().split(": ", 1)[-1] for b in self.bars) or "running"
                minutes = (time.monotonic() - t0) / 60
                self._write(f"  ... {label}: {state} ({minutes:.0f} min into the stage)", err=True)


_display: Display | None = None


def display() -> Display:
    global _display
    if _display is None:
        _display = Display()
    return _display


def close_display() -> None:
    global _display
    if _display is not None:
        _display.close()
        _display = None


@contextlib.contextmanager
def stage(kind: str, key: str) -> Iterator[dict[str, Any]]:
    """Around one stage's work: bars opened inside carry its label; one line when it ends.

    Yields a dict the caller fills with the stage's figures (shown on the final line).
    """
    adopt_library_loggers()  # a library imported since set-up re-attached its own stderr handler
    disp = display()
    where = stage_place(key)
    previous, disp.stage_label = disp.stage_label, f"{stage_name(kind, key)} {where}".strip()
    figures: dict[str, Any] = {}
    t0 = time.perf_counter()
    outer = disp._beat is None
    if outer:
        disp.start_heartbeat()
    try:
        yield figures
    except BaseException:
        disp.stage_label = previous
        if outer:
            disp.stop_heartbeat()
        disp.stage_done(kind, key, "failed", time.perf_counter() - t0)
        raise
    disp.stage_label = previous
    if outer:
        disp.stop_heartbeat()
    disp.stage_done(kind, key, "done", time.perf_counter() - t0, figures)


def bar(total: int | None = None, desc: str = "", unit: str = "it", **_: Any) -> Bar:
    """Progress within the current stage (a no-op display when quiet or inside a Ray worker)."""
    return Bar(display(), total, unit, desc)
