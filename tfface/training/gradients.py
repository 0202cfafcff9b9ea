"""Applying gradients correctly under any ``tf.distribute`` strategy."""

from typing import Sequence

import tensorflow as tf


def replica_loss_scale() -> float:
  """``1 / num_replicas_in_sync`` of the current replica context.

  Keras optimizers sum gradients over replicas, so a per-replica mean loss
  multiplied by this factor gives the gradient of the global-batch mean.
  """
  return 1.0 / tf.distribute.get_strategy().num_replicas_in_sync


def minimize(tape: tf.GradientTape,
             optimizer: tf.keras.optimizers.Optimizer,
             loss: tf.Tensor,
             variables: Sequence[tf.Variable]) -> None:
  """Applies one optimizer step for ``loss``, a per-replica mean.

  Args:
    tape: the (persistent if it is used again) tape that recorded ``loss``.
    optimizer: a Keras optimizer built for ``variables``.
    loss: scalar per-replica mean loss.
    variables: the variables this optimizer owns.
  """
  # Seeding the backward pass with the scale (rather than scaling the loss
  # outside the tape, which the tape would not record).
  scale = tf.constant(replica_loss_scale(), dtype=loss.dtype)
  gradients = tape.gradient(loss, variables, output_gradients=scale)
  optimizer.apply_gradients(zip(gradients, variables))
