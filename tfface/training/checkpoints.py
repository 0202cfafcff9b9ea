"""Checkpoints that survive a kill and work under every strategy.

``tf.train.CheckpointManager`` writes each checkpoint's data under a temporary
name, renames it into place, and rewrites the ``checkpoint`` state file
atomically, so a process killed mid-save leaves the previous checkpoint as the
latest one. A save that fails (a full disk, a lost permission) removes what it
had written (the ``ckpt-N_temp/`` directory and any partial ``ckpt-N.*``
files) and raises :class:`CheckpointWriteError` naming the checkpoint, the
reason and the checkpoint that stays the latest; temporary directories left by
a killed process are removed when the next run opens the directory. Under
``MultiWorkerMirroredStrategy`` every worker must take part in the save; only
the chief writes to ``model_dir``, the others write to a scratch directory
that is deleted again.
"""

import os
import shutil
from typing import List, Mapping, Optional

from absl import logging

import tensorflow as tf

from tfface.training import strategy as strategy_lib


def checkpoint_directory(model_dir: str) -> str:
  """Where a run keeps its checkpoints."""
  return os.path.join(model_dir, "checkpoints")


def latest_checkpoint(model_dir: str) -> Optional[str]:
  """Path prefix of the newest checkpoint of the run in ``model_dir``, or None."""
  return tf.train.latest_checkpoint(checkpoint_directory(model_dir))


class CheckpointNotFoundError(FileNotFoundError, ValueError):
  """No checkpoint where one was expected (a ``ValueError`` and a
  ``FileNotFoundError``, so either handler catches it)."""


def resolve_checkpoint(path: str) -> str:
  """The checkpoint prefix that ``path`` names.

  Args:
    path: a checkpoint prefix (``.../checkpoints/ckpt-10``, with
      ``ckpt-10.index`` beside it), a ``checkpoints/`` directory (its newest
      checkpoint) or a run directory holding ``checkpoints/`` (its newest
      checkpoint).

  Returns:
    The checkpoint's path prefix, as ``tf.train.Checkpoint.restore`` takes it.

  Raises:
    CheckpointNotFoundError: ``path`` is none of these.
  """
  path = os.fspath(path)
  if path and tf.io.gfile.exists(path + ".index"):
    return path
  if path and tf.io.gfile.isdir(path):
    for directory in (path, checkpoint_directory(path)):
      latest = tf.train.latest_checkpoint(directory)
      if latest:
        return latest
  raise CheckpointNotFoundError(
      f"no checkpoint in {path!r}; expected a checkpoint prefix (e.g. "
      ".../checkpoints/ckpt-10), a checkpoints/ directory or a run directory "
      "with checkpoints (train first)")


class CheckpointWriteError(OSError):
  """A checkpoint could not be written; what it had written was removed.

  An ``OSError`` (``errno`` is the cause's, e.g. ``ENOSPC``) whose message is
  one line naming the checkpoint, the reason and the checkpoint that stays
  the latest.
  """


def saved_step(path: str) -> int:
  """The global step stored in the checkpoint at ``path``."""
  return int(tf.train.load_variable(path, "step/.ATTRIBUTES/VARIABLE_VALUE"))


def has_iterator(path: str) -> bool:
  """Whether the checkpoint at ``path`` holds the input iterator's state."""
  return any(name.startswith("iterator/")
             for name, _ in tf.train.list_variables(path))


def untracked_weights(checkpoint: tf.train.Checkpoint,
                      items: Mapping[str, object]) -> List[str]:
  """Weights of the Keras models in ``items`` that ``checkpoint`` would not save.

  Keras 3 layers kept in plain Python lists or dicts are not reachable through
  TensorFlow's checkpoint graph, so their weights are silently left out of
  ``tf.train.Checkpoint`` (and a restore still "matches"). Returns
  ``"<item>: <weight path>"`` for each such weight.
  """
  reachable = {id(obj) for obj in tf.train.TrackableView(checkpoint).descendants()}
  missing = []
  for name, item in items.items():
    if isinstance(item, tf.keras.layers.Layer):
      missing.extend(f"{name}: {w.path}" for w in item.weights
                     if id(w) not in reachable)
  return missing


