"""torchvision's ResNet (v1.5) in Keras, weight-compatible with PyTorch.

Deep3DFaceRecon_pytorch's R-Net (``sicxu/Deep3DFaceRecon_pytorch:
models/networks.py``) is torchvision's ResNet-50 without its ``fc``. Two
things make ``keras.applications.ResNet50`` unable to hold those weights:

* torchvision's bottleneck puts the stride 2 of a downsampling unit on its
  3×3 convolution (``conv2``, "ResNet v1.5"); Keras' ResNet50 puts it on the
  first 1×1 convolution (the original paper's v1);
* PyTorch pads explicitly and symmetrically (``padding=k // 2``), while Keras'
  ``"same"`` pads a stride-2 convolution of an even input by (0, 1), so the
  sampling grid is shifted by a pixel.

:class:`TorchvisionResNet` therefore rebuilds the network layer by layer:
explicit symmetric zero padding and ``"valid"`` convolutions, BatchNorm with
PyTorch's ε = 1e-5, and layer names that mirror the PyTorch module names
(``conv1``, ``bn1``, ``layer2_0/conv2``, ``layer2_0/downsample_0``, ...), so a
converter maps ``layer2.0.conv2.weight`` to ``layer2_0/conv2/kernel``
(:mod:`tfface.analysis.convert`). Depths 18 and 34 use torchvision's basic
block (two 3×3 convolutions), 50, 101 and 152 the bottleneck.

The network does no preprocessing: it takes whatever input the weights were
trained on (Deep3DFaceRecon: RGB in [0, 1]).
"""

from typing import Dict, Tuple

import tensorflow as tf

from tfface.layers.tracking import track
from tfface.networks import base

keras = tf.keras

# PyTorch's BatchNorm default (keras' default is 1e-3).
BN_EPSILON = 1e-5
# depth -> (blocks per stage, bottleneck?) as torchvision's resnet<depth>.
DEPTHS: Dict[int, Tuple[Tuple[int, int, int, int], bool]] = {
    18: ((2, 2, 2, 2), False),
    34: ((3, 4, 6, 3), False),
    50: ((3, 4, 6, 3), True),
    101: ((3, 4, 23, 3), True),
    152: ((3, 8, 36, 3), True),
}
BOTTLENECK_EXPANSION = 4


def torch_pad(x: tf.Tensor, padding: int, value: float = 0.0) -> tf.Tensor:
  """Symmetric spatial padding, as PyTorch's ``padding=p`` argument.

  Args:
    x: `[B, H, W, C]`.
    padding: pixels added on each side of H and W.
    value: the fill value.

  Returns:
    `[B, H + 2p, W + 2p, C]`.
  """
  if padding == 0:
    return x
  return tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]],
                constant_values=value)


def conv(filters: int, kernel: int, stride: int, name: str,
         use_bias: bool = False) -> keras.layers.Conv2D:
  """A ``"valid"`` Conv2D; pad with :func:`torch_pad` before calling it."""
  return keras.layers.Conv2D(int(filters), int(kernel), strides=int(stride),
                             padding="valid", use_bias=use_bias, name=name)


def batch_norm(name: str) -> keras.layers.BatchNormalization:
  """BatchNorm over the last axis with PyTorch's ε (and its momentum 0.1)."""
  return keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.9,
                                         name=name)


class BasicBlock(keras.layers.Layer):
  """torchvision ``BasicBlock``: conv3×3(stride)-BN-ReLU-conv3×3-BN, skip, ReLU.

  Args:
    planes: output channels.
    stride: 1 or 2 (on ``conv1``).
    downsample: add the 1×1 (stride) convolution + BN projection of the skip.

  Call ``(x, training)``: `[B, H, W, C_in]` -> `[B, H/stride, W/stride,
  planes]` (H/stride rounded up).
  """

  expansion = 1

  def __init__(self, planes: int, stride: int = 1, downsample: bool = False,
               **kwargs):
    super().__init__(**kwargs)
    self.stride = int(stride)
    self.conv1 = conv(planes, 3, stride, "conv1")
    self.bn1 = batch_norm("bn1")
    self.conv2 = conv(planes, 3, 1, "conv2")
    self.bn2 = batch_norm("bn2")
    self.downsample_0 = (conv(planes, 1, stride, "downsample_0")
                         if downsample else None)
    self.downsample_1 = batch_norm("downsample_1") if downsample else None

  def call(self, x, training=None):
    out = tf.nn.relu(self.bn1(self.conv1(torch_pad(x, 1)), training=training))
    out = self.bn2(self.conv2(torch_pad(out, 1)), training=training)
    skip = x
    if self.downsample_0 is not None:
      skip = self.downsample_1(self.downsample_0(x), training=training)
    return tf.nn.relu(out + skip)


