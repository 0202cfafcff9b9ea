"""The face parser tfface trains on its synthetic faces.

:class:`FaceParser` labels every pixel with one of
:data:`tfface.data.schema.PARSE_CLASSES` (background, skin, hair, beard,
brows, eyes, lips, mouth: the renderer's region masks) by a per-pixel
softmax. Channel 2 is hair, the channel DiscoFaceGAN's hair-consistency term
reads (its parser's channels are 0 background, 1 face, 2 hair; tfface splits
the face into finer classes after those three).

Architecture (not from a reference; sized for 64 px): a small U-Net — the
:class:`~tfface.analysis.backbone.ResidualBackbone` stages as the encoder,
a decoder that upsamples ×2 and merges each shallower stage (concatenate,
3×3 conv, BatchNorm, ReLU), and, when the stem is strided, a full-resolution
step that merges a few features computed from the image itself, so the
small classes (eyes, lips, mouth interior: a few pixels each at 64 px) keep
their edges. Logits come back at the caller's image size.
"""

from typing import Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfface.analysis import backbone as backbone_lib
from tfface.analysis import weights
from tfface.data import schema
from tfface.layers.tracking import track

keras = tf.keras

NUM_CLASSES = len(schema.PARSE_CLASSES)
HAIR_CLASS = schema.PARSE_CLASSES.index("hair")  # 2


class _ConvNormRelu(keras.layers.Layer):
  """3×3 conv (no bias), BatchNorm, ReLU.

  Call ``(x, training)``: `[B, H, W, C]` -> `[B, H, W, width]`.
  """

  def __init__(self, width: int, **kwargs):
    super().__init__(**kwargs)
    self.conv = keras.layers.Conv2D(int(width), 3, padding="same",
                                    use_bias=False, name="conv")
    self.norm = keras.layers.BatchNormalization(name="norm")

  def call(self, x, training=None):
    return tf.nn.relu(self.norm(self.conv(x), training=training))


@weights.register_kind("parser")
class FaceParser(keras.Model):
  """Image -> per-pixel class logits over :data:`schema.PARSE_CLASSES`.

  Args:
    input_size: the square resolution R the net works at; inputs of any
      size are resized to it and the logits resized back.
    widths: channels of the backbone stages (stage i at
      R / (stem_stride · 2^i)).
    blocks_per_stage: residual blocks per backbone stage.
    stem_stride: stride of the backbone's stem (1 or 2 at 64 px).
    decoder_width: channels of every decoder level.
    full_resolution_width: channels of the full-resolution step when
      ``stem_stride > 1``: a 3×3 conv of the image, concatenated with the
      upsampled decoder output, then a 3×3 conv to this width (0 = none,
      plain upsampling).
    num_classes: output classes (8 for :data:`schema.PARSE_CLASSES`).

  Call ``(images, training=None)``: `[B, H, W, 3]` float32 RGB in [-1, 1],
  any H, W -> logits `[B, H, W, num_classes]` float32 (softmax over the last
  axis gives the class probabilities; :meth:`probabilities`).
  """

  def __init__(self, input_size: int = 64,
               widths: Sequence[int] = (32, 64, 128, 256),
               blocks_per_stage: int = 1, stem_stride: int = 2,
               decoder_width: int = 32, full_resolution_width: int = 16,
               num_classes: int = NUM_CLASSES, **kwargs):
    super().__init__(**kwargs)
    self.input_size = int(input_size)
    self.widths = tuple(int(w) for w in widths)
    self.stem_stride = int(stem_stride)
    self.num_classes = int(num_classes)
    self.full_resolution_width = int(full_resolution_width)
    if not self.widths or min(self.widths) < 1:
      raise ValueError(f"FaceParser widths must be >= 1 each, got {widths!r}")
    if self.stem_stride not in (1, 2, 4):
      raise ValueError(f"FaceParser stem_stride must be 1, 2 or 4, got "
                       f"{stem_stride!r}")
    total = self.stem_stride * 2 ** (len(self.widths) - 1)
    if self.input_size % total:
      raise ValueError(f"FaceParser input_size must be a multiple of {total}, "
                       f"got {input_size!r}")
    if self.num_classes < 2:
      raise ValueError(f"FaceParser num_classes must be >= 2, got "
                       f"{num_classes!r}")
    self.backbone = backbone_lib.ResidualBackbone(
        self.widths, int(blocks_per_stage), self.stem_stride, name="backbone")
    # One decoder level per shallower stage, deepest first.
    self.decoders = track(self, "decoder", [
        _ConvNormRelu(decoder_width, name=f"decoder_{i}")
        for i in range(len(self.widths) - 1)])
    self.image_features = self.full_resolution = None
    if self.stem_stride > 1 and self.full_resolution_width > 0:
      self.image_features = keras.layers.Conv2D(
          self.full_resolution_width, 3, padding="same", activation="relu",
          name="image_features")
      self.full_resolution = _ConvNormRelu(self.full_resolution_width,
                                           name="full_resolution")
    self.classifier = keras.layers.Conv2D(self.num_classes, 1,
                                          name="classifier")

  def call(self, images, training=None):
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank is not None and images.shape.rank != 4:
      raise ValueError(f"FaceParser images must be [B, H, W, 3], got shape "
                       f"{images.shape}")
    size = tf.shape(images)[1:3]
    x_in = backbone_lib.resize_to(images, self.input_size)
    features = self.backbone(x_in, training=training)
    x = features[-1]
    for decoder, skip in zip(self.decoders, reversed(features[:-1])):
      x = tf.image.resize(x, tf.shape(skip)[1:3], method="bilinear")
      x = decoder(tf.concat([x, skip], -1), training=training)
    if self.stem_stride > 1:
      x = tf.image.resize(x, [self.input_size, self.input_size],
                          method="bilinear")
      if self.full_resolution is not None:
        x = self.full_resolution(
            tf.concat([x, self.image_features(x_in)], -1), training=training)
    logits = self.classifier(x)
    return tf.image.resize(logits, size, method="bilinear")

  def probabilities(self, images, training=None) -> tf.Tensor:
    """`[B, H, W, num_classes]` float32 softmax of :meth:`call`, in [0, 1]."""
    return tf.nn.softmax(self(images, training=training), axis=-1)


