"""The identity embedding tfface trains on its synthetic faces, and how to
score one: face verification across pose.

:class:`IdentityNet` plays the role of the references' frozen face
recognition networks — FaceNet in DiscoFaceGAN (L_id, L_idc; 160 px),
LResNet18 in LiftedGAN (the identity loss over perturbed views; 128 px) and
ArcFace in the metrics of every paper. Like LiftedGAN's LResNet18 (an
ArcFace-style IR-ResNet, §2.3 of the reference notes) it is a residual trunk
whose last feature map is flattened (the crops are aligned, so *where* a
feature is matters), projected to D dimensions, batch-normalised and
L2-normalised; it is trained with ArcFace's additive angular margin
(:func:`tfface.losses.identity.arcface_loss`) by
:class:`tfface.methods.analysis.identity.IdentityMethod` on identities
rendered under varied pose, expression, light, hair, beard and background.

Verification metrics (pure NumPy, exact, tie-safe):

* :func:`verification_pairs` — every same-identity and different-identity
  pair of a set of faces whose yaws differ by at most 60° (binned by |Δyaw|);
* :func:`roc_auc` — the area under the ROC curve, P(s⁺ > s⁻) + ½ P(s⁺ = s⁻);
* :func:`tar_at_far` — the true-accept rate at a false-accept rate, e.g. 1e-2.
"""

import math
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfface.analysis import backbone
from tfface.analysis import weights
from tfface.networks import base

keras = tf.keras

YAW_BINS_DEGREES = (0.0, 15.0, 30.0, 45.0, 60.0)


def check_network_config(input_size: int = 64,
                         widths: Sequence[int] = (32, 64, 128, 256),
                         stem_stride: int = 1, embedding_size: int = 128,
                         dropout_rate: float = 0.0,
                         blocks_per_stage: int = 1) -> None:
  """Raises a one-line ValueError for an :class:`IdentityNet` setting that
  cannot work (checked before anything is built)."""
  if int(blocks_per_stage) < 1:
    raise ValueError(f"IdentityNet blocks_per_stage must be >= 1, got "
                     f"{blocks_per_stage!r}")
  widths = tuple(int(w) for w in widths)
  stride = int(stem_stride)
  if int(input_size) < 8:
    raise ValueError(f"IdentityNet input_size must be >= 8, got "
                     f"{input_size!r}")
  if not widths or min(widths) < 1:
    raise ValueError(f"IdentityNet widths must be positive channel counts, "
                     f"got {widths!r}")
  if stride not in (1, 2, 4):
    raise ValueError(f"IdentityNet stem_stride must be 1, 2 or 4, got "
                     f"{stem_stride!r}")
  if int(input_size) % (stride * 2 ** (len(widths) - 1)):
    raise ValueError(
        f"IdentityNet input_size {input_size} must be divisible by "
        f"stem_stride · 2^(len(widths) - 1) = "
        f"{stride * 2 ** (len(widths) - 1)}")
  if int(embedding_size) < 1:
    raise ValueError(f"IdentityNet embedding_size must be >= 1, got "
                     f"{embedding_size!r}")
  if not 0.0 <= float(dropout_rate) < 1.0:
    raise ValueError(f"IdentityNet dropout_rate must be in [0, 1), got "
                     f"{dropout_rate!r}")


