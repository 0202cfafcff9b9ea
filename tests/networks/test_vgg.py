"""VGG-19 / VGGFace feature networks: layer selection, weights files."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.losses import perceptual
from tfface.networks import vgg


def _images(seed, n=2, size=32):
  return tf.random.stateless_uniform([n, size, size, 3], [seed, 0], -1, 1)


def test_reference_layers_and_truncation():
  feats = vgg.VGGFeatures(width=0.125)
  out = feats(_images(3, size=32))
  # block1_conv1, block1_conv2 at full size, block3_conv2 at 1/4, block4_conv2
  # at 1/8; nothing deeper than block4_conv2 is built.
  assert [o.shape[1] for o in out] == [32, 32, 8, 4]
  assert feats.convs[-1].name == "block4_conv2"
  with pytest.raises(ValueError, match="unknown vgg19 layers"):
    vgg.VGGFeatures(layers=("block9_conv1",))


def test_weights_file_matches_keras_vgg19(tmp_path):
  reference = tf.keras.applications.VGG19(include_top=False, weights=None,
                                          input_shape=(None, None, 3))
  path = str(tmp_path / "vgg19.weights.h5")
  reference.save_weights(path)
  feats = vgg.VGGFeatures(layers=("block1_conv2", "block3_conv2"),
                                 weights_path=path)
  images = _images(4, size=32)
  x = (images + 1.0) * 127.5
  x = tf.keras.applications.vgg19.preprocess_input(x)
  expected = tf.keras.Model(reference.input,
                            reference.get_layer("block3_conv2").output)(x)
  np.testing.assert_allclose(feats(images)[1].numpy(), expected.numpy(),
                             rtol=1e-4, atol=1e-3)
  assert perceptual.PerceptualLoss(path).pretrained


def test_bad_weights_path_and_width():
  with pytest.raises(ValueError, match="does not exist"):
    vgg.VGGFeatures(weights_path="/nonexistent/vgg19.h5")
  with pytest.raises(ValueError, match="width 1"):
    vgg.VGGFeatures(weights_path="x.h5", width=0.5)


def _write_vggface_h5(path, reference):
  """keras-vggface's no-top VGG16 file layout: Keras 2 weights h5."""
  import h5py  # pylint: disable=g-import-not-at-top
  with h5py.File(path, "w") as f:
    names = []
    for layer in reference.layers:
      if not layer.name.startswith("block") or "conv" not in layer.name:
        continue
      block, index = layer.name[len("block"):].split("_conv")
      name = f"conv{block}_{index}"
      names.append(name.encode())
      group = f.create_group(name)
      weight_names = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
      group.attrs["weight_names"] = weight_names
      for key, value in zip(weight_names, layer.get_weights()):
        group.create_dataset(key.decode(), data=value)
    f.attrs["layer_names"] = names


def test_vggface_weights_file_gives_vgg16_features_with_its_mean(tmp_path):
  reference = tf.keras.applications.VGG16(include_top=False, weights=None,
                                          input_shape=(None, None, 3))
  path = str(tmp_path / "rcmalli_vggface_tf_notop_vgg16.h5")
  _write_vggface_h5(path, reference)
  feats = vgg.VGGFeatures(layers=("block1_conv1", "block4_conv2"),
                                 weights_path=path, network="vggface")
  assert [c.name for c in feats.convs][-1] == "block4_conv2"
  assert len(feats.convs) == 9  # VGG-16: 2 + 2 + 3 + 2 convs up to 4_2
  images = _images(2, size=32)
  x = (images + 1.0) * 127.5
  x = x[..., ::-1] - np.array(vgg.VGGFACE_MEAN_BGR, np.float32)
  expected = tf.keras.Model(reference.input,
                            reference.get_layer("block4_conv2").output)(x)
  np.testing.assert_allclose(feats(images)[1].numpy(), expected.numpy(),
                             rtol=1e-4, atol=1e-3)
  loss = perceptual.PerceptualLoss(path, network="vggface")
  assert loss.pretrained and float(loss(images, images)) == 0.0
  assert float(loss(images, images[::-1])) > 0.0


def test_vggface_file_errors_name_the_layer(tmp_path):
  import h5py  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / "broken.h5")
  with h5py.File(path, "w") as f:
    f.create_group("conv1_1").attrs["weight_names"] = []
  with pytest.raises(ValueError, match="conv1_1"):
    vgg.VGGFeatures(weights_path=path, network="vggface")
  with pytest.raises(ValueError, match="unknown perceptual network"):
    vgg.VGGFeatures(network="resnet")
