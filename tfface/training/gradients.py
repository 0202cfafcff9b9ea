"""Applying gradients correctly under any ``tf.distribute`` strategy."""

from typing import Callable, Sequence, Tuple

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


def conditional_minimize(condition: tf.Tensor,
                         optimizer: tf.keras.optimizers.Optimizer,
                         variables: Sequence[tf.Variable],
                         loss_fn: Callable[[], Tuple[tf.Tensor, tf.Tensor]]
                         ) -> Tuple[tf.Tensor, tf.Tensor]:
  """An optimizer step that only happens when ``condition`` is true.

  For lazy regularization inside a per-replica ``train_step``: the loss and
  gradients are computed only on steps where ``condition`` holds; the
  cross-replica gradient sum and the update run in cross-replica context
  (``merge_call``) under a ``tf.cond``, because Keras' ``apply_gradients``
  cannot synchronize replicas from inside a replica-side ``tf.cond``. The
  gradient is that of the global-batch mean, as
  :func:`minimize`.

  Args:
    condition: scalar bool tensor (the same on every replica).
    optimizer: a built Keras optimizer owning ``variables``.
    variables: the variables to update.
    loss_fn: returns ``(loss, aux)`` scalars; called under a GradientTape.

  Returns:
    ``(loss, aux)`` on steps with ``condition``, zeros otherwise.
  """
  variables = list(variables)
  context = tf.distribute.get_replica_context()
  scale = 1.0 / context.num_replicas_in_sync

  def compute():
    with tf.GradientTape() as tape:
      loss, aux = loss_fn()
    grads = tape.gradient(loss, variables,
                          output_gradients=tf.constant(scale, loss.dtype))
    grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
             for g, v in zip(grads, variables)]
    return [loss, tf.convert_to_tensor(aux, tf.float32)] + grads

  def skip():
    return ([tf.constant(0.0), tf.constant(0.0)] +
            [tf.zeros_like(v) for v in variables])

  out = tf.cond(condition, compute, skip)
  loss, aux, grads = out[0], out[1], out[2:]

  apply_if(condition, optimizer, grads, variables)
  return loss, aux


def apply_if(condition: tf.Tensor, optimizer: tf.keras.optimizers.Optimizer,
             grads: Sequence[tf.Tensor], variables: Sequence[tf.Variable]
             ) -> None:
  """Applies ``grads`` (per-replica, already scaled) only when ``condition``.

  The gradients are computed outside any ``tf.cond`` (so BatchNorm statistics
  update normally in replica context); the all-reduce and the update run in
  cross-replica context under a ``tf.cond`` (Keras' ``apply_gradients``
  cannot synchronize replicas from inside a replica-side ``tf.cond``).
  """
  variables = list(variables)
  grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
           for g, v in zip(grads, variables)]
  context = tf.distribute.get_replica_context()

  def merge_fn(strategy, grads):
    def apply():
      # Keras variables wrap the distributed tf.Variable in `.value`.
      targets = [v.value if isinstance(v, tf.keras.Variable) else v
                 for v in variables]
      reduced = strategy.extended.batch_reduce_to(
          tf.distribute.ReduceOp.SUM, list(zip(grads, targets)))
      learning_rate = tf.cast(optimizer.learning_rate, tf.float32)
      for grad, target in zip(reduced, targets):
        strategy.extended.update(
            target, lambda var, g: optimizer.update_step(g, var, learning_rate),
            args=(grad,), group=False)
      optimizer.iterations.assign_add(1)
      return tf.constant(True)
    return tf.cond(condition, apply, lambda: tf.constant(False))

  context.merge_call(merge_fn, args=(grads,))
