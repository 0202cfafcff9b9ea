"""The "improved" ResNet of face recognition (IR-ResNet), in Keras.

The layout of insightface's arcface_torch backbones (``deepinsight/insightface:
recognition/arcface_torch/backbones/iresnet.py``, iresnet18/34/50/100/200),
weight-compatible with them:

* stem: ``conv1`` 3×3 stride 1 (padding 1) -> ``bn1`` -> ``prelu``;
* stages ``layer1..layer4`` of ``IBasicBlock``s, ``width · (1, 2, 4, 8)``
  channels, the first block of each stage strided (2, 2, 2, 2). A block is
  ``bn1`` -> ``conv1`` 3×3 -> ``bn2`` -> ``prelu`` -> ``conv2`` 3×3 (stride)
  -> ``bn3``, plus the skip (``downsample``: 1×1 stride convolution + BN when
  the shape changes); no ReLU after the sum;
* head: ``bn2`` (BatchNorm2d) -> flatten -> dropout -> ``fc`` -> ``features``
  (BatchNorm1d). At 112 px the last feature map is 7×7 (``fc_scale = 7·7``).

Every BatchNorm uses PyTorch's ε = 1e-5, every PReLU has one slope per
channel (``nn.PReLU(C)``). Layer names mirror the PyTorch module names
(``layer2_0/bn3``, ``layer2_0/downsample_0``, ``features``).

PyTorch flattens the `(C, H, W)` map channel-major; this network flattens
NHWC (`(H, W, C)`), so ``fc``'s kernel rows are the PyTorch weight's columns
permuted (done by :func:`tfface.analysis.convert.convert_arcface`); the
networks compute the same function.

The same class expresses LiftedGAN's LResNet18 (``seasonSH/LiftedGAN:
models/face_embedding.py``: stem ``conv4×4`` stride 2 padding 1, first stage
stride 1, input 128 -> 8×8 map): ``IResNet(18, stem_kernel=4,
stem_stride=2, strides=(1, 2, 2, 2), input_size=128)``. Its checkpoint uses
other module names (``bn0/bn1/bn2`` in blocks, ``act_layer``, ``bn4``,
``fc5``, ``bn5``); no converter for it is written yet.

The network does no preprocessing; arcface_torch feeds RGB
``(x / 255 - 0.5) / 0.5``, i.e. tfface's [-1, 1] images unchanged.
"""

from typing import Dict, Sequence, Tuple

import tensorflow as tf

from tfface.layers.tracking import track
from tfface.networks import base
from tfface.networks.torchvision_resnet import batch_norm
from tfface.networks.torchvision_resnet import conv
from tfface.networks.torchvision_resnet import output_size
from tfface.networks.torchvision_resnet import torch_pad

keras = tf.keras

# depth -> blocks per stage (arcface_torch iresnet<depth>; 152 is LiftedGAN's
# LResNet table, which arcface_torch does not have).
DEPTHS: Dict[int, Tuple[int, int, int, int]] = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 14, 3),
    100: (3, 13, 30, 3),
    152: (3, 8, 36, 3),
    200: (6, 26, 60, 6),
}
# nn.PReLU's initial slope (keras' PReLU starts at 0).
PRELU_INIT = 0.25


def prelu(name: str) -> keras.layers.PReLU:
  """PReLU with one slope per channel (alpha `[1, 1, C]` on a feature map)."""
  return keras.layers.PReLU(
      alpha_initializer=keras.initializers.Constant(PRELU_INIT),
      shared_axes=[1, 2], name=name)


class IBasicBlock(keras.layers.Layer):
  """BN -> conv3×3 -> BN -> PReLU -> conv3×3(stride) -> BN, plus the skip.

  Args:
    planes: output channels.
    stride: stride of ``conv2`` (and of the projection).
    downsample: project the skip (1×1 stride convolution + BN).

  Call ``(x, training)``: `[B, H, W, C_in]` -> `[B, ⌈H/stride⌉,
  ⌈W/stride⌉, planes]`.
  """

  def __init__(self, planes: int, stride: int = 1, downsample: bool = False,
               **kwargs):
    super().__init__(**kwargs)
    self.bn1 = batch_norm("bn1")
    self.conv1 = conv(planes, 3, 1, "conv1")
    self.bn2 = batch_norm("bn2")
    self.prelu = prelu("prelu")
    self.conv2 = conv(planes, 3, stride, "conv2")
    self.bn3 = batch_norm("bn3")
    self.downsample_0 = (conv(planes, 1, stride, "downsample_0")
                         if downsample else None)
    self.downsample_1 = batch_norm("downsample_1") if downsample else None

  def call(self, x, training=None):
    out = self.bn1(x, training=training)
    out = self.bn2(self.conv1(torch_pad(out, 1)), training=training)
    out = self.prelu(out)
    out = self.bn3(self.conv2(torch_pad(out, 1)), training=training)
    skip = x
    if self.downsample_0 is not None:
      skip = self.downsample_1(self.downsample_0(x), training=training)
    return out + skip