class CheckpointKeeper:
  """Saves and restores one ``tf.train.Checkpoint`` in ``model_dir``.

  Args:
    checkpoint: the checkpoint object holding step, networks, optimizers, EMA
      and the data iterator.
    model_dir: the run directory.
    strategy: the strategy the run uses (decides chief / scratch directory).
    keep: how many checkpoints to keep.
  """

  def __init__(self, checkpoint: tf.train.Checkpoint, model_dir: str,
               strategy: tf.distribute.Strategy, keep: int = 3):
    self.checkpoint = checkpoint
    self.is_chief = strategy_lib.is_chief(strategy)
    directory = checkpoint_directory(model_dir)
    if not self.is_chief:
      directory = os.path.join(model_dir, ".worker_scratch",
                               f"worker_{strategy_lib.task_index(strategy)}")
    self._directory = directory
    self.manager = tf.train.CheckpointManager(
        checkpoint, directory, max_to_keep=keep, checkpoint_name="ckpt")
    self._chief_directory = checkpoint_directory(model_dir)
    remove_stale_temporaries(directory)

  @property
  def latest(self) -> Optional[str]:
    """Path prefix of the newest checkpoint the chief wrote, or None."""
    return tf.train.latest_checkpoint(self._chief_directory)

  def restore_latest(self) -> Optional[str]:
    """Restores the chief's newest checkpoint, if any; returns its path."""
    path = self.latest
    if path:
      self.checkpoint.restore(path).assert_existing_objects_matched()
    return path

  def save(self, step: int) -> str:
    """Writes a checkpoint for ``step``; returns its path prefix.

    Raises:
      CheckpointWriteError: writing failed with an ``OSError`` or one of
        TensorFlow's file errors; the partial checkpoint was removed and the
        previous one stays the latest. Other errors propagate unchanged, also
        after the partial checkpoint was removed.
    """
    prefix = os.path.join(self._directory, f"ckpt-{int(step)}")
    try:
      path = self.manager.save(checkpoint_number=step)
    except BaseException as e:
      self._remove_partial(prefix)
      if isinstance(e, (OSError, tf.errors.ResourceExhaustedError,
                        tf.errors.PermissionDeniedError,
                        tf.errors.NotFoundError, tf.errors.DataLossError,
                        tf.errors.UnknownError)):
        latest = tf.train.latest_checkpoint(self._directory)
        error = CheckpointWriteError(
            f"could not write checkpoint {prefix}: {_reason(e)}; its partial "
            "files were removed and "
            + (f"{latest} stays the latest checkpoint" if latest else
               "no checkpoint was written yet"))
        error.errno = getattr(e, "errno", None)
        raise error from e
      raise
    if not self.is_chief:
      shutil.rmtree(self._directory, ignore_errors=True)
    return path

  def _remove_partial(self, prefix: str) -> None:
    """Deletes ``prefix``'s temporary directory and, unless the state file
    already names it, its files."""
    _remove_tree(prefix + "_temp")
    if tf.train.latest_checkpoint(self._directory) != prefix:
      try:
        for name in tf.io.gfile.glob(prefix + ".*"):
          tf.io.gfile.remove(name)
      except (OSError, tf.errors.OpError):
        pass


def _reason(error: BaseException) -> str:
  if isinstance(error, OSError) and error.strerror:
    return error.strerror
  if isinstance(error, tf.errors.OpError):
    text = error.message
  else:
    text = str(error)
  lines = [l.strip() for l in text.splitlines() if l.strip()]
  return lines[0] if lines else type(error).__name__


def _remove_tree(path: str) -> None:
  try:
    if tf.io.gfile.isdir(path):
      tf.io.gfile.rmtree(path)
  except (OSError, tf.errors.OpError):
    shutil.rmtree(path, ignore_errors=True)


def remove_stale_temporaries(directory: str) -> List[str]:
  """Removes ``ckpt-*_temp`` directories a killed save left in ``directory``.

  Only the process that writes ``directory`` calls this, before its first
  save, so no save is in progress. Returns the removed paths.
  """
  try:
    stale = tf.io.gfile.glob(os.path.join(directory, "ckpt-*_temp"))
  except tf.errors.OpError:
    return []
  for path in stale:
    logging.info("removing %s, left by an interrupted checkpoint save", path)
    _remove_tree(path)
  return stale
