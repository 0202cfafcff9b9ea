"""The 68-point landmark detector tfface trains on its synthetic faces.

:class:`LandmarkNet` predicts the 68 iBUG points (jaw 0-16, brows 17-26, nose
27-35, eyes 36-47, mouth 48-67; 0-based, point 36 the outer corner of the
subject's right eye, at image left) as one heatmap per point and reads the
coordinates off with a spatial soft-argmax (integral regression): the
expectation of the pixel-centre positions under the softmax of each heatmap.

Why heatmaps + soft-argmax rather than direct regression from a pooled
vector: the heatmap head is convolutional, so a shifted face shifts its
heatmaps (translation equivariance, which a fully connected regressor must
learn from data), it learns faster on the few thousand faces a CPU run sees,
and the soft-argmax still gives continuous sub-pixel coordinates and is
differentiable end to end, which StyleRig's and DiscoFaceGAN's landmark
losses on generated images need. The heatmaps sit at 1/4 of the input
(``heatmap_stride=4``: 16 × 16 at 64 px) after a small top-down (FPN-like)
merge of the backbone's deeper stages, so each cell sees the whole face.

Coordinates follow the renderer's convention (:mod:`tfface.rendering.camera`):
continuous pixels, pixel (row r, column c) covers ``[c, c+1) × [r, r+1)``,
its centre at ``(c + 0.5, r + 0.5)``. The net works at ``input_size``
internally and scales its points back to the caller's image, so a 256 px
input gets 256 px coordinates.

The accuracy measure is :func:`inter_ocular_nme`: the mean point-to-point
error divided by the distance between the outer eye corners (points 36 and
45), the 300-W "inter-ocular" convention.
"""

from typing import Sequence

import numpy as np
import tensorflow as tf

from tfface.analysis import backbone as backbone_lib
from tfface.analysis import weights
from tfface.layers.tracking import track

keras = tf.keras

NUM_LANDMARKS = 68
# The outer eye corners (0-based iBUG ids: the subject's right eye at image
# left, then the left eye) whose distance normalises the NME.
OUTER_EYE_CORNERS = (36, 45)
# iBUG-68 groups (0-based, end exclusive), for drawing and per-part errors.
LANDMARK_GROUPS = (("jaw", 0, 17), ("brows", 17, 27), ("nose", 27, 36),
                   ("eyes", 36, 48), ("mouth", 48, 68))


def soft_argmax(logits: tf.Tensor, stride: float) -> tf.Tensor:
  """Expected pixel-centre position under the spatial softmax of each map.

  Args:
    logits: `[B, h, w, N]` float32 heatmap logits.
    stride: input pixels per heatmap cell; cell (i, j) stands for the input
      point ``((j + 0.5) · stride, (i + 0.5) · stride)``.

  Returns:
    `[B, N, 2]` float32 (x, y) continuous input pixels, each in
    ``[stride / 2, (w - 1/2) · stride]`` (resp. h): a soft-argmax cannot point
    outside the centres of the border cells.
  """
  shape = tf.shape(logits)
  height, width = shape[1], shape[2]
  flat = tf.reshape(tf.transpose(logits, [0, 3, 1, 2]),
                    [shape[0], shape[3], height * width])
  probabilities = tf.nn.softmax(flat, axis=-1)
  ys = (tf.range(height, dtype=tf.float32) + 0.5) * stride
  xs = (tf.range(width, dtype=tf.float32) + 0.5) * stride
  grid_y, grid_x = tf.meshgrid(ys, xs, indexing="ij")
  grid = tf.stack([tf.reshape(grid_x, [-1]), tf.reshape(grid_y, [-1])], -1)
  return tf.einsum("bnk,kc->bnc", probabilities, grid)