@weights.register_kind("identity")
class IdentityNet(base.Network):
  """Face image -> L2-normalised identity embedding.

  Args:
    input_size: the resolution R it works at; any input is resized to it.
    widths: channels of the :class:`~tfface.analysis.backbone.ResidualBackbone`
      stages (each stage after the first halves the resolution).
    blocks_per_stage: residual blocks per stage.
    stem_stride: stride of the stem (2 halves R once more, 4× cheaper).
    embedding_size: D.
    dropout_rate: dropout on the flattened feature map when training
      (LResNet18's head uses 0.4; 0 for short runs).
    name: the model name; it prefixes every variable path in a weights file,
      so it is fixed by default.

  Call ``(images, training)``: `[B, H, W, 3]` float32 RGB in [-1, 1], any H,
  W (face crops framed as the synthetic data: the whole head, centred) ->
  `[B, D]` float32, every row of L2 norm 1: the cosine similarity of two
  faces is the dot product of their embeddings.
  """

  def __init__(self, input_size: int = 64,
               widths: Sequence[int] = (32, 64, 128, 256),
               blocks_per_stage: int = 1, stem_stride: int = 1,
               embedding_size: int = 128, dropout_rate: float = 0.0,
               name: str = "identity_net", **kwargs):
    super().__init__(name=name, **kwargs)
    check_network_config(input_size, widths, stem_stride, embedding_size,
                         dropout_rate, blocks_per_stage)
    widths = tuple(int(w) for w in widths)
    stride = int(stem_stride)
    self.input_size = int(input_size)
    self.widths = widths
    self.blocks_per_stage = int(blocks_per_stage)
    self.stem_stride = stride
    self.embedding_size = int(embedding_size)
    self.dropout_rate = float(dropout_rate)
    self.backbone = backbone.ResidualBackbone(widths, self.blocks_per_stage,
                                              stride, name="backbone")
    # Only the last stage's map is used: the other stages' output norms get
    # no gradient, so they are frozen (their outputs are never read).
    for norm in self.backbone.norms[:-1]:
      norm.trainable = False
    self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout")
    self.flatten = keras.layers.Flatten(name="flatten")
    self.projection = keras.layers.Dense(self.embedding_size,
                                         name="projection")
    # LResNet's / arcface_torch's "features" BatchNorm1d before normalising.
    self.embedding_norm = keras.layers.BatchNormalization(
        name="embedding_norm")

  def config(self) -> Dict[str, object]:
    """JSON constructor arguments that rebuild this architecture."""
    return {"input_size": self.input_size, "widths": list(self.widths),
            "blocks_per_stage": self.blocks_per_stage,
            "stem_stride": self.stem_stride,
            "embedding_size": self.embedding_size,
            "dropout_rate": self.dropout_rate}

  def call(self, images, training=None) -> tf.Tensor:
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4 or images.shape[-1] not in (None, 3):
      raise ValueError("IdentityNet takes images [B, H, W, 3] (RGB in "
                       f"[-1, 1]), got shape {images.shape}")
    x = backbone.resize_to(images, self.input_size)
    x = self.backbone(x, training=training)[-1]
    x = self.dropout(self.flatten(x), training=training)
    x = self.embedding_norm(self.projection(x), training=training)
    return tf.math.l2_normalize(x, axis=-1, epsilon=1e-12)


# ------------------------------------------------------------ verification


def verification_pairs(identities, yaws,
                       max_yaw_difference_degrees: float = 60.0,
                       max_different_pairs: Optional[int] = None,
                       seed: int = 0) -> Dict[str, np.ndarray]:
  """Every pair of faces (i < j) whose yaws differ by at most a limit.

  Args:
    identities: `[N]` integer identity ids.
    yaws: `[N]` float head yaw in **radians** (the ``pose`` factor's second
      entry).
    max_yaw_difference_degrees: keep pairs with |Δyaw| <= this (degrees).
    max_different_pairs: keep at most this many different-identity pairs,
      drawn uniformly without replacement (seeded; the same-identity pairs,
      far fewer, are all kept); None keeps all.
    seed: the draw's seed.

  Returns:
    dict of `[P]` arrays, same-identity pairs first: ``first``, ``second``
    (int64 indices, first < second), ``same`` (bool), ``yaw_difference``
    (float64 degrees, >= 0).
  """
  identities = np.asarray(identities).reshape(-1)
  yaws = np.asarray(yaws, np.float64).reshape(-1)
  if identities.shape != yaws.shape:
    raise ValueError(f"identities and yaws must have the same length, got "
                     f"{identities.shape[0]} and {yaws.shape[0]}")
  if not max_yaw_difference_degrees >= 0:
    raise ValueError("max_yaw_difference_degrees must be >= 0, got "
                     f"{max_yaw_difference_degrees!r}")
  first, second = np.triu_indices(identities.shape[0], k=1)
  difference = np.degrees(np.abs(yaws[first] - yaws[second]))
  keep = difference <= max_yaw_difference_degrees
  first, second, difference = first[keep], second[keep], difference[keep]
  same = identities[first] == identities[second]
  positives = np.flatnonzero(same)
  negatives = np.flatnonzero(~same)
  if max_different_pairs is not None and negatives.size > max_different_pairs:
    rng = np.random.default_rng(seed)
    negatives = np.sort(rng.choice(negatives, int(max_different_pairs),
                                   replace=False))
  order = np.concatenate([positives, negatives])
  return {"first": first[order].astype(np.int64),
          "second": second[order].astype(np.int64),
          "same": same[order], "yaw_difference": difference[order]}