def iou_counts(pred_classes, true_classes, num_classes: int
               ) -> Tuple[np.ndarray, np.ndarray]:
  """Per-class intersection and union pixel counts, to sum over batches.

  Args:
    pred_classes, true_classes: int class maps of one shape (any rank).
    num_classes: C.

  Returns:
    ``(intersection, union)``, each `[C]` int64.
  """
  pred = np.asarray(pred_classes).astype(np.int64).ravel()
  true = np.asarray(true_classes).astype(np.int64).ravel()
  if pred.shape != true.shape:
    raise ValueError(f"iou_counts needs class maps of one shape, got "
                     f"{np.shape(pred_classes)} and {np.shape(true_classes)}")
  pred_count = np.bincount(pred, minlength=num_classes)[:num_classes]
  true_count = np.bincount(true, minlength=num_classes)[:num_classes]
  both = np.bincount(pred[pred == true], minlength=num_classes)[:num_classes]
  return both, pred_count + true_count - both


def iou_from_counts(intersection, union) -> Tuple[np.ndarray, float]:
  """``(per-class IoU [C] with NaN where the union is empty, their mean)``."""
  intersection = np.asarray(intersection, np.float64)
  union = np.asarray(union, np.float64)
  per_class = np.full(union.shape, np.nan)
  present = union > 0
  per_class[present] = intersection[present] / union[present]
  mean = float(per_class[present].mean()) if present.any() else float("nan")
  return per_class, mean


def mean_iou(pred_classes, true_classes, num_classes: int = NUM_CLASSES
             ) -> Tuple[np.ndarray, float]:
  """Intersection over union per class, pooled over every pixel given.

  Args:
    pred_classes: int class map, e.g. `[B, H, W]`.
    true_classes: int class map of the same shape.
    num_classes: C.

  Returns:
    ``(per_class, mean)``: `[C]` float64 IoU in [0, 1], NaN for a class absent
    from both maps, and the mean over the other classes.
  """
  return iou_from_counts(*iou_counts(pred_classes, true_classes, num_classes))
