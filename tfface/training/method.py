"""The contract between a method (ConfigNet, StyleGAN2, ...) and the runtime.

A method subclasses :class:`TrainingMethod`. The runtime
(:mod:`tfface.training.loop`) creates the strategy, calls :meth:`build` inside
``strategy.scope()``, compiles :meth:`train_step` with ``tf.function`` and runs
it on every replica, reduces the returned losses, checkpoints
:meth:`checkpoint_items`, and writes TensorBoard summaries. No method writes its
own loop.

Inside :meth:`train_step` a method computes per-replica mean losses and applies
gradients with :func:`tfface.training.gradients.minimize`, which scales the loss
so that the optimizers' cross-replica gradient sum equals the gradient of the
global-batch mean.
"""

from typing import Dict, Mapping, Optional, Tuple

import tensorflow as tf


class TrainingMethod:
  """Base class of everything the runtime can train.

  Attributes set by the runtime before :meth:`build`:
    global_step: int64 scalar ``tf.Variable``, the number of finished steps.
      Read it inside ``train_step`` for schedules and lazy regularization.
    global_batch_size: examples per step over all replicas.
    seed: the run's integer seed; use :func:`tfface.training.seeding.step_seed`
      for reproducible randomness that survives a resume.
  """

  global_step: tf.Variable
  global_batch_size: int
  seed: int

  def build(self) -> None:
    """Creates networks and optimizers; runs inside ``strategy.scope()``.

    Networks must be built (called once on dummy input) and optimizers built
    (``optimizer.build(variables)``) here, before the first compiled step.
    """
    raise NotImplementedError

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    """Trackables to checkpoint: networks, optimizers, EMA copies, ..."""
    raise NotImplementedError

  def train_step(self, batch) -> Dict[str, tf.Tensor]:
    """One optimization step on this replica's share of the batch.

    Args:
      batch: one element of the (distributed) dataset, as this replica sees it.

    Returns:
      Scalar float losses and metrics by name; the runtime averages them over
      replicas, logs them and stops on a non-finite value.
    """
    raise NotImplementedError

  def after_step(self) -> None:
    """Cross-replica work after each step, e.g. EMA updates. Compiled."""

  def learning_rates(self) -> Mapping[str, tf.Tensor]:
    """Current learning rate per optimizer, for TensorBoard."""
    rates = {}
    for name, item in self.checkpoint_items().items():
      if isinstance(item, tf.keras.optimizers.Optimizer):
        rates[name] = item.learning_rate
    return rates

  def image_summaries(self) -> Optional[Dict[str, tf.Tensor]]:
    """Images to show in TensorBoard, ``[N, H, W, 3]`` float in [-1, 1]. Eager."""
    return None

  def export_signatures(self) -> Tuple[tf.Module, Dict[str, object]]:
    """The serving module and its named ``tf.function`` signatures.

    Used by :func:`tfface.export.from_run.export_run` after the method was
    built and restored from a checkpoint. Signatures must have an
    ``input_signature`` with a ``None`` batch dimension.
    """
    raise NotImplementedError(
        f"{type(self).__name__} does not define export signatures")