def _scores_and_labels(scores, labels):
  scores = np.asarray(scores, np.float64).reshape(-1)
  labels = np.asarray(labels).reshape(-1).astype(bool)
  if scores.shape != labels.shape:
    raise ValueError(f"scores and labels must have the same length, got "
                     f"{scores.shape[0]} and {labels.shape[0]}")
  if not np.all(np.isfinite(scores)):
    raise ValueError("scores must be finite")
  return scores, labels


def average_ranks(values) -> np.ndarray:
  """1-based ranks of ``values`` (`[N]`), ties sharing their mean rank."""
  values = np.asarray(values).reshape(-1)
  order = np.argsort(values, kind="mergesort")
  ordered = values[order]
  # Start of each run of equal values, in sorted order.
  starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
  ends = np.r_[starts[1:], ordered.size]  # exclusive
  mean_rank = (starts + 1 + ends) / 2.0   # mean of starts+1 .. ends
  ranks = np.empty(values.size, np.float64)
  ranks[order] = np.repeat(mean_rank, ends - starts)
  return ranks


def roc_auc(scores, labels) -> float:
  """Area under the ROC curve of a similarity score, exact and tie-safe.

  ``AUC = P(s⁺ > s⁻) + ½ P(s⁺ = s⁻)`` over all (positive, negative) pairs
  (the Mann-Whitney U statistic / (n⁺ n⁻), from average ranks).

  Args:
    scores: `[N]` float, higher = more likely the same identity.
    labels: `[N]` bool (or 0/1), True for same-identity pairs.

  Returns:
    float in [0, 1]; NaN when there are no positives or no negatives.
  """
  scores, labels = _scores_and_labels(scores, labels)
  num_pos = int(labels.sum())
  num_neg = labels.size - num_pos
  if num_pos == 0 or num_neg == 0:
    return float("nan")
  ranks = average_ranks(scores)
  u = ranks[labels].sum() - num_pos * (num_pos + 1) / 2.0
  return float(u / (num_pos * num_neg))


def _max_accepted_negatives(far: float, num_neg: int) -> int:
  """The largest k with k / num_neg <= far (exact in float arithmetic)."""
  k = int(math.floor(far * num_neg))
  while k + 1 <= num_neg and (k + 1) / num_neg <= far:
    k += 1
  while k > 0 and k / num_neg > far:
    k -= 1
  return k


def tar_at_far(scores, labels, far: float = 1e-2) -> float:
  """True-accept rate at a false-accept rate, exact and tie-safe.

  A threshold t accepts pairs with score >= t; FAR(t) = accepted negatives /
  negatives, TAR(t) = accepted positives / positives. This is the largest
  TAR(t) over all thresholds with FAR(t) <= ``far``. Ties are never split:
  with k the most negatives the FAR allows, t must lie above the (k+1)-th
  highest negative score, so exactly the positives scoring strictly above it
  are accepted (tied positives are rejected with their tied negatives).

  Args:
    scores: `[N]` float, higher = more likely the same identity.
    labels: `[N]` bool (or 0/1), True for same-identity pairs.
    far: the false-accept rate in [0, 1].

  Returns:
    float in [0, 1]; NaN when there are no positives or no negatives.
  """
  if not 0.0 <= far <= 1.0:
    raise ValueError(f"far must be in [0, 1], got {far!r}")
  scores, labels = _scores_and_labels(scores, labels)
  positives, negatives = scores[labels], scores[~labels]
  if positives.size == 0 or negatives.size == 0:
    return float("nan")
  k = _max_accepted_negatives(far, negatives.size)
  if k >= negatives.size:
    return 1.0
  bound = np.sort(negatives)[::-1][k]  # the (k+1)-th highest negative
  return float(np.mean(positives > bound))


def verification_metrics(scores, labels, far: float = 1e-2
                         ) -> Dict[str, float]:
  """``{"roc_auc", "tar_at_far", "num_same", "num_different",
  "mean_same", "mean_different"}`` of one set of scored pairs."""
  scores, labels = _scores_and_labels(scores, labels)
  mean = lambda x: float(np.mean(x)) if x.size else float("nan")
  return {"roc_auc": roc_auc(scores, labels),
          "tar_at_far": tar_at_far(scores, labels, far),
          "num_same": int(labels.sum()),
          "num_different": int((~labels).sum()),
          "mean_same": mean(scores[labels]),
          "mean_different": mean(scores[~labels])}