class IResNet(base.Network):
  """IR-ResNet face embedding: images -> `[B, embedding_size]` (not normalized).

  Args:
    depth: 18, 34, 50, 100, 152 or 200 (:data:`DEPTHS`).
    width: channels of the stem and of ``layer1`` (64 in the reference;
      smaller values build a narrow network with the same key names).
    embedding_size: ``num_features`` of the reference (512).
    input_size: the square input the ``fc`` is sized for (112 for
      arcface_torch, whose last map is 7×7).
    dropout: dropout rate before ``fc``, applied only when training
      (arcface_torch trains with 0).
    stem_kernel: kernel of ``conv1`` (3; LResNet: 4).
    stem_stride: stride of ``conv1`` (1; LResNet: 2). The stem pads 1 pixel
      on each side, as both references.
    strides: strides of the four stages ((2, 2, 2, 2); LResNet (1, 2, 2, 2)).

  Call ``(x, training)``: `[B, input_size, input_size, 3]` float32, already
  preprocessed (arcface_torch: RGB in [-1, 1]) -> `[B, embedding_size]`
  float32, the output of ``features`` (BatchNorm1d), not L2-normalized.
  """

  def __init__(self, depth: int = 50, width: int = 64,
               embedding_size: int = 512, input_size: int = 112,
               dropout: float = 0.0, stem_kernel: int = 3,
               stem_stride: int = 1,
               strides: Sequence[int] = (2, 2, 2, 2), **kwargs):
    super().__init__(**kwargs)
    depth, width = int(depth), int(width)
    if depth not in DEPTHS:
      raise ValueError(f"IResNet depth must be one of {sorted(DEPTHS)}, got "
                       f"{depth}")
    strides = tuple(int(s) for s in strides)
    if len(strides) != 4 or any(s not in (1, 2) for s in strides):
      raise ValueError(f"strides must be four values of 1 or 2, got {strides}")
    if width < 1 or int(embedding_size) < 1:
      raise ValueError(f"width and embedding_size must be positive, got "
                       f"{width} and {embedding_size}")
    self.depth, self.width = depth, width
    self.embedding_size = int(embedding_size)
    self.input_size = int(input_size)
    self.dropout_rate = float(dropout)
    self.stem_kernel, self.stem_stride = int(stem_kernel), int(stem_stride)
    self.strides = strides
    self.block_counts = DEPTHS[depth]

    self.conv1 = conv(width, self.stem_kernel, self.stem_stride, "conv1")
    self.bn1 = batch_norm("bn1")
    self.prelu = prelu("prelu")
    size = output_size(self.input_size, self.stem_kernel, self.stem_stride, 1)
    in_channels = width
    stages = []
    for s, (count, stride) in enumerate(zip(self.block_counts, strides)):
      planes = width * 2**s
      stage = []
      for i in range(count):
        first = i == 0
        stage.append(IBasicBlock(
            planes, stride if first else 1,
            downsample=first and (stride != 1 or in_channels != planes),
            name=f"layer{s + 1}_{i}"))
        in_channels = planes
      size = output_size(size, 3, stride, 1)
      stages.append(track(self, f"layer{s + 1}", stage))
    self.stages = stages
    if size < 1:
      raise ValueError(f"input_size {self.input_size} is too small for this "
                       "IResNet")
    self.feature_map_size = size  # 7 at 112 px
    self.feature_channels = in_channels
    self.bn2 = batch_norm("bn2")
    self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout")
    self.fc = keras.layers.Dense(self.embedding_size, name="fc")
    self.features = batch_norm("features")

  def config(self) -> Dict[str, object]:
    """Constructor arguments that rebuild this architecture."""
    return {"depth": self.depth, "width": self.width,
            "embedding_size": self.embedding_size,
            "input_size": self.input_size, "dropout": self.dropout_rate,
            "stem_kernel": self.stem_kernel, "stem_stride": self.stem_stride,
            "strides": list(self.strides)}

  def call(self, x, training=None):
    x = self.conv1(torch_pad(x, 1))
    x = self.prelu(self.bn1(x, training=training))
    for stage in self.stages:
      for block in stage:
        x = block(x, training=training)
    x = self.bn2(x, training=training)
    # NHWC flatten; the converter permutes fc's rows from PyTorch's NCHW.
    x = tf.reshape(x, [-1, self.feature_map_size * self.feature_map_size *
                       self.feature_channels])
    x = self.dropout(x, training=training)
    return self.features(self.fc(x), training=training)