@weights.register_kind("landmarks")
class LandmarkNet(keras.Model):
  """Image -> 68 iBUG landmarks, by heatmaps and a soft-argmax.

  Args:
    input_size: the square resolution R the net works at; inputs of any
      size are resized to it and the points scaled back.
    widths: channels of the :class:`~tfface.analysis.backbone.ResidualBackbone`
      stages (stage i at R / (stem_stride · 2^i)).
    blocks_per_stage: residual blocks per backbone stage.
    stem_stride: stride of the backbone's stem.
    heatmap_stride: input pixels per heatmap cell; a power of two with
      ``stem_stride <= heatmap_stride <= stem_stride · 2^(len(widths) - 1)``.
    head_width: channels of the top-down merge and the heatmap head.
    num_landmarks: heatmaps (68 for iBUG).

  Call ``(images, training=None, return_heatmaps=False)``:
    images: `[B, H, W, 3]` float32 RGB in [-1, 1], any H, W.
    Returns `[B, N, 2]` float32 (x, y) continuous pixels of ``images``
    (centre of pixel (r, c) at (c + 0.5, r + 0.5)); with
    ``return_heatmaps`` also the logits `[B, R / heatmap_stride,
    R / heatmap_stride, N]` (softmax over each map's cells gives the
    probabilities the points are the expectation of).
  """

  def __init__(self, input_size: int = 64,
               widths: Sequence[int] = (32, 64, 128, 256),
               blocks_per_stage: int = 1, stem_stride: int = 2,
               heatmap_stride: int = 4, head_width: int = 64,
               num_landmarks: int = NUM_LANDMARKS, **kwargs):
    super().__init__(**kwargs)
    self.input_size = int(input_size)
    self.widths = tuple(int(w) for w in widths)
    self.stem_stride = int(stem_stride)
    self.heatmap_stride = int(heatmap_stride)
    self.num_landmarks = int(num_landmarks)
    if not self.widths or min(self.widths) < 1:
      raise ValueError(f"LandmarkNet widths must be >= 1 each, got {widths!r}")
    strides = [self.stem_stride * 2 ** i for i in range(len(self.widths))]
    if self.heatmap_stride not in strides:
      raise ValueError(
          f"LandmarkNet heatmap_stride must be one of the backbone's stage "
          f"strides {strides}, got {heatmap_stride!r}")
    if self.input_size % strides[-1]:
      raise ValueError(f"LandmarkNet input_size must be a multiple of "
                       f"{strides[-1]}, got {input_size!r}")
    self.heatmap_stage = strides.index(self.heatmap_stride)
    self.backbone = backbone_lib.ResidualBackbone(
        self.widths, int(blocks_per_stage), self.stem_stride, name="backbone")
    # Merge of every stage at the heatmap resolution: a 1×1 lateral per
    # stage, deeper ones upsampled (top-down, FPN-like), shallower ones
    # average-pooled down (their finer detail helps sub-cell accuracy), summed.
    self.laterals = track(self, "lateral", [
        keras.layers.Conv2D(int(head_width), 1, name=f"lateral_{i}")
        for i in range(len(self.widths))])
    self.head_conv = keras.layers.Conv2D(int(head_width), 3, padding="same",
                                         use_bias=False, name="head_conv")
    self.head_norm = keras.layers.BatchNormalization(name="head_norm")
    self.heatmap = keras.layers.Conv2D(self.num_landmarks, 1, name="heatmap")

  def heatmap_logits(self, images: tf.Tensor, training=None) -> tf.Tensor:
    """`[B, R/s, R/s, N]` logits for images `[B, R, R, 3]` at input_size."""
    features = self.backbone(images, training=training)
    merged = None
    for level in reversed(range(self.heatmap_stage, len(self.widths))):
      x = self.laterals[level](features[level])
      if merged is not None:
        x = x + tf.image.resize(merged, tf.shape(x)[1:3], method="bilinear")
      merged = x
    for level in range(self.heatmap_stage):
      factor = 2 ** (self.heatmap_stage - level)
      merged += self.laterals[level](tf.nn.avg_pool2d(
          features[level], factor, factor, "VALID"))
    x = tf.nn.relu(self.head_norm(self.head_conv(tf.nn.relu(merged)),
                                  training=training))
    return self.heatmap(x)

  def call(self, images, training=None, return_heatmaps=False):
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank is not None and images.shape.rank != 4:
      raise ValueError(f"LandmarkNet images must be [B, H, W, 3], got shape "
                       f"{images.shape}")
    size = tf.cast(tf.shape(images)[1:3], tf.float32)  # (H, W)
    logits = self.heatmap_logits(
        backbone_lib.resize_to(images, self.input_size), training=training)
    points = soft_argmax(logits, float(self.heatmap_stride))
    # Continuous coordinates scale exactly with a half-pixel-centre resize.
    scale = tf.stack([size[1], size[0]]) / float(self.input_size)
    points = points * scale
    if return_heatmaps:
      return points, logits
    return points


def gaussian_heatmaps(points: tf.Tensor, size: int, stride: float,
                      sigma: float = 1.0) -> tf.Tensor:
  """Normalised Gaussian target maps (sum 1 per map) for heatmap losses.

  Args:
    points: `[B, N, 2]` float32 (x, y) input pixels.
    size: heatmap cells per side.
    stride: input pixels per cell (see :func:`soft_argmax`).
    sigma: the Gaussian's std in cells.

  Returns:
    `[B, size, size, N]` float32, each map summing to 1.
  """
  centres = tf.range(size, dtype=tf.float32) + 0.5  # cell centres, cells
  cells = points / stride  # [B, N, 2] in cell units
  dx = centres - cells[..., 0:1]  # [B, N, size]
  dy = centres - cells[..., 1:2]
  gx = tf.exp(-0.5 * tf.square(dx / sigma))
  gy = tf.exp(-0.5 * tf.square(dy / sigma))
  maps = gy[..., :, None] * gx[..., None, :]  # [B, N, size(y), size(x)]
  maps = maps / tf.maximum(tf.reduce_sum(maps, [-2, -1], keepdims=True),
                           1e-12)
  return tf.transpose(maps, [0, 2, 3, 1])


def inter_ocular_nme(pred, true) -> np.ndarray:
  """Per-face NME normalised by the outer-eye-corner distance (36 to 45).

  Args:
    pred: `[B, 68, 2]` predicted (x, y) pixels.
    true: `[B, 68, 2]` true (x, y) pixels, same frame.

  Returns:
    `[B]` float64: mean over the 68 points of ``|pred - true|`` divided by
    ``|true[36] - true[45]|`` (300-W's inter-ocular normalisation).
  """
  pred = np.asarray(pred, np.float64)
  true = np.asarray(true, np.float64)
  if pred.shape != true.shape or pred.ndim != 3 or pred.shape[-1] != 2:
    raise ValueError(f"inter_ocular_nme needs two [B, N, 2] arrays of one "
                     f"shape, got {pred.shape} and {true.shape}")
  if pred.shape[1] <= max(OUTER_EYE_CORNERS):
    raise ValueError(f"inter_ocular_nme needs the 68 iBUG points, got "
                     f"{pred.shape[1]}")
  errors = np.linalg.norm(pred - true, axis=-1).mean(axis=-1)
  distance = np.linalg.norm(
      true[:, OUTER_EYE_CORNERS[0]] - true[:, OUTER_EYE_CORNERS[1]],
      axis=-1)
  return errors / np.maximum(distance, 1e-6)
