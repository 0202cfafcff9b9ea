"""Exponential moving average of a model's weights (e.g. StyleGAN's G_ema)."""

import tensorflow as tf


class WeightEMA(tf.Module):
  """Keeps ``shadow = decay * shadow + (1 - decay) * weight`` for a source model.

  The EMA lives in a second model of the same architecture (``target``), so it
  can be called, checkpointed and exported like any network. Non-trainable
  weights (noise buffers, moving statistics, w̄) are copied, not averaged.

  Args:
    source: the trained ``keras.Model``, already built.
    target: a built model with the same architecture; it is initialized with a
      copy of ``source``'s weights.
    decay: float in [0, 1); 0.999 is ConfigNet's and StyleGAN2's value.
  """

  def __init__(self, source: tf.keras.Model, target: tf.keras.Model,
               decay: float = 0.999):
    super().__init__(name="weight_ema")
    if not 0.0 <= decay < 1.0:
      raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
    src, dst = source.weights, target.weights
    if len(src) != len(dst) or any(
        a.shape != b.shape for a, b in zip(src, dst)):
      raise ValueError("EMA target must have the same weights as the source "
                       f"({len(src)} vs {len(dst)} weights)")
    self.source = source
    self.target = target
    self.decay = decay
    self._trainable_ids = {id(v) for v in source.trainable_weights}
    self.copy_from_source()

  def copy_from_source(self) -> None:
    """Sets the EMA to the current source weights."""
    for s, t in zip(self.source.weights, self.target.weights):
      t.assign(s)

  def update(self) -> None:
    """One EMA step. Call in cross-replica context (``TrainingMethod.after_step``)."""
    for s, t in zip(self.source.weights, self.target.weights):
      if id(s) in self._trainable_ids:
        t.assign(self.decay * t + (1.0 - self.decay) * s)
      else:
        t.assign(s)
