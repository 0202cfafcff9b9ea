"""Inception-ResNet-v1, the FaceNet architecture of timesler/facenet-pytorch.

Layer for layer the ``InceptionResnetV1`` of facenet-pytorch
(``models/inception_resnet_v1.py``), itself a port of David Sandberg's TF1
FaceNet ``inception_resnet_v1`` (Szegedy et al. 2016, Inception-ResNet-v1):

====================  ==========================================  ==============
facenet-pytorch       what                                        out at 160 px
====================  ==========================================  ==============
``conv2d_1a``         3×3 conv stride 2                           79², 32
``conv2d_2a``         3×3 conv                                    77², 32
``conv2d_2b``         3×3 conv, pad 1                             77², 64
``maxpool_3a``        3×3 max-pool stride 2                       38², 64
``conv2d_3b``         1×1 conv                                    38², 80
``conv2d_4a``         3×3 conv                                    36², 192
``conv2d_4b``         3×3 conv stride 2                           17², 256
``repeat_1.0-4``      Block35 ×5, residual scale 0.17             17², 256
``mixed_6a``          reduction A                                 8², 896
``repeat_2.0-9``      Block17 ×10, residual scale 0.10            8², 896
``mixed_7a``          reduction B                                 3², 1792
``repeat_3.0-4``      Block8 ×5, residual scale 0.20              3², 1792
``block8``            Block8, scale 1.0, no ReLU                  3², 1792
``avgpool_1a``        global average pool, dropout (p = 0.6)      1792
``last_linear``       dense, no bias                              512
``last_bn``           BatchNorm1d, eps 1e-3                       512
(``logits``)          dense, only with ``num_classes > 0``        num_classes
====================  ==========================================  ==============

Every "conv" above is a ``BasicConv2d``: conv without bias, BatchNorm (eps
1e-3, Keras momentum 0.9 = PyTorch momentum 0.1), ReLU. The residual blocks
end in a 1×1 conv *with* bias, scaled and added to their input.

Keras layer names follow the PyTorch attribute names with ``.`` replaced by
``_`` (``repeat_1.0.branch1.1`` is the layer ``repeat_1_0/branch1_1``), and
:meth:`InceptionResnetV1.torch_variables` gives the facenet-pytorch
``state_dict`` key of every Keras variable, which is what the converter
(:mod:`tfface.analysis.convert_facenet`) fills them from.

Every layer builds its children from shapes (``build``) rather than leaving
Keras 3 to trace ``call`` symbolically, which it would redo at every nesting
level (a several-fold slower first call).

Inputs are NHWC and already standardised the way facenet-pytorch's
``fixed_image_standardization`` does, ``(pixel_0_255 - 127.5) / 128``; the
analysis network :class:`tfface.analysis.facenet.FaceNet` does that (and the
resizing to 160 px) for tfface's `[-1, 1]` images. The network works at any
input size of at least 75 px (the last feature map is then 1×1).
"""

from typing import Dict, Sequence, Tuple, Union

import tensorflow as tf

from tfface.layers.tracking import track
from tfface.networks import base

keras = tf.keras

# How a Keras variable's array relates to its PyTorch tensor (see
# :meth:`InceptionResnetV1.torch_variables`).
CONV = "conv"      # PyTorch (out, in, kh, kw)  <->  Keras (kh, kw, in, out)
LINEAR = "linear"  # PyTorch (out, in)          <->  Keras (in, out)
VECTOR = "vector"  # the same 1-D array on both sides

BN_EPSILON = 1e-3  # facenet-pytorch (value of Sandberg's TF1 model)
# PyTorch's BatchNorm momentum 0.1 weights the *new* batch; Keras' momentum
# weights the running average.
BN_MOMENTUM = 0.9

IntPair = Union[int, Tuple[int, int]]
# One BasicConv2d: (filters, kernel, stride, padding) in PyTorch's terms.
ConvSpec = Tuple[int, IntPair, int, IntPair]

