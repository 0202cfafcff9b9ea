"""VGG feature extractors: ImageNet VGG-19 and VGGFace's VGG-16.

Perceptual losses (ConfigNet's image loss, its one-shot VGGFace term,
LiftedGAN's and ACAI's perceptual terms) compare activations of these
networks. ConfigNet runs Keras' ImageNet VGG-19 on "caffe"-preprocessed
images (0..255, BGR, mean subtracted); keras-vggface's VGG-16 uses its own
BGR mean (93.5940, 104.7624, 129.1863).

Weights come from a local weights file (``vgg19_weights_tf_dim_ordering_
tf_kernels_notop.h5`` as ``keras.applications`` caches it;
``rcmalli_vggface_tf_notop_vgg16.h5`` for VGGFace) or are random; they
are never downloaded. ``width`` < 1 builds a narrower network (random weights
only) for CPU demos and tests.
"""

import os
from typing import Optional, Sequence

import tensorflow as tf

from tfface.layers.tracking import track
from tfface.networks import backbones

keras = tf.keras

VGG19_LAYERS = ("block1_conv1", "block1_conv2", "block3_conv2", "block4_conv2")
# Convolutions per block and their channel counts.
_VGG19_BLOCKS = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))
_VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
# VGGFace (keras-vggface's VGG16, rcmalli_vggface_tf_notop_vgg16.h5): the
# mean ConfigNet subtracts, BGR.
VGGFACE_MEAN_BGR = (93.5940, 104.7624, 129.1863)
# The networks: (conv blocks, mean BGR, what a weights file is).
NETWORKS = {
    "vgg19": (_VGG19_BLOCKS, backbones.CAFFE_MEAN_BGR,
              "a Keras VGG-19 (include_top=False) weights .h5 file"),
    "vggface": (_VGG16_BLOCKS, VGGFACE_MEAN_BGR,
                "a keras-vggface VGG16 no-top weights .h5 file "
                "(rcmalli_vggface_tf_notop_vgg16.h5)"),
}


class VGGFeatures(keras.Model):
  """VGG-19 (or VGGFace's VGG-16) convolutional features up to the deepest
  requested layer.

  Layer names are ``keras.applications``' (``block<b>_conv<c>``) so VGG-19
  weights copy over; VGGFace weights (keras-vggface names ``conv<b>_<c>``) are
  read from their h5 file by :func:`load_vggface_h5`.

  Args:
    layers: names of the layers whose (post-ReLU) activations are returned.
    weights_path: optional weights file (no top); requires ``width == 1``.
    width: channel multiplier (1 = the real network).
    network: ``"vgg19"`` (ImageNet VGG-19, caffe mean) or ``"vggface"``
      (VGGFace VGG-16, its own mean).
  """

  def __init__(self, layers: Sequence[str] = VGG19_LAYERS,
               weights_path: Optional[str] = None, width: float = 1.0,
               network: str = "vgg19", **kwargs):
    super().__init__(**kwargs)
    if network not in NETWORKS:
      raise ValueError(f"unknown perceptual network {network!r}; expected one "
                       f"of {sorted(NETWORKS)}")
    self.network = network
    conv_blocks, self.mean_bgr, self.weights_kind = NETWORKS[network]
    self.layer_names = tuple(layers)
    if weights_path and width != 1.0:
      raise ValueError(f"a {network} weights file needs width 1, got {width}")
    convs = []
    self.pool_after = set()
    names = []
    for b, (count, channels) in enumerate(conv_blocks, start=1):
      for c in range(1, count + 1):
        name = f"block{b}_conv{c}"
        names.append(name)
        convs.append(keras.layers.Conv2D(
            max(1, int(round(channels * width))), 3, padding="same",
            activation="relu", name=name))
      self.pool_after.add(names[-1])
    unknown = [n for n in self.layer_names if n not in names]
    if unknown or not self.layer_names:
      raise ValueError(f"unknown {network} layers {unknown or '(none)'}; "
                       f"expected names among {names}")
    last = max(names.index(n) for n in self.layer_names)
    self.convs = track(self, "conv", convs[:last + 1])
    self.weights_path = weights_path
    if weights_path:
      self._load(weights_path)

  def _load(self, path: str) -> None:
    if not os.path.isfile(path):
      raise ValueError(f"{self.network} weights file {path!r} does not exist; "
                       f"expected {self.weights_kind}")
    self(tf.zeros([1, 32, 32, 3]))
    if self.network == "vggface":
      load_vggface_h5(path, self.convs)
      return
    reference = keras.applications.VGG19(include_top=False, weights=path)
    for conv in self.convs:
      conv.set_weights(reference.get_layer(conv.name).get_weights())

  def build(self, input_shape):
    # Creates every conv's weights (their input channels are known).
    x = tf.zeros([1, 16, 16, 3])
    for conv in self.convs:
      x = conv(x)

  def call(self, images):
    """Activations of the requested layers.

    Args:
      images: `[B, H, W, 3]` float32 RGB in [-1, 1].

    Returns:
      list of `[B, h, w, c]` float32, in ``layers`` order.
    """
    x = backbones.caffe_preprocess(images, self.mean_bgr)
    found = {}
    for conv in self.convs:
      x = conv(x)
      if conv.name in self.layer_names:
        found[conv.name] = x
      if conv.name in self.pool_after:
        x = tf.nn.max_pool2d(x, 2, 2, "VALID")
    return [found[n] for n in self.layer_names]


def load_vggface_h5(path: str, convs: Sequence[keras.layers.Conv2D]) -> None:
  """Copies keras-vggface VGG16 weights into ``convs`` (``block<b>_conv<c>``).

  The file is a Keras 2 weights h5: a group per layer (``conv<b>_<c>``) whose
  ``weight_names`` attribute lists its kernel `[3, 3, in, out]` and bias.

  Raises:
    ValueError: a missing layer or a shape that does not match, naming it.
  """
  import h5py  # pylint: disable=g-import-not-at-top  (a Keras dependency)
  with h5py.File(path, "r") as f:
    root = f["model_weights"] if "model_weights" in f else f
    for conv in convs:
      block, index = conv.name[len("block"):].split("_conv")
      name = f"conv{block}_{index}"
      if name not in root:
        raise ValueError(f"{path}: no layer {name!r} (for {conv.name}); "
                         "expected a keras-vggface VGG16 weights file")
      group = root[name]
      weight_names = [n.decode() if isinstance(n, bytes) else n
                      for n in group.attrs["weight_names"]]
      values = [group[n][()] for n in weight_names]
      expected = [tuple(w.shape) for w in conv.weights]
      if [tuple(v.shape) for v in values] != expected:
        raise ValueError(f"{path}: layer {name!r} has shapes "
                         f"{[v.shape for v in values]}, expected {expected}")
      conv.set_weights(values)
