"""The optimizer steps a training run will make and the learning rate of each, known before any compute.

Why: a warmup always starts at learning rate 0 (transformers' schedules scale the rate by
``step / warmup_steps`` and the first optimizer step is step 0), so a run of one optimizer step with
any warmup trains nothing: the student comes out byte-identical to the base while the console shows a
loss. :func:`check_schedule` refuses such a run before it starts, naming the steps, the warmup and the
scheduler.

The formulas mirror transformers 5 (``Trainer`` and ``transformers.optimization``):

* batches per epoch on each worker: ``ceil(rows / (per_device_batch_size * num_workers))`` (the
  sampler splits the rows evenly over the workers, the last batch may be short);
* optimizer steps per epoch: ``ceil(batches / gradient_accumulation_steps)``, at least 1; the run makes
  ``max_steps`` if set, else ``epochs`` times that;
* warmup steps: ``ceil(steps * warmup_ratio)`` (a float below 1 given as ``warmup_steps`` is a ratio);
* the factor of step ``s`` (0-based): ``s / warmup`` while ``s < warmup``; then 1 (``constant``,
  ``constant_with_warmup``), ``(steps - s) / (steps - warmup)`` (``linear``) or
  ``0.5 (1 + cos(pi (s - warmup) / (steps - warmup)))`` (``cosine``). ``constant`` has no warmup.

With packing a row holds several examples, so the rows (and steps) are known only after tokenizing:
the count from examples is an upper bound: all zero there is refused, all zero only if every example
fits one row is warned about.

Pure core: standard library only.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from limo_rl.errors import RecipeError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    steps: int
    warmup: int
    scheduler: str

    def factor(self, step: int) -> float:
        """The learning-rate multiplier of optimizer step ``step`` (0-based)."""
        if self.scheduler == "constant":
            return 1.0
        if step < self.warmup:
            return step / max(1, self.warmup)
        if self.scheduler == "constant_with_warmup":
            return 1.0
        progress = (step - self.warmup) / max(1, self.steps - self.warmup)
        if self.scheduler == "linear":
            return max(0.0, 1.0 - progress)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    def zero_steps(self) -> int:
        """How many of the run's optimizer steps have learning rate 0."""
        return sum(self.factor(s) == 0.0 for s in range(self.steps))


def optimizer_steps(rows: int, cfg: dict[str, Any]) -> int:
    """Optimizer steps of a run over ``rows`` training rows with the train section ``cfg`` (a dict)."""
    if cfg.get("max_steps"):
        return int(cfg["max_steps"])
    batches = math.ceil(max(rows, 1) / (cfg["per_device_batch_size"] * cfg["num_workers"]))
    per_epoch = max(1, math.ceil(batches / cfg["gradient_accumulation_steps"]))
    return int(cfg["epochs"]) * per_epoch


def schedule(rows: int, cfg: dict[str, Any]) -> Schedule:
    steps = optimizer_steps(rows, cfg)
    return Schedule(steps, math.ceil(steps * cfg["warmup_ratio"]), cfg["lr_scheduler"])


def check_schedule(rows: int, cfg: dict[str, Any], *, packing: bool = False) -> Schedule:
    """Refuse (RecipeError) a run whose every optimizer step has learning rate 0; warn when most do."""
    sched = schedule(rows, cfg)
    zero = sched.zero_steps()
    why = (f"{rows} training example(s) make {sched.steps} optimizer step(s) (per_device_batch_size "
           f"{cfg['per_device_batch_size']} x {cfg['num_workers']} worker(s) x gradient_accumulation_steps "
           f"{cfg['gradient_accumulation_steps']}, {'max_steps' if cfg.get('max_steps') else 'epochs'} "
           f"{cfg.get('max_steps') or cfg['epochs']}), warmup_ratio {cfg['warmup_ratio']} makes "
           f"{sched.warmup} warmup step(s), and lr_scheduler {cfg['lr_scheduler']} starts a warmup at "
           "learning rate 0")
    if zero == sched.steps:  # with packing the steps can only be fewer
        raise RecipeError(f"train: every optimizer step would have learning rate 0, so the student would come out "
                          f"identical to the base: {why}. Set train.warmup_ratio=0, or train on more steps "
                          "(more examples or epochs, a smaller batch, train.max_steps)")
    if packing and schedule(1, cfg).zero_steps() == schedule(1, cfg).steps:  # all packed into one row
        log.warning("train: with packing the examples may fill a single row; should they, every optimizer step "
                    "would have learning rate 0 (%s)", why)
    elif zero * 2 > sched.steps:
        log.warning("train: %d of %d optimizer steps have learning rate 0 (%s)", zero, sched.steps, why)
    return sched
