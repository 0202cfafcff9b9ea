"""VGG perceptual loss (ConfigNet's image loss; reusable by other methods).

ConfigNet's reference (``perceptual_loss.py``) sums, over the VGG-19 layers
``block1_conv1, block1_conv2, block3_conv2, block4_conv2``, the mean squared
difference of the activations of caffe-preprocessed images; its one-shot
fine-tuning adds the same loss on **VGGFace** (``network="vggface"``). The
feature networks are :mod:`tfface.networks.vgg`. Without a weights file the
features are random: random convolutional features still measure local
structure, which is the documented fallback when no weights file exists.
"""

from typing import Optional, Sequence

import tensorflow as tf

from tfface.networks.vgg import VGG19_LAYERS
from tfface.networks.vgg import VGGFeatures


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