# The branches of each block: a branch of one conv is a bare BasicConv2d in
# facenet-pytorch (key ``branch0.conv.weight``), a longer one an
# nn.Sequential (keys ``branch1.0.conv.weight``, ``branch1.1...``).
BLOCK35_BRANCHES = (
    ((32, 1, 1, 0),),
    ((32, 1, 1, 0), (32, 3, 1, 1)),
    ((32, 1, 1, 0), (32, 3, 1, 1), (32, 3, 1, 1)),
)
BLOCK17_BRANCHES = (
    ((128, 1, 1, 0),),
    ((128, 1, 1, 0), (128, (1, 7), 1, (0, 3)), (128, (7, 1), 1, (3, 0))),
)
BLOCK8_BRANCHES = (
    ((192, 1, 1, 0),),
    ((192, 1, 1, 0), (192, (1, 3), 1, (0, 1)), (192, (3, 1), 1, (1, 0))),
)
MIXED_6A_BRANCHES = (
    ((384, 3, 2, 0),),
    ((192, 1, 1, 0), (192, 3, 1, 1), (256, 3, 2, 0)),
)
MIXED_7A_BRANCHES = (
    ((256, 1, 1, 0), (384, 3, 2, 0)),
    ((256, 1, 1, 0), (256, 3, 2, 0)),
    ((256, 1, 1, 0), (256, 3, 1, 1), (256, 3, 2, 0)),
)
# (PyTorch attribute, filters, kernel, stride, padding) of the stem convs.
STEM = (
    ("conv2d_1a", 32, 3, 2, 0),
    ("conv2d_2a", 32, 3, 1, 0),
    ("conv2d_2b", 64, 3, 1, 1),
    ("maxpool_3a", None, 3, 2, 0),
    ("conv2d_3b", 80, 1, 1, 0),
    ("conv2d_4a", 192, 3, 1, 0),
    ("conv2d_4b", 256, 3, 2, 0),
)
REPEATS = (5, 10, 5)
SCALES = (0.17, 0.10, 0.20)

TorchVariables = Dict[str, Tuple[tf.Variable, str]]


def _pair(value: IntPair) -> Tuple[int, int]:
  if isinstance(value, int):
    return (value, value)
  return (int(value[0]), int(value[1]))


def l2_normalize(x: tf.Tensor, epsilon: float = 1e-12) -> tf.Tensor:
  """``F.normalize(x, p=2, dim=1)``: `x / max(‖x‖, epsilon)` on the last axis.

  ``tf.math.l2_normalize`` clamps the *squared* norm at epsilon instead; this
  matches PyTorch, and stays differentiable at 0.

  Args:
    x: `[B, D]` float32.

  Returns:
    `[B, D]` float32, rows of unit length (unless all zero).
  """
  squared = tf.reduce_sum(tf.square(x), axis=-1, keepdims=True)
  return x / tf.sqrt(tf.maximum(squared, epsilon * epsilon))


