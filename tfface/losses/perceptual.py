"""VGG perceptual loss (ConfigNet's image loss; reusable by other methods).

ConfigNet's reference (``perceptual_loss.py``) runs Keras' ImageNet VGG-19 on
"caffe"-preprocessed images (0..255, BGR, mean subtracted) and sums, over the
layers ``block1_conv1, block1_conv2, block3_conv2, block4_conv2``, the mean
squared difference of the activations. Its one-shot fine-tuning adds the same
loss on **VGGFace** (keras-vggface's VGG-16, ``network="vggface"``: the same
four layers, BGR mean 93.5940, 104.7624, 129.1863).

Weights come from a local weights file (``vgg19_weights_tf_dim_ordering_
tf_kernels_notop.h5`` as ``keras.applications`` caches it;
``rcmalli_vggface_tf_notop_vgg16.h5`` for VGGFace) or are random; they
are never downloaded. ``width`` < 1 builds a narrower network (random weights
only) for CPU demos and tests: random convolutional features still measure
local structure, which is the documented fallback when no weights file exists.
"""

import os
from typing import Optional, Sequence

import tensorflow as tf

keras = tf.keras

VGG19_LAYERS = ("block1_conv1", "block1_conv2", "block3_conv2", "block4_conv2")
# Convolutions per block and their channel counts.
_VGG19_BLOCKS = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))
_VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# VGGFace (keras-vggface's VGG16, rcmalli_vggface_tf_notop_vgg16.h5): the
# mean ConfigNet subtracts, BGR.
VGGFACE_MEAN_BGR = (93.5940, 104.7624, 129.1863)
# The networks: (conv blocks, mean BGR, what a weights file is).
NETWORKS = {
    "vgg19": (_VGG19_BLOCKS, _CAFFE_MEAN_BGR,
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
    self.convs = []
    self.pool_after = set()
    names = []
    for b, (count, channels) in enumerate(conv_blocks, start=1):
      for c in range(1, count + 1):
        name = f"block{b}_conv{c}"
        names.append(name)
        self.convs.append(keras.layers.Conv2D(
            max(1, int(round(channels * width))), 3, padding="same",
            activation="relu", name=name))
      self.pool_after.add(names[-1])
    unknown = [n for n in self.layer_names if n not in names]
    if unknown or not self.layer_names:
      raise ValueError(f"unknown {network} layers {unknown or '(none)'}; "
                       f"expected names among {names}")
    last = max(names.index(n) for n in self.layer_names)
    self.convs = self.convs[:last + 1]
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
    x = (images + 1.0) * 127.5
    x = x[..., ::-1] - tf.constant(self.mean_bgr, tf.float32)
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


class PerceptualLoss:
  """``Σ_layers mean((φ(a) - φ(b))²)`` plus an optional pixel L1 term.

  Args:
    weights_path: VGG-19 weights file, or None for random weights.
    layers: VGG-19 layer names (ConfigNet's by default).
    width: channel multiplier of the random-weight network.
    pixel_l1_weight: weight of ``mean|a - b|`` added to the feature term
      (0 with real weights in ConfigNet; the CPU fallback uses it).
    network: ``"vgg19"`` (ConfigNet's image loss) or ``"vggface"`` (its face
      perceptual term in one-shot fine-tuning; the same four layers).
  """

  def __init__(self, weights_path: Optional[str] = None,
               layers: Sequence[str] = VGG19_LAYERS, width: float = 1.0,
               pixel_l1_weight: float = 0.0, network: str = "vgg19"):
    self.features = VGGFeatures(layers, weights_path, width, network,
                                name=f"{network}_features")
    self.features.trainable = False
    self.pixel_l1_weight = float(pixel_l1_weight)
    self.pretrained = bool(weights_path)

  def build(self, image_size: int = 32) -> None:
    self.features(tf.zeros([1, image_size, image_size, 3]))

  def per_example(self, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Per-image loss.

    Args:
      a, b: `[B, H, W, 3]` float32 in [-1, 1].

    Returns:
      `[B]` float32.
    """
    if a.shape[-1] != 3 or b.shape[-1] != 3:
      raise ValueError(f"perceptual loss expects [B, H, W, 3] images, got "
                       f"{a.shape} and {b.shape}")
    fa = self.features(a)
    fb = self.features(b)
    loss = tf.add_n([tf.reduce_mean(tf.square(x - y), axis=[1, 2, 3])
                     for x, y in zip(fa, fb)])
    if self.pixel_l1_weight:
      loss += self.pixel_l1_weight * tf.reduce_mean(tf.abs(a - b), [1, 2, 3])
    return loss

  def __call__(self, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Batch-mean loss (scalar)."""
    return tf.reduce_mean(self.per_example(a, b))
