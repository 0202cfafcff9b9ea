"""The convolutional trunk the face-analysis networks tfface trains share.

A residual network sized for tfface's synthetic faces (not from any
reference): a 3×3 stem, then stages of pre-activation residual blocks
(BatchNorm, ReLU, 3×3 conv, twice), each stage after the first halving the
resolution. It returns every stage's feature map, so the heads choose what
they need: the pooled last map (reconstruction, identity), a spatial map
(landmark heatmaps) or all of them (the parser's U-Net decoder).

At the papers' resolution the reconstruction net can use Keras' ResNet-50
instead (:mod:`tfface.networks.backbones`); the converted public networks
bring their own trunks (:mod:`tfface.analysis.public_nets`).
"""

from typing import List, Sequence

import tensorflow as tf

from tfface.layers.tracking import track

keras = tf.keras


def resize_to(images: tf.Tensor, size: int) -> tf.Tensor:
  """Bilinear resize of `[B, H, W, C]` to `[B, size, size, C]` (no-op if same).

  Antialiased when shrinking, so a 256 px input seen at 64 px is not aliased.
  """
  if images.shape[1] == size and images.shape[2] == size:
    return images
  return tf.image.resize(images, [size, size], method="bilinear",
                         antialias=True)


class ResidualBlock(keras.layers.Layer):
  """Pre-activation residual block: x + conv(relu(bn(conv(relu(bn(x)))))).

  A 1×1 projection (with the stride) joins when width or size change.
  Call ``(x, training)``: `[B, H, W, C_in]` -> `[B, H / s, W / s, width]`.
  """

  def __init__(self, width: int, stride: int = 1, **kwargs):
    super().__init__(**kwargs)
    self.width, self.stride = int(width), int(stride)
    self.norm_1 = keras.layers.BatchNormalization(name="norm_1")
    self.conv_1 = keras.layers.Conv2D(self.width, 3, self.stride, "same",
                                      use_bias=False, name="conv_1")
    self.norm_2 = keras.layers.BatchNormalization(name="norm_2")
    self.conv_2 = keras.layers.Conv2D(self.width, 3, 1, "same",
                                      use_bias=False, name="conv_2")
    self.shortcut = None

  def build(self, input_shape):
    if input_shape[-1] != self.width or self.stride != 1:
      self.shortcut = keras.layers.Conv2D(self.width, 1, self.stride, "same",
                                          use_bias=False, name="shortcut")
    super().build(input_shape)

  def call(self, x, training=None):
    y = tf.nn.relu(self.norm_1(x, training=training))
    skip = x if self.shortcut is None else self.shortcut(y)
    y = self.conv_1(y)
    y = self.conv_2(tf.nn.relu(self.norm_2(y, training=training)))
    return skip + y


class ResidualBackbone(keras.layers.Layer):
  """Stem + residual stages; returns the feature map of every stage.

  Args:
    widths: channels per stage; stage ``i > 0`` halves the resolution.
    blocks_per_stage: residual blocks in each stage.
    stem_stride: stride of the stem conv (2 halves the input once more).

  Call ``(images, training)``: `[B, R, R, 3]` float32 in [-1, 1] -> list of
  `[B, R / (stem_stride · 2^i), ..., widths[i]]` float32, one per stage,
  each after a final BatchNorm + ReLU.
  """

  def __init__(self, widths: Sequence[int] = (32, 64, 128, 256),
               blocks_per_stage: int = 1, stem_stride: int = 1, **kwargs):
    super().__init__(**kwargs)
    self.widths = tuple(int(w) for w in widths)
    self.stem = keras.layers.Conv2D(self.widths[0], 3, int(stem_stride),
                                    "same", use_bias=False, name="stem")
    blocks = []
    for i, width in enumerate(self.widths):
      for j in range(int(blocks_per_stage)):
        blocks.append(ResidualBlock(width, 2 if (i > 0 and j == 0) else 1,
                                    name=f"block_{i}_{j}"))
    self.blocks = track(self, "block", blocks)
    self.blocks_per_stage = int(blocks_per_stage)
    self.norms = track(self, "out_norm", [
        keras.layers.BatchNormalization(name=f"out_norm_{i}")
        for i in range(len(self.widths))])

  def call(self, images, training=None) -> List[tf.Tensor]:
    x = self.stem(images)
    features = []
    for i in range(len(self.widths)):
      for j in range(self.blocks_per_stage):
        x = self.blocks[i * self.blocks_per_stage + j](x, training=training)
      features.append(tf.nn.relu(self.norms[i](x, training=training)))
    return features
