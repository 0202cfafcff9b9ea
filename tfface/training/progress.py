"""The progress line: step, losses, steps/s and ETA, through absl logging."""

import time
from typing import Mapping, Optional

from absl import logging


def format_duration(seconds: float) -> str:
  """``3725`` -> ``'1h02m05s'``; ``65`` -> ``'1m05s'``; ``4.2`` -> ``'4s'``."""
  seconds = max(0, int(round(seconds)))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  if hours:
    return f"{hours}h{minutes:02d}m{secs:02d}s"
  if minutes:
    return f"{minutes}m{secs:02d}s"
  return f"{secs}s"


class Progress:
  """Measures steps/s and logs one line every ``every`` steps.

  The line reads ``step 120/1000 d_loss=1.386 g_loss=0.693 | 12.3 steps/s |
  ETA 1m12s`` and goes to stderr through ``absl.logging.info``.
  """

  def __init__(self, start_step: int, max_steps: int, every: int = 10):
    self.max_steps = max_steps
    self.every = max(1, every)
    self._last_step = start_step
    self._last_time = time.monotonic()
    self.steps_per_sec: Optional[float] = None

  def update(self, step: int, losses: Mapping[str, float]) -> Optional[str]:
    """Records that ``step`` finished; returns the line when one was logged."""
    if step % self.every and step != self.max_steps:
      return None
    now = time.monotonic()
    elapsed = now - self._last_time
    if step > self._last_step and elapsed > 0:
      self.steps_per_sec = (step - self._last_step) / elapsed
    self._last_step, self._last_time = step, now
    parts = " ".join(f"{k}={float(v):.4g}" for k, v in sorted(losses.items()))
    line = f"step {step}/{self.max_steps} {parts}"
    if self.steps_per_sec:
      eta = (self.max_steps - step) / self.steps_per_sec
      line += f" | {self.steps_per_sec:.3g} steps/s | ETA {format_duration(eta)}"
    logging.info(line)
    return line