class BasicConv2d(keras.layers.Layer):
  """Conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU, padded as in PyTorch.

  PyTorch pads ``padding`` zeros on both sides. Keras' ``"same"`` does exactly
  that for stride 1 and an odd kernel (``k // 2`` each side), so it is used
  there; at stride 2 TF's ``"same"`` pads more at the bottom/right than the
  top/left, so any other padding is an explicit symmetric ``ZeroPadding2D``
  before a ``"valid"`` conv. facenet-pytorch's stride-2 convs are unpadded.

  Args:
    filters: output channels.
    kernel_size: ``k`` or ``(kh, kw)``.
    strides: the stride (both axes).
    padding: PyTorch's ``padding``, ``p`` or ``(ph, pw)`` zeros on each side.

  Call: `[B, H, W, C]` float32 -> `[B, H', W', filters]` float32 (≥ 0).
  """

  def __init__(self, filters: int, kernel_size: IntPair, strides: int = 1,
               padding: IntPair = 0, **kwargs):
    super().__init__(**kwargs)
    kh, kw = _pair(kernel_size)
    ph, pw = _pair(padding)
    self.pad = None
    if (ph, pw) == (0, 0):
      mode = "valid"
    elif strides == 1 and kh % 2 and kw % 2 and (ph, pw) == (kh // 2, kw // 2):
      mode = "same"
    else:
      mode = "valid"
      self.pad = keras.layers.ZeroPadding2D(((ph, ph), (pw, pw)), name="pad")
    self.conv = keras.layers.Conv2D(int(filters), (kh, kw), strides=strides,
                                    padding=mode, use_bias=False, name="conv")
    self.bn = keras.layers.BatchNormalization(
        epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="bn")

  def build(self, input_shape):
    shape = tuple(input_shape)
    if self.pad is not None:
      self.pad.build(shape)
      shape = self.pad.compute_output_shape(shape)
    self.conv.build(shape)
    self.bn.build(self.conv.compute_output_shape(shape))

  def compute_output_shape(self, input_shape):
    shape = tuple(input_shape)
    if self.pad is not None:
      shape = self.pad.compute_output_shape(shape)
    return self.conv.compute_output_shape(shape)

  def call(self, x, training=False):
    if self.pad is not None:
      x = self.pad(x)
    return tf.nn.relu(self.bn(self.conv(x), training=training))

  def torch_variables(self, prefix: str) -> TorchVariables:
    """``{"<prefix>.conv.weight": (kernel, CONV), "<prefix>.bn.*": ...}``."""
    return {
        f"{prefix}.conv.weight": (self.conv.kernel, CONV),
        f"{prefix}.bn.weight": (self.bn.gamma, VECTOR),
        f"{prefix}.bn.bias": (self.bn.beta, VECTOR),
        f"{prefix}.bn.running_mean": (self.bn.moving_mean, VECTOR),
        f"{prefix}.bn.running_var": (self.bn.moving_variance, VECTOR),
    }


class _Branches(keras.layers.Layer):
  """Parallel stacks of :class:`BasicConv2d`, concatenated on channels.

  Args:
    branches: per branch, a sequence of ``(filters, kernel, stride,
      padding)``; a one-conv branch is named ``branch<i>`` (a bare
      BasicConv2d in PyTorch), a longer one ``branch<i>_<j>``.
    max_pool: append a 3×3 stride-2 unpadded max-pool branch (Mixed_6a /
      Mixed_7a's last branch, which has no variables).
  """

  def __init__(self, branches: Sequence[Sequence[ConvSpec]],
               max_pool: bool = False, **kwargs):
    super().__init__(**kwargs)
    self._names = []  # (Keras attribute / layer name, PyTorch suffix)
    convs = {}
    for i, branch in enumerate(branches):
      if len(branch) == 1:
        spec = [(f"branch{i}", f"branch{i}")]
      else:
        spec = [(f"branch{i}_{j}", f"branch{i}.{j}")
                for j in range(len(branch))]
      for (name, _), (filters, kernel, stride, padding) in zip(spec, branch):
        convs[name] = BasicConv2d(filters, kernel, stride, padding, name=name)
      self._names.append(spec)
    self.convs = track(self, "conv", convs)
    self.pool = (keras.layers.MaxPool2D(3, 2, padding="valid",
                                        name=f"branch{len(branches)}")
                 if max_pool else None)

  def _branch_shapes(self, input_shape, build):
    shapes = []
    for spec in self._names:
      shape = tuple(input_shape)
      for name, _ in spec:
        if build:
          self.convs[name].build(shape)
        shape = self.convs[name].compute_output_shape(shape)
      shapes.append(shape)
    if self.pool is not None:
      shapes.append(self.pool.compute_output_shape(tuple(input_shape)))
    return shapes

  def build(self, input_shape):
    self._branch_shapes(input_shape, build=True)

  def compute_output_shape(self, input_shape):
    shapes = self._branch_shapes(input_shape, build=False)
    return shapes[0][:-1] + (sum(s[-1] for s in shapes),)

  def call(self, x, training=False):
    outputs = []
    for spec in self._names:
      y = x
      for name, _ in spec:
        y = self.convs[name](y, training=training)
      outputs.append(y)
    if self.pool is not None:
      outputs.append(self.pool(x))
    # torch.cat(..., 1) on NCHW = the channel axis, in branch order.
    return tf.concat(outputs, axis=-1)

  def torch_variables(self, prefix: str) -> TorchVariables:
    out = {}
    for spec in self._names:
      for name, suffix in spec:
        out.update(self.convs[name].torch_variables(f"{prefix}.{suffix}"))
    return out


class InceptionResidualBlock(keras.layers.Layer):
  """Block35 / Block17 / Block8: `relu(x + scale · conv1x1(concat(branches)))`.

  Args:
    branches: :data:`BLOCK35_BRANCHES`, :data:`BLOCK17_BRANCHES` or
      :data:`BLOCK8_BRANCHES`.
    channels: the 1×1 conv's output channels, equal to the input's (256, 896,
      1792).
    scale: the residual scale (0.17, 0.10, 0.20; 1.0 for ``block8``).
    activate: apply the final ReLU (False for facenet-pytorch's ``block8``,
      ``noReLU=True``).

  Call: `[B, H, W, channels]` float32 -> the same shape.
  """

  def __init__(self, branches: Sequence[Sequence[ConvSpec]], channels: int,
               scale: float = 1.0, activate: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.scale = float(scale)
    self.activate = bool(activate)
    self.branches = _Branches(branches, name="branches")
    self.conv2d = keras.layers.Conv2D(int(channels), 1, use_bias=True,
                                      name="conv2d")

  def build(self, input_shape):
    self.branches.build(input_shape)
    self.conv2d.build(self.branches.compute_output_shape(input_shape))

  def compute_output_shape(self, input_shape):
    return tuple(input_shape)

  def call(self, x, training=False):
    out = self.conv2d(self.branches(x, training=training)) * self.scale + x
    return tf.nn.relu(out) if self.activate else out

  def torch_variables(self, prefix: str) -> TorchVariables:
    out = self.branches.torch_variables(prefix)
    out[f"{prefix}.conv2d.weight"] = (self.conv2d.kernel, CONV)
    out[f"{prefix}.conv2d.bias"] = (self.conv2d.bias, VECTOR)
    return out


def block35(scale: float = 0.17, **kwargs) -> InceptionResidualBlock:
  """facenet-pytorch ``Block35`` (35×35 grid at 299 px): 256 channels."""
  return InceptionResidualBlock(BLOCK35_BRANCHES, 256, scale, **kwargs)


def block17(scale: float = 0.10, **kwargs) -> InceptionResidualBlock:
  """facenet-pytorch ``Block17`` (1×7 / 7×1 convs): 896 channels."""
  return InceptionResidualBlock(BLOCK17_BRANCHES, 896, scale, **kwargs)


def block8(scale: float = 0.20, activate: bool = True,
           **kwargs) -> InceptionResidualBlock:
  """facenet-pytorch ``Block8`` (1×3 / 3×1 convs): 1792 channels."""
  return InceptionResidualBlock(BLOCK8_BRANCHES, 1792, scale, activate,
                                **kwargs)


class MixedReduction(keras.layers.Layer):
  """Mixed_6a / Mixed_7a: stride-2 conv branches and a max-pool, concatenated.

  Args:
    branches: :data:`MIXED_6A_BRANCHES` (256 -> 384 + 256 + 256 = 896
      channels) or :data:`MIXED_7A_BRANCHES` (896 -> 384 + 256 + 256 + 896 =
      1792).

  Call: `[B, H, W, C]` float32 -> `[B, (H - 3) // 2 + 1, (W - 3) // 2 + 1,
  C_out]`.
  """

  def __init__(self, branches: Sequence[Sequence[ConvSpec]], **kwargs):
    super().__init__(**kwargs)
    self.branches = _Branches(branches, max_pool=True, name="branches")

  def build(self, input_shape):
    self.branches.build(input_shape)

  def compute_output_shape(self, input_shape):
    return self.branches.compute_output_shape(input_shape)

  def call(self, x, training=False):
    return self.branches(x, training=training)

  def torch_variables(self, prefix: str) -> TorchVariables:
    return self.branches.torch_variables(prefix)


def mixed_6a(**kwargs) -> MixedReduction:
  return MixedReduction(MIXED_6A_BRANCHES, **kwargs)


def mixed_7a(**kwargs) -> MixedReduction:
  return MixedReduction(MIXED_7A_BRANCHES, **kwargs)


class InceptionResnetV1(base.Network):
  """facenet-pytorch's ``InceptionResnetV1`` (see the module docstring).

  Args:
    embedding_size: ``last_linear`` / ``last_bn`` width: 512 for
      facenet-pytorch's 'vggface2' and 'casia-webface' weights (Sandberg's
      20180402-114759 / 20180408-102900); 128 for Sandberg's older models such
      as 20170512-110547, if converted to this layout.
    num_classes: size of the ``logits`` layer (8631 for 'vggface2', 10575 for
      'casia-webface'), or 0 for none (facenet-pytorch's ``classify=False``
      never uses it).
    dropout_rate: dropout before ``last_linear`` (only when training).

  Call: `[B, H, W, 3]` float32 standardised RGB, ``(pixel_0_255 - 127.5) /
  128`` (about [-1, 1]), H, W ≥ 75 (160 for the released weights) ->
  `[B, embedding_size]` float32 L2-normalised embedding.
  """

  def __init__(self, embedding_size: int = 512, num_classes: int = 0,
               dropout_rate: float = 0.6, **kwargs):
    super().__init__(**kwargs)
    self.embedding_size = int(embedding_size)
    self.num_classes = int(num_classes)
    self.dropout_rate = float(dropout_rate)
    stem = {}
    for name, filters, kernel, stride, padding in STEM:
      if filters is None:
        stem[name] = keras.layers.MaxPool2D(kernel, stride, padding="valid",
                                            name=name)
      else:
        stem[name] = BasicConv2d(filters, kernel, stride, padding, name=name)
    self.stem = track(self, "stem", stem)
    makers = (block35, block17, block8)
    self.repeats = []
    for stage, (maker, count, scale) in enumerate(zip(makers, REPEATS, SCALES),
                                                  start=1):
      blocks = [maker(scale, name=f"repeat_{stage}_{i}") for i in range(count)]
      self.repeats.append(track(self, f"repeat_{stage}", blocks))
    self.mixed_6a = mixed_6a(name="mixed_6a")
    self.mixed_7a = mixed_7a(name="mixed_7a")
    self.block8 = block8(1.0, activate=False, name="block8")
    self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout")
    self.last_linear = keras.layers.Dense(self.embedding_size, use_bias=False,
                                          name="last_linear")
    self.last_bn = keras.layers.BatchNormalization(
        epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="last_bn")
    self.logits_layer = (keras.layers.Dense(self.num_classes, name="logits")
                         if self.num_classes > 0 else None)

  def _layers_in_order(self):
    for layer in self.stem.values():
      yield layer
    stage_ends = (self.mixed_6a, self.mixed_7a, self.block8)
    for blocks, end in zip(self.repeats, stage_ends):
      yield from blocks
      yield end

  def build(self, input_shape):
    shape = tuple(input_shape)
    for layer in self._layers_in_order():
      layer.build(shape)
      shape = layer.compute_output_shape(shape)
    self.last_linear.build((shape[0], shape[-1]))
    self.last_bn.build((shape[0], self.embedding_size))
    if self.logits_layer is not None:
      self.logits_layer.build((shape[0], self.embedding_size))

  def bottleneck(self, x, training=False) -> tf.Tensor:
    """The ``last_bn`` output before normalisation: `[B, embedding_size]`."""
    for layer in self._layers_in_order():
      x = (layer(x) if isinstance(layer, keras.layers.MaxPool2D)
           else layer(x, training=training))
    x = tf.reduce_mean(x, axis=[1, 2])  # AdaptiveAvgPool2d(1) + flatten
    x = self.dropout(x, training=training)
    return self.last_bn(self.last_linear(x), training=training)

  def call(self, x, training=False):
    return l2_normalize(self.bottleneck(x, training=training))

  def classify(self, x, training=False) -> tf.Tensor:
    """``classify=True``: `[B, num_classes]` logits of the *unnormalised*
    bottleneck (as facenet-pytorch computes them)."""
    if self.logits_layer is None:
      raise ValueError("this InceptionResnetV1 has no logits layer "
                       "(num_classes=0)")
    return self.logits_layer(self.bottleneck(x, training=training))

  def get_config(self):
    return {"embedding_size": self.embedding_size,
            "num_classes": self.num_classes,
            "dropout_rate": self.dropout_rate, "name": self.name}

  def torch_variables(self) -> TorchVariables:
    """facenet-pytorch ``state_dict`` key -> (Keras variable, layout).

    Layouts: :data:`CONV` (PyTorch `(out, in, kh, kw)`, Keras `(kh, kw, in,
    out)`), :data:`LINEAR` (`(out, in)` vs `(in, out)`), :data:`VECTOR`. The
    BatchNorm ``num_batches_tracked`` counters have no Keras counterpart.
    Needs a built network.
    """
    if not self.built:
      raise ValueError("build the network (call it once) before asking for "
                       "its variables")
    out: TorchVariables = {}
    for name, layer in self.stem.items():
      if isinstance(layer, BasicConv2d):
        out.update(layer.torch_variables(name))
    stage_ends = (("mixed_6a", self.mixed_6a), ("mixed_7a", self.mixed_7a),
                  ("block8", self.block8))
    for stage, (blocks, (end_name, end)) in enumerate(
        zip(self.repeats, stage_ends), start=1):
      for i, block in enumerate(blocks):
        out.update(block.torch_variables(f"repeat_{stage}.{i}"))
      out.update(end.torch_variables(end_name))
    out["last_linear.weight"] = (self.last_linear.kernel, LINEAR)
    out["last_bn.weight"] = (self.last_bn.gamma, VECTOR)
    out["last_bn.bias"] = (self.last_bn.beta, VECTOR)
    out["last_bn.running_mean"] = (self.last_bn.moving_mean, VECTOR)
    out["last_bn.running_var"] = (self.last_bn.moving_variance, VECTOR)
    if self.logits_layer is not None:
      out["logits.weight"] = (self.logits_layer.kernel, LINEAR)
      out["logits.bias"] = (self.logits_layer.bias, VECTOR)
    return out


def torch_shape(keras_shape: Sequence[int], layout: str) -> Tuple[int, ...]:
  """The PyTorch tensor shape of a Keras variable of ``layout``."""
  shape = tuple(int(d) for d in keras_shape)
  if layout == CONV:
    return (shape[3], shape[2], shape[0], shape[1])
  if layout == LINEAR:
    return (shape[1], shape[0])
  return shape


def from_torch(array, layout: str):
  """A PyTorch array in ``layout`` -> the Keras layout (numpy, contiguous)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  array = np.asarray(array, np.float32)
  if layout == CONV:
    array = array.transpose(2, 3, 1, 0)
  elif layout == LINEAR:
    array = array.T
  return np.ascontiguousarray(array)
