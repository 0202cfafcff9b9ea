"""Identity losses: the ArcFace margin loss that trains an identity embedding,
and the cosine identity losses that use a frozen one.

* :func:`arcface_logits` / :func:`arcface_loss` — ArcFace's additive angular
  margin (Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face
  Recognition", CVPR 2019, Eq. 3): the target class's logit is
  ``s · cos(θ_y + m)``, every other class's ``s · cos θ_j``, where θ is the
  angle between the L2-normalised embedding and class centre. Trains
  :class:`tfface.analysis.identity.IdentityNet`.
* :func:`cosine_identity_loss` — ``mean(max(margin, 1 − cos))`` between two
  batches of embeddings: DiscoFaceGAN's imitative L_id (margin 0.3: no
  gradient once cos > 0.7) and its contrastive L_idc (margin 0), LiftedGAN's
  identity loss on perturbed views (margin 0), StyleRig-style identity terms.
* :func:`supervised_contrastive_loss` — a batch-level term over several views
  of each identity (Khosla et al., "Supervised Contrastive Learning",
  NeurIPS 2020, Eq. 2, L^sup_out), which sees positive pairs directly even
  when each identity has only a handful of views in the whole data set.

Embeddings are `[B, D]` float32; every function L2-normalises its inputs
itself, so raw or normalised embeddings give the same result.
"""

import math
from typing import Optional, Union

import tensorflow as tf

_EPSILON = 1e-12


def _normalize(x: tf.Tensor) -> tf.Tensor:
  return tf.math.l2_normalize(tf.convert_to_tensor(x, tf.float32), axis=-1,
                              epsilon=_EPSILON)


def cosine_similarity(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
  """Row-wise cosine similarity.

  Args:
    a, b: `[B, D]` float32 embeddings (any norm > 0).

  Returns:
    `[B]` float32 in [-1, 1].
  """
  return tf.reduce_sum(_normalize(a) * _normalize(b), axis=-1)


def cosine_identity_loss(a: tf.Tensor, b: tf.Tensor,
                         margin: float = 0.0) -> tf.Tensor:
  """``mean(max(margin, 1 − cos(a, b)))``: the cosine identity loss.

  DiscoFaceGAN (Deng et al. 2020, ``training/training_utils.py``) uses
  ``margin = 0.3`` for its imitative identity loss L_id (FaceNet features of
  the generated image vs. the render; pairs already closer than cos 0.7 give
  no gradient) and ``margin = 0`` for the contrastive L_idc (the two images
  of a lighting pair).

  Args:
    a, b: `[B, D]` float32 embeddings of the same batch of faces (any norm;
      normalised here).
    margin: the floor of the per-pair loss ``1 − cos`` in [0, 2]; 0 = plain
      ``1 − cos``.

  Returns:
    scalar float32 in [margin, 2].
  """
  if not 0.0 <= margin <= 2.0:
    raise ValueError(f"margin must be in [0, 2] (a floor on 1 - cos), got "
                     f"{margin!r}")
  per_pair = 1.0 - cosine_similarity(a, b)
  return tf.reduce_mean(tf.maximum(tf.cast(margin, tf.float32), per_pair))


def _check_arcface(scale: float, margin: float) -> None:
  if not scale > 0:
    raise ValueError(f"ArcFace scale s must be > 0, got {scale!r}")
  if not 0.0 <= margin < math.pi / 2:
    raise ValueError("ArcFace margin m must be in [0, pi/2) radians, got "
                     f"{margin!r}")


def class_cosines(embeddings: tf.Tensor, class_weights: tf.Tensor
                  ) -> tf.Tensor:
  """``cos θ_j`` between every embedding and every class centre.

  Args:
    embeddings: `[B, D]` float32 (any norm).
    class_weights: `[C, D]` float32, one (unnormalised) centre per class.

  Returns:
    `[B, C]` float32 in [-1, 1].
  """
  cosine = tf.matmul(_normalize(embeddings), _normalize(class_weights),
                     transpose_b=True)
  return tf.clip_by_value(cosine, -1.0, 1.0)


def arcface_logits(embeddings: tf.Tensor, class_weights: tf.Tensor,
                   labels: tf.Tensor, scale: float = 64.0,
                   margin: float = 0.5, easy_margin: bool = False
                   ) -> tf.Tensor:
  """ArcFace logits: ``s · cos(θ_y + m)`` for the target, ``s · cos θ_j`` else.

  ``cos(θ + m) = cos θ cos m − sin θ sin m`` with ``sin θ = sqrt(1 − cos² θ)``
  (θ ∈ [0, π]). Where ``θ + m > π`` the margin would make the target logit
  *grow* again with θ (cos is not monotonic past π), so the reference
  implementations (insightface's ``ArcFace``, ronghuaiyang/arcface-pytorch's
  ``ArcMarginProduct``) replace it:

  * ``easy_margin=False`` (default): for ``θ > π − m`` (``cos θ <
    cos(π − m)``) use ``cos θ − m · sin(π − m)``, a CosFace-style additive
    cosine margin: decreasing in θ, and a small step *below* cos(θ + m) = −1
    at the switch (−1 − 0.12 for m = 0.5), so still monotonic;
  * ``easy_margin=True``: apply the margin only where ``cos θ > 0``
    (θ < π/2), plain ``cos θ`` elsewhere.

  Args:
    embeddings: `[B, D]` float32 (any norm; normalised here).
    class_weights: `[C, D]` float32 class centres W (normalised here).
    labels: `[B]` integer class ids in [0, C).
    scale: s, the radius of the hypersphere (the paper's 64; smaller, e.g.
      30, for few classes or small nets).
    margin: m, additive angular margin in radians, [0, π/2) (paper 0.5).
    easy_margin: the θ + m > π handling above.

  Returns:
    `[B, C]` float32 logits for a softmax cross-entropy over the C classes.
  """
  _check_arcface(scale, margin)
  return arcface_logits_from_cosine(
      class_cosines(embeddings, class_weights), labels, scale, margin,
      easy_margin)


def arcface_logits_from_cosine(cosine: tf.Tensor, labels: tf.Tensor,
                               scale: float = 64.0,
                               margin: Union[float, tf.Tensor] = 0.5,
                               easy_margin: bool = False) -> tf.Tensor:
  """:func:`arcface_logits` from precomputed ``cos θ`` (e.g. of a head layer).

  Args:
    cosine: `[B, C]` float32 in [-1, 1] (:func:`class_cosines`).
    labels: `[B]` integer class ids in [0, C).
    scale, easy_margin: as :func:`arcface_logits`.
    margin: m in [0, π/2) radians, a float or a scalar float32 tensor (a
      scheduled margin).

  Returns:
    `[B, C]` float32 logits.
  """
  if not isinstance(margin, tf.Tensor):
    _check_arcface(scale, margin)
  margin = tf.cast(margin, tf.float32)
  cosine = tf.convert_to_tensor(cosine, tf.float32)
  labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
  one_hot = tf.equal(labels[:, None], tf.range(tf.shape(cosine)[1])[None, :])
  # sin θ with a zero (not infinite) gradient at |cos θ| = 1.
  sine_squared = 1.0 - tf.square(cosine)
  positive = sine_squared > 0.0
  sine = tf.where(positive,
                  tf.sqrt(tf.where(positive, sine_squared, 1.0)), 0.0)
  with_margin = cosine * tf.cos(margin) - sine * tf.sin(margin)
  if easy_margin:
    with_margin = tf.where(cosine > 0.0, with_margin, cosine)
  else:
    threshold = tf.cos(math.pi - margin)
    fallback = cosine - tf.sin(math.pi - margin) * margin
    with_margin = tf.where(cosine > threshold, with_margin, fallback)
  return scale * tf.where(one_hot, with_margin, cosine)


def arcface_loss(embeddings: tf.Tensor, class_weights: tf.Tensor,
                 labels: tf.Tensor, scale: float = 64.0, margin: float = 0.5,
                 easy_margin: bool = False) -> tf.Tensor:
  """Mean softmax cross-entropy of :func:`arcface_logits` (ArcFace, Eq. 3).

  Args: as :func:`arcface_logits`.

  Returns:
    scalar float32 >= 0.
  """
  logits = arcface_logits(embeddings, class_weights, labels, scale, margin,
                          easy_margin)
  labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
  return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=labels, logits=logits))


