"""A tiny method for testing the runtime: linear regression with Adam and EMA.

Deterministic given its data, so runs under different strategies, or
interrupted and resumed, can be compared weight for weight.
"""

import time

import gin
import numpy as np
import tensorflow as tf

from tfface import training
from tfface.export import metadata
from tfface.export import validation

IN_DIM, OUT_DIM = 4, 2


class Linear(tf.keras.Model):

  def __init__(self):
    super().__init__()
    self.dense = tf.keras.layers.Dense(
        OUT_DIM, kernel_initializer=tf.keras.initializers.GlorotUniform(seed=1))

  def call(self, x):
    return self.dense(x)


@gin.configurable
class ToyRegression(training.TrainingMethod):
  """Fits ``y = x @ W*``; ``nan_at_step`` injects a NaN loss for the guard test."""

  def __init__(self, learning_rate: float = 0.05, nan_at_step: int = -1):
    self.learning_rate = learning_rate
    self.nan_at_step = nan_at_step

  def build(self):
    self.model = Linear()
    self.model(tf.zeros([1, IN_DIM]))
    self.ema_model = Linear()
    self.ema_model(tf.zeros([1, IN_DIM]))
    self.ema = training.WeightEMA(self.model, self.ema_model, decay=0.9)
    self.optimizer = tf.keras.optimizers.Adam(self.learning_rate)
    self.optimizer.build(self.model.trainable_variables)

  def checkpoint_items(self):
    return {"model": self.model, "ema_model": self.ema_model,
            "optimizer": self.optimizer}

  def train_step(self, batch):
    with tf.GradientTape() as tape:
      prediction = self.model(batch["x"])
      loss = tf.reduce_mean(tf.square(prediction - batch["y"]))
    training.minimize(tape, self.optimizer, loss,
                      self.model.trainable_variables)
    poison = tf.where(tf.equal(self.global_step + 1, self.nan_at_step),
                      np.nan, 0.0)
    return {"mse": loss + poison, "abs_mean": tf.reduce_mean(tf.abs(prediction))}

  def after_step(self):
    self.ema.update()

  def image_summaries(self):
    kernel = self.model.dense.kernel
    picture = tf.tanh(tf.reshape(kernel, [1, IN_DIM, OUT_DIM, 1]))
    return {"kernel": tf.tile(picture, [1, 1, 1, 3])}

  def export_signatures(self):
    module = ToyServing(self.ema_model)
    return module, {"predict": module.predict}


class ToyServing(tf.Module):
  """The toy's serving module, following the export conventions."""

  def __init__(self, model):
    super().__init__(name="toy")
    self.model = model

    @validation.validated_function("predict", self.signature_inputs()["predict"])
    def predict(x):
      return {"y": self.model(x)}

    self.predict = predict

  def signature_inputs(self):
    return {"predict": (validation.Input("x", (validation.BATCH, IN_DIM),
                                         finite=True),)}

  def export_metadata(self):
    return metadata.build_metadata(
        "toy_regression", 0, "predict", self.signature_inputs(),
        {"predict": {"y": f"[B, {OUT_DIM}]"}})


@gin.configurable
def toy_dataset(global_batch_size: int, num_examples: int = 64,
                delay_seconds: float = 0.0) -> tf.data.Dataset:
  """Fixed regression data, repeated; ``delay_seconds`` slows each batch."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(num_examples, IN_DIM)).astype(np.float32)
  w = rng.normal(size=(IN_DIM, OUT_DIM)).astype(np.float32)
  data = tf.data.Dataset.from_tensor_slices({"x": x, "y": x @ w})
  data = data.repeat().batch(global_batch_size, drop_remainder=True)
  if delay_seconds:
    def slow(batch):
      tf.py_function(lambda: time.sleep(delay_seconds), [], [])
      return batch
    data = data.map(slow)
  return data


def final_weights(method: ToyRegression) -> np.ndarray:
  return np.concatenate([v.numpy().ravel() for v in method.model.weights])
