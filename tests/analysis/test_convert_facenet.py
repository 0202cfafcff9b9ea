"""facenet-pytorch InceptionResnetV1 -> tfface FaceNet: conversion, conventions,
weights-file round trip and errors.

The state dict is made here with facenet-pytorch's key names and shapes
(random values, ``num_batches_tracked`` counters and a small ``logits`` layer
included); the converted network is compared with a NumPy re-implementation
of the PyTorch forward pass (``tests/networks/test_inception_resnet_v1.py``).
"""

import numpy as np
import pytest
import tensorflow as tf

from tfface.analysis import convert_facenet as convert
from tfface.analysis import facenet
from tfface.analysis import weights
from tests.networks.test_inception_resnet_v1 import reference_forward
from tests.networks.test_inception_resnet_v1 import reference_state_dict

NUM_CLASSES = 7  # 8631 in the 'vggface2' file; only the size differs


@pytest.fixture(scope="module")
def state():
  return reference_state_dict(seed=5, num_classes=NUM_CLASSES)


@pytest.fixture(scope="module")
def model(state):
  return convert.convert_facenet(state)


@pytest.fixture(scope="module")
def images():
  """`[2, 160, 160, 3]` in [-1, 1]: a smooth pattern and uniform noise."""
  yy, xx = np.meshgrid(np.linspace(-1, 1, 160), np.linspace(-1, 1, 160),
                       indexing="ij")
  smooth = np.stack([np.sin(3 * xx), np.cos(2 * yy), xx * yy], axis=-1)
  noise = np.random.default_rng(7).uniform(-1, 1, [160, 160, 3])
  return tf.constant(np.stack([smooth, noise]), tf.float32)


@pytest.fixture(scope="module")
def reference(state, images):
  """``(embedding, bottleneck)`` of the NumPy reference on ``images``."""
  pixels = (np.asarray(images, np.float64) + 1.0) * 127.5  # 0..255 RGB
  standardised = (pixels - 127.5) / 128.0  # fixed_image_standardization
  return reference_forward(state, standardised.transpose(0, 3, 1, 2))


def test_converted_network_matches_pytorch_forward(model, images, reference):
  got = model(images).numpy()
  expected, _ = reference
  assert got.shape == (2, 512)
  np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
  # The two images get clearly different embeddings (cosine ~0.93), so a
  # match is not an accident of a collapsed network.
  assert float(np.dot(expected[0], expected[1])) < 0.97
  np.testing.assert_allclose(got, expected, atol=1e-5)
  # logits.* were dropped (the default) and the counters ignored.
  assert model.network.logits_layer is None
  assert model.input_size == 160


def test_input_conventions(model, images):
  assert facenet.FaceNet.input_size == 160
  np.testing.assert_allclose(facenet.standardize(tf.constant([-1.0, 0, 1.0])),
                             [-127.5 / 128, 0, 127.5 / 128])
  # Any size is resized bilinearly to 160 px first.
  big = tf.image.resize(images, [224, 200], method="bilinear")
  direct = model.network(facenet.standardize(
      tf.image.resize(big, [160, 160], method="bilinear")))
  np.testing.assert_allclose(model(big), direct, atol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(model(big), axis=1), 1.0,
                             atol=1e-5)
  with pytest.raises(ValueError, match=r"\[B, H, W, 3\]"):
    model(tf.zeros([1, 160, 160, 1]))


def test_weights_file_round_trip(model, images, tmp_path):
  path = str(tmp_path / "facenet.npz")
  metadata = convert.conversion_metadata("/x/20180402-114759-vggface2.pt")
  weights.save_network(path, model, model.get_config(), metadata)
  header = weights.read_header(path)
  assert header["kind"] == "facenet"
  assert header["config"] == {"embedding_size": 512, "num_classes": 0,
                              "dropout_rate": 0.6}
  loaded = weights.load_network(path)
  assert isinstance(loaded, facenet.FaceNet) and not loaded.trainable
  assert loaded.weights_metadata["source"] == "20180402-114759-vggface2.pt"
  np.testing.assert_array_equal(loaded(images).numpy(), model(images).numpy())


def test_keep_logits_converts_the_classifier(state, images, reference):
  model = convert.convert_facenet(state, keep_logits=True)
  assert model.get_config()["num_classes"] == NUM_CLASSES
  assert "logits.weight" in model.network.torch_variables()
  embedding, bottleneck = reference
  # logits = logits(last_bn output), before the normalisation.
  expected = bottleneck @ state["logits.weight"].T + state["logits.bias"]
  np.testing.assert_allclose(model.classify(images), expected, rtol=1e-4,
                             atol=1e-4)
  np.testing.assert_allclose(model(images), embedding, atol=1e-5)


def test_clear_errors_and_nothing_half_assigned(model, state, images):
  before = model(images).numpy()

  def convert_into(bad, **kwargs):
    # Filling the shared network (no rebuild) runs the same checks.
    return convert.convert_facenet(bad, into=model, **kwargs)

  missing = dict(state)
  del missing["repeat_2.3.branch1.2.bn.running_var"]
  with pytest.raises(
      weights.WeightsError,
      match=r"lacks 'repeat_2\.3\.branch1\.2\.bn\.running_var'"):
    convert_into(missing)
  extra = dict(state, **{"repeat_1.5.conv2d.weight": np.zeros([256, 96, 1,
                                                               1])})
  with pytest.raises(weights.WeightsError,
                     match=r"does not know: 'repeat_1\.5\.conv2d\.weight'"):
    convert_into(extra)
  # A Keras-layout (HWIO) kernel where PyTorch's OIHW is expected, after
  # other arrays that do fit: nothing may be assigned.
  wrong = {k: -v for k, v in state.items()}
  wrong["mixed_7a.branch2.1.conv.weight"] = state[
      "mixed_7a.branch2.1.conv.weight"].transpose(2, 3, 1, 0)
  with pytest.raises(weights.WeightsError,
                     match=r"'mixed_7a\.branch2\.1\.conv\.weight' has shape "
                     r"\(3, 3, 256, 256\), expected \(256, 256, 3, 3\)"):
    convert_into(wrong)
  np.testing.assert_array_equal(model(images).numpy(), before)
  with pytest.raises(weights.WeightsError, match="lacks 'last_linear.weight'"):
    convert.convert_facenet({"conv2d_1a.conv.weight": np.zeros([32, 3, 3, 3])})
  no_logits = {k: v for k, v in state.items() if not k.startswith("logits")}
  with pytest.raises(weights.WeightsError, match="keep_logits"):
    convert.convert_facenet(no_logits, keep_logits=True)
  with pytest.raises(weights.WeightsError, match="embedding size 512 and 7 "
                     "logits, the network to fill 512 and 0"):
    convert_into(state, keep_logits=True)


def test_read_state_dict_npz(state, tmp_path):
  path = str(tmp_path / "state.npz")
  small = {k: v for k, v in list(state.items())[:6]}
  np.savez(path, **small)
  read = convert.read_state_dict(path)
  assert set(read) == set(small)
  np.testing.assert_array_equal(read["conv2d_1a.conv.weight"],
                                small["conv2d_1a.conv.weight"])
  with pytest.raises(FileNotFoundError, match="no facenet-pytorch weights"):
    convert.read_state_dict(str(tmp_path / "missing.pt"))
