"""Deterministic seeding.

``set_global_seed`` seeds Python, NumPy and TensorFlow. For randomness inside a
compiled train step, use :func:`step_seed`: a stateless seed derived from the run
seed, the global step, the replica and a salt, so a resumed run draws exactly
the numbers the uninterrupted run would have drawn.
"""

import tensorflow as tf


def set_global_seed(seed: int, deterministic_ops: bool = False) -> None:
  """Seeds ``random``, NumPy and TensorFlow; optionally deterministic kernels."""
  tf.keras.utils.set_random_seed(int(seed))
  if deterministic_ops:
    tf.config.experimental.enable_op_determinism()


def step_seed(seed: int, step: tf.Tensor, salt: int = 0) -> tf.Tensor:
  """A ``[2]`` int32 seed for ``tf.random.stateless_*`` ops.

  Args:
    seed: the run seed (Python int).
    step: scalar integer tensor, usually ``method.global_step``.
    salt: distinguishes several draws in the same step.

  Returns:
    `[2]` int32, different for every (seed, step, replica, salt).
  """
  context = tf.distribute.get_replica_context()
  replica = 0 if context is None else context.replica_id_in_sync_group
  replica = tf.cast(replica, tf.int64)
  step = tf.cast(step, tf.int64)
  first = tf.cast(seed, tf.int64) * 1000003 + tf.cast(salt, tf.int64)
  second = step * 8191 + replica
  return tf.cast(tf.math.floormod(tf.stack([first, second]), 2**31 - 1), tf.int32)
