"""Checkpoints that survive a kill and work under every strategy.

``tf.train.CheckpointManager`` writes each checkpoint's data under a temporary
name, renames it into place, and rewrites the ``checkpoint`` state file
atomically, so a process killed mid-save leaves the previous checkpoint as the
latest one. Under ``MultiWorkerMirroredStrategy`` every worker must take part in
the save; only the chief writes to ``model_dir``, the others write to a scratch
directory that is deleted again.
"""

import os
import shutil
from typing import List, Mapping, Optional

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
    """Writes a checkpoint for ``step``; returns its path prefix."""
    path = self.manager.save(checkpoint_number=step)
    if not self.is_chief:
      shutil.rmtree(self._directory, ignore_errors=True)
    return path