def supervised_contrastive_loss(embeddings: tf.Tensor, labels: tf.Tensor,
                                temperature: float = 0.1,
                                weights: Optional[tf.Tensor] = None
                                ) -> tf.Tensor:
  """Supervised contrastive loss over a batch (Khosla et al. 2020, L^sup_out).

  For every anchor i with at least one other sample of its label in the
  batch: ``−mean_{p ∈ P(i)} log(exp(z_i·z_p/τ) / Σ_{a ≠ i} exp(z_i·z_a/τ))``
  with z the L2-normalised embeddings; anchors without a positive are left
  out, and a batch without any positive pair gives 0.

  Args:
    embeddings: `[B, D]` float32 (any norm; normalised here).
    labels: `[B]` integer identity ids.
    temperature: τ > 0.
    weights: optional `[B]` float32 per-anchor weights (default 1).

  Returns:
    scalar float32 >= 0.
  """
  if not temperature > 0:
    raise ValueError(f"temperature must be > 0, got {temperature!r}")
  z = _normalize(embeddings)
  labels = tf.reshape(labels, [-1])
  logits = tf.matmul(z, z, transpose_b=True) / temperature
  batch = tf.shape(z)[0]
  not_self = tf.logical_not(tf.eye(batch, dtype=tf.bool))
  same = tf.logical_and(tf.equal(labels[:, None], labels[None, :]), not_self)
  # log-softmax over a != i (the anchor itself is masked out).
  masked = tf.where(not_self, logits, tf.float32.min)
  log_prob = logits - tf.reduce_logsumexp(masked, axis=1, keepdims=True)
  same_f = tf.cast(same, tf.float32)
  count = tf.reduce_sum(same_f, axis=1)
  per_anchor = -tf.reduce_sum(tf.where(same, log_prob, 0.0), axis=1) / (
      tf.maximum(count, 1.0))
  has_positive = tf.cast(count > 0, tf.float32)
  if weights is not None:
    has_positive = has_positive * tf.reshape(
        tf.cast(weights, tf.float32), [-1])
  return tf.reduce_sum(per_anchor * has_positive) / tf.maximum(
      tf.reduce_sum(has_positive), 1e-12)
