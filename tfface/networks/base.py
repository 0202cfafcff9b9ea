"""The base class of tfface's Keras subclassed networks."""

import tensorflow as tf


class Network(tf.keras.Model):
  """``keras.Model`` without Keras' automatic SavedModel ``serving_default``.

  When a SavedModel containing a model is written, Keras 3 traces a default
  signature from the recorded build shapes, which fails for multi-input
  ``call``s (ConfigNet's G takes z and rotation). tfface exports name their
  signatures explicitly (:mod:`tfface.export`), so networks opt out.
  """

  @property
  def _default_save_signature(self):
    return None
