"""Sharded TFRecord files written atomically, plus a stderr progress bar.

A shard is written under a temporary name (``<shard>.partial-<pid>``) and
renamed to its final name only after its last record is flushed and the file
closed. A run that fails raises after deleting its temporary file; a run that
is killed leaves at most a ``.partial-<pid>`` file, never a half shard under a
final name, and the next run removes such leftovers of dead processes. Final
names follow the ``<prefix>-00003-of-00016.tfrecord`` convention.
"""

import os
import re
import sys
import time
from typing import Callable, Iterable, List, Optional

from absl import logging
import tensorflow as tf

from tfface.training.progress import format_duration

PARTIAL_TAG = ".partial-"


def shard_path(output_dir: str, prefix: str, index: int,
               num_shards: int) -> str:
  """``<output_dir>/<prefix>-<index:05d>-of-<num_shards:05d>.tfrecord``."""
  return os.path.join(output_dir,
                      f"{prefix}-{index:05d}-of-{num_shards:05d}.tfrecord")


def shard_pattern(output_dir: str, prefix: str) -> str:
  """Glob matching every final shard of ``prefix`` in ``output_dir``."""
  return os.path.join(output_dir, f"{prefix}-*-of-*.tfrecord")


def _pid_alive(pid: int) -> bool:
  if pid == os.getpid():
    return True
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def remove_stale_partials(output_dir: str, prefix: str) -> List[str]:
  """Deletes temporary shards of ``prefix`` left by processes no longer alive.

  Returns:
    The removed paths.
  """
  removed = []
  if not tf.io.gfile.isdir(output_dir):
    return removed
  pattern = re.compile(re.escape(prefix) + r"-\d+-of-\d+\.tfrecord" +
                       re.escape(PARTIAL_TAG) + r"(\d+)$")
  for name in sorted(tf.io.gfile.listdir(output_dir)):
    match = pattern.match(name)
    if match and not _pid_alive(int(match.group(1))):
      path = os.path.join(output_dir, name)
      tf.io.gfile.remove(path)
      removed.append(path)
  return removed


def write_records_atomically(path: str, records: Iterable[bytes],
                             on_record: Optional[Callable[[], None]] = None
                             ) -> int:
  """Writes serialized records to ``path`` via a temporary file and a rename.

  Args:
    path: the final TFRecord path (local or any `tf.io.gfile` file system).
    records: serialized records; consumed lazily, so an exception raised
      while producing them aborts the shard.
    on_record: called after each record is written (progress reporting).

  Returns:
    The number of records written.

  Raises:
    Whatever ``records`` raises; the temporary file is removed first and
    nothing appears under ``path``.
  """
  tmp = f"{path}{PARTIAL_TAG}{os.getpid()}"
  count = 0
  try:
    with tf.io.TFRecordWriter(tmp) as writer:
      for record in records:
        writer.write(record)
        count += 1
        if on_record is not None:
          on_record()
    tf.io.gfile.rename(tmp, path, overwrite=True)
  except BaseException:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.remove(tmp)
    raise
  return count


class ProgressBar:
  """A progress bar on stderr: ``[#####.....] 120/1000 12.3 faces/s ETA 1m12s``.

  On a terminal the bar redraws in place; otherwise (logs, CI) one line goes
  through ``absl.logging.info`` at most every ``log_every_s`` seconds and at
  the end.
  """

  def __init__(self, total: int, unit: str = "faces", desc: str = "",
               enabled: bool = True, log_every_s: float = 10.0, width: int = 30,
               stream=None):
    self.total = max(0, int(total))
    self.unit = unit
    self.desc = desc
    self.enabled = enabled
    self.count = 0
    self._skipped = 0
    self._stream = stream if stream is not None else sys.stderr
    self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
    self._width = width
    self._log_every_s = log_every_s
    self._start = time.monotonic()
    self._last_draw = -float("inf")

  @property
  def rate(self) -> float:
    """Items processed per second since the bar started (skips excluded)."""
    elapsed = time.monotonic() - self._start
    done = self.count - self._skipped
    return done / elapsed if elapsed > 0 and done > 0 else 0.0

  def line(self) -> str:
    filled = (self._width * self.count // self.total if self.total else
              self._width)
    bar = "#" * filled + "." * (self._width - filled)
    text = f"{self.desc}[{bar}] {self.count}/{self.total}"
    rate = self.rate
    if self._skipped:
      text += f" ({self._skipped} skipped)"
    if rate > 0:
      text += f" {rate:.3g} {self.unit}/s"
      if self.count < self.total:
        text += f" ETA {format_duration((self.total - self.count) / rate)}"
    return text

  def skip(self, n: int) -> None:
    """Advances by ``n`` items that needed no work (e.g. existing shards)."""
    self._skipped += n
    self.update(n)

  def update(self, n: int = 1) -> None:
    """Advances by ``n`` processed items and redraws when due."""
    self.count += n
    if not self.enabled:
      return
    now = time.monotonic()
    done = self.count >= self.total
    if self._tty:
      if done or now - self._last_draw >= 0.1:
        self._stream.write("\r" + self.line())
        if done:
          self._stream.write("\n")
        self._stream.flush()
        self._last_draw = now
    elif done or now - self._last_draw >= self._log_every_s:
      logging.info("%s", self.line())
      self._last_draw = now