class Bottleneck(keras.layers.Layer):
  """torchvision ``Bottleneck`` (v1.5): the stride sits on the 3×3 ``conv2``.

  ``conv1`` 1×1 -> BN -> ReLU -> ``conv2`` 3×3 (stride, padding 1) -> BN ->
  ReLU -> ``conv3`` 1×1 (×4 channels) -> BN, plus the skip (1×1 stride
  convolution + BN when ``downsample``), then ReLU.

  Args:
    planes: bottleneck channels; the block outputs ``4 · planes``.
    stride: 1 or 2.
    downsample: project the skip connection.

  Call ``(x, training)``: `[B, H, W, C_in]` -> `[B, H/stride, W/stride,
  4·planes]`.
  """

  expansion = BOTTLENECK_EXPANSION

  def __init__(self, planes: int, stride: int = 1, downsample: bool = False,
               **kwargs):
    super().__init__(**kwargs)
    self.stride = int(stride)
    out = int(planes) * BOTTLENECK_EXPANSION
    self.conv1 = conv(planes, 1, 1, "conv1")
    self.bn1 = batch_norm("bn1")
    self.conv2 = conv(planes, 3, stride, "conv2")
    self.bn2 = batch_norm("bn2")
    self.conv3 = conv(out, 1, 1, "conv3")
    self.bn3 = batch_norm("bn3")
    self.downsample_0 = (conv(out, 1, stride, "downsample_0")
                         if downsample else None)
    self.downsample_1 = batch_norm("downsample_1") if downsample else None

  def call(self, x, training=None):
    out = tf.nn.relu(self.bn1(self.conv1(x), training=training))
    out = tf.nn.relu(self.bn2(self.conv2(torch_pad(out, 1)),
                              training=training))
    out = self.bn3(self.conv3(out), training=training)
    skip = x
    if self.downsample_0 is not None:
      skip = self.downsample_1(self.downsample_0(x), training=training)
    return tf.nn.relu(out + skip)


class TorchvisionResNet(base.Network):
  """torchvision's ResNet without ``fc``: images -> pooled features.

  Stem: ``conv1`` 7×7 stride 2 (padding 3) -> ``bn1`` -> ReLU -> max-pool 3×3
  stride 2 (padding 1); stages ``layer1..layer4`` with ``width · (1, 2, 4,
  8)`` planes, strides (1, 2, 2, 2); global average pooling.

  Args:
    depth: 18, 34, 50, 101 or 152 (:data:`DEPTHS`).
    width: channels of the stem and planes of ``layer1`` (64 in torchvision;
      smaller values give a narrow network with the same structure and key
      names, for tests).

  Call ``(x, training)``: `[B, H, W, 3]` float32, preprocessed as the
  weights expect (no preprocessing here) -> `[B, feature_size]` float32,
  ``feature_size = 8 · width · expansion`` (2048 for ResNet-50, 512 for
  ResNet-18/34).
  """

  def __init__(self, depth: int = 50, width: int = 64, **kwargs):
    super().__init__(**kwargs)
    depth, width = int(depth), int(width)
    if depth not in DEPTHS:
      raise ValueError(f"torchvision ResNet depth must be one of "
                       f"{sorted(DEPTHS)}, got {depth}")
    if width < 1:
      raise ValueError(f"width must be a positive int, got {width}")
    self.depth, self.width = depth, width
    blocks, bottleneck = DEPTHS[depth]
    self.block_counts = blocks
    self.bottleneck = bottleneck
    block_class = Bottleneck if bottleneck else BasicBlock
    self.conv1 = conv(width, 7, 2, "conv1")
    self.bn1 = batch_norm("bn1")
    in_channels = width
    stages = []
    for s, count in enumerate(blocks):
      planes = width * 2**s
      stride = 1 if s == 0 else 2
      out_channels = planes * block_class.expansion
      stage = []
      for i in range(count):
        first = i == 0
        stage.append(block_class(
            planes, stride if first else 1,
            downsample=first and (stride != 1 or in_channels != out_channels),
            name=f"layer{s + 1}_{i}"))
        in_channels = out_channels
      stages.append(track(self, f"layer{s + 1}", stage))
    self.stages = stages
    self.feature_size = in_channels

  def config(self) -> Dict[str, int]:
    """Constructor arguments that rebuild this architecture."""
    return {"depth": self.depth, "width": self.width}

  def call(self, x, training=None):
    x = tf.nn.relu(self.bn1(self.conv1(torch_pad(x, 3)), training=training))
    # After the ReLU every value is >= 0, so zero padding gives the same
    # maximum as PyTorch's implicit -inf padding of MaxPool2d(3, 2, 1).
    x = tf.nn.max_pool2d(torch_pad(x, 1), 3, 2, "VALID")
    for stage in self.stages:
      for block in stage:
        x = block(x, training=training)
    return tf.reduce_mean(x, axis=[1, 2])

  def stage_blocks(self, stage: int) -> list:
    """The blocks of ``layer<stage>`` (1-based, as torchvision)."""
    return list(self.stages[stage - 1])


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
  """PyTorch's convolution / pooling output length (floor mode)."""
  return (int(size) + 2 * int(padding) - int(kernel)) // int(stride) + 1
