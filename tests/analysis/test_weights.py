"""The analysis networks' weights files: save, rebuild, errors."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.analysis import backbone
from tfface.analysis import weights


@weights.register_kind("_test_pooled")
class _Pooled(tf.keras.Model):
  """A tiny registered network for these tests."""

  def __init__(self, input_size: int = 16, width: int = 8):
    super().__init__()
    self.input_size = input_size
    self.trunk = backbone.ResidualBackbone((width, 2 * width))
    self.head = tf.keras.layers.Dense(3)

  def call(self, images, training=None):
    x = backbone.resize_to(images, self.input_size)
    return self.head(tf.reduce_mean(self.trunk(x, training=training)[-1],
                                    [1, 2]))


def _built(width=8):
  model = _Pooled(16, width)
  model(tf.zeros([1, 16, 16, 3]))
  return model


def test_round_trip_reproduces_outputs_and_metadata(tmp_path):
  model = _built()
  images = tf.random.uniform([2, 24, 24, 3], -1, 1, seed=1)
  path = str(tmp_path / "net.npz")
  weights.save_network(path, model, {"input_size": 16, "width": 8},
                       {"input": "RGB [-1, 1]"})
  loaded = weights.load_network(path)
  np.testing.assert_allclose(loaded(images), model(images), atol=1e-6)
  assert loaded.weights_metadata == {"input": "RGB [-1, 1]"}
  assert not loaded.trainable
  assert weights.read_header(path)["kind"] == "_test_pooled"
  # BatchNorm moving statistics are weights too, not only trainables.
  assert len(weights.network_arrays(model)) > len(model.trainable_weights)


def test_errors_name_what_is_wrong(tmp_path):
  model = _built()
  with pytest.raises(weights.WeightsError, match="not a registered"):
    weights.save_network(str(tmp_path / "x.npz"), tf.keras.Sequential(), {})
  path = str(tmp_path / "net.npz")
  weights.save_network(path, model, {"input_size": 16, "width": 8})
  with pytest.raises(weights.WeightsError, match="unknown analysis network"):
    weights.build_network("nope", {})
  with pytest.raises(weights.WeightsError, match="does not fit"):
    weights.build_network("_test_pooled", {"depth": 3})
  arrays = weights.network_arrays(_built(width=4))
  with pytest.raises(weights.WeightsError, match="expected shape"):
    weights.assign_arrays(model, arrays)
  arrays = weights.network_arrays(model)
  arrays.pop(sorted(arrays)[0])
  with pytest.raises(weights.WeightsError, match="missing"):
    weights.assign_arrays(model, arrays)
  from tfface.networks import stylegan2_weights
  stylegan2_weights.save_weights(str(tmp_path / "sg2.npz"), {"generator": {}},
                                 {})
  with pytest.raises(weights.WeightsError, match="load_stylegan2_generator"):
    weights.read_header(str(tmp_path / "sg2.npz"))
