"""DiscoFaceGAN's contrastive losses (stage 2, §3.4 of the reference notes).

Each stage-2 step generates an *expression pair* (same identity, pose, light
and noise; two expressions) and a *lighting pair* (same everything but the
light). Two losses tie the generator's images to the 3-D model:

* :func:`expression_warp_loss` — face 1 warped along the rendered 3-D flow
  (:func:`tfface.methods.discofacegan.flow.render_expression_flow`) must look
  like face 2: a masked per-pixel colour distance after a 5×5 Gaussian blur
  (σ = 2). Reference weight ``w_exp_warp`` 10.
* :func:`illumination_change_loss` — changing only the light must keep the
  hair region, the identity and the landmarks:
  ``L_hair + 2 L_id + 1000 L_lm``. Reference weight ``w_gamma_change`` 10.

The frozen networks of the second loss are configuration: plain callables
``images [B, H, W, 3] in [-1, 1] -> ...``. :func:`parser_hair_probability`,
:func:`identity_embedding` and :func:`network_landmarks` make them from
tfface's analysis nets (:mod:`tfface.analysis`: the face parser, the identity
net, the landmark or reconstruction net), trained here or converted.

Images are NHWC float32 in [-1, 1]; every loss returns scalar float32.
"""

from typing import Callable, Dict, Optional

import numpy as np
import tensorflow as tf

from tfface.data import schema
from tfface.layers.image_warp import dense_image_warp

ImageFn = Callable[[tf.Tensor], tf.Tensor]

HAIR_CLASS = schema.PARSE_CLASSES.index("hair")  # 2, as the reference parser
# The reference measures landmarks of 256 px images in units of 224 px (its
# R-Net's side): mean(((lm3 - lm4) / 224)^2) with lm in 256 px pixels.
REFERENCE_IMAGE_SIZE = 256.0
REFERENCE_LANDMARK_UNIT = 224.0
_EPS = 1e-8


def gaussian_kernel(size: int = 5, sigma: float = 2.0) -> np.ndarray:
  """`[size, size]` float32 normalised Gaussian (sums to 1), centred."""
  if size < 1 or size % 2 == 0:
    raise ValueError(f"gaussian_kernel: size must be an odd int >= 1, got "
                     f"{size}.")
  if not sigma > 0:
    raise ValueError(f"gaussian_kernel: sigma must be > 0, got {sigma}.")
  points = np.arange(size, dtype=np.float64) - (size - 1) // 2
  xs, ys = np.meshgrid(points, points)
  kernel = np.exp(-(xs ** 2 + ys ** 2) / (2.0 * sigma ** 2))
  return (kernel / kernel.sum()).astype(np.float32)


def gaussian_blur(images: tf.Tensor, size: int = 5,
                  sigma: float = 2.0) -> tf.Tensor:
  """Depthwise Gaussian blur with zero ('SAME') padding, as the reference.

  Args:
    images: `[B, H, W, C]` float32 (C static).
    size, sigma: the kernel (:func:`gaussian_kernel`).

  Returns:
    `[B, H, W, C]` float32.
  """
  images = tf.convert_to_tensor(images, tf.float32)
  channels = images.shape[-1]
  if images.shape.rank != 4 or channels is None:
    raise ValueError("gaussian_blur: images must be [B, H, W, C] with a "
                     f"static C, got shape {images.shape}.")
  kernel = np.tile(gaussian_kernel(size, sigma)[:, :, None, None],
                   [1, 1, channels, 1])
  return tf.nn.depthwise_conv2d(images, tf.constant(kernel), [1, 1, 1, 1],
                                padding="SAME")


def _mask4(mask: tf.Tensor, name: str) -> tf.Tensor:
  mask = tf.convert_to_tensor(mask, tf.float32)
  if mask.shape.rank == 3:
    mask = mask[..., None]
  if mask.shape.rank != 4 or mask.shape[-1] not in (None, 1):
    raise ValueError(f"expression_warp_loss: {name} must be [B, H, W, 1] in "
                     f"{{0, 1}}, got shape {mask.shape}.")
  return mask


def expression_warp_loss(fake_1: tf.Tensor, fake_2: tf.Tensor,
                         flow: tf.Tensor, mask_1: tf.Tensor,
                         mask_2: tf.Tensor, blur_size: int = 5,
                         blur_sigma: float = 2.0) -> tf.Tensor:
  """L_ew: face 1 warped along the 3-D flow must match face 2.

  ``warped = dense_image_warp(fake_1, flow)``; the loss mask
  ``1[(mask_1 − mask_2) ≤ 0]`` drops the pixels covered by face 1 only (what
  face 1 shows there has no counterpart in face 2); both images are blurred
  (5×5 Gaussian, σ = 2, zero padding) and

      L = Σ mask · sqrt(Σ_c (blur(fake_2) − blur(warped))² + 1e-8) / Σ mask,

  summed over the whole batch (the reference's batch is one pair).

  Args:
    fake_1, fake_2: `[B, H, W, C]` float32 generated images in [-1, 1].
    flow: `[B, H, W, 2]` float32 `(dy, dx)` pixels, as returned by
      :func:`tfface.methods.discofacegan.flow.render_expression_flow` (the
      reference's ``−F``).
    mask_1, mask_2: `[B, H, W, 1]` (or `[B, H, W]`) float32 in {0, 1}, the
      rendered face masks.
    blur_size, blur_sigma: the Gaussian (reference 5, 2).

  Returns:
    Scalar float32 >= 1e-4.
  """
  fake_1 = tf.convert_to_tensor(fake_1, tf.float32)
  fake_2 = tf.convert_to_tensor(fake_2, tf.float32)
  if fake_1.shape.rank != 4 or not fake_1.shape.is_compatible_with(
      fake_2.shape):
    raise ValueError("expression_warp_loss: fake_1 and fake_2 must be "
                     f"[B, H, W, C] of one shape, got {fake_1.shape} and "
                     f"{fake_2.shape}.")
  warped = dense_image_warp(fake_1, flow)
  mask = tf.cast(_mask4(mask_1, "mask_1") - _mask4(mask_2, "mask_2") <= 0.0,
                 tf.float32)
  diff = (gaussian_blur(fake_2, blur_size, blur_sigma) -
          gaussian_blur(warped, blur_size, blur_sigma))
  distance = tf.sqrt(tf.reduce_sum(tf.square(diff), -1, keepdims=True) + _EPS)
  # The reference divides by Σ mask unguarded; it is never 0 in practice (the
  # mask is 1 off both faces), the guard only keeps a degenerate input finite.
  return tf.reduce_sum(mask * distance) / tf.maximum(tf.reduce_sum(mask),
                                                      1.0)


def illumination_change_loss(
    fake_3: tf.Tensor, fake_4: tf.Tensor,
    hair_probability_fn: ImageFn, embed_fn: ImageFn, landmarks_fn: ImageFn,
    hair_weight: float = 1.0, identity_weight: float = 2.0,
    landmark_weight: float = 1000.0,
    image_size: Optional[float] = None) -> Dict[str, tf.Tensor]:
  """L_gc: a change of light alone keeps hair, identity and landmarks.

  The reference's ``Gamma_change_loss``: with both images clipped to
  [-1, 1] (it clips to [0, 255]),

  * ``hair = mean((H3 − H4)²)`` over every pixel, H the parser's hair
    probability;
  * ``identity = mean(1 − cos(e3, e4))`` (no margin), e the identity
    embedding (normalised here);
  * ``landmarks = mean(((lm3 − lm4) · 256 / S / 224)²)`` over B × 68 × 2: the
    reference's units (landmarks of 256 px images divided by 224) for
    landmarks in pixels of an S px image, so the weight 1000 carries over to
    any resolution;
  * ``total = hair_weight · hair + identity_weight · identity +
    landmark_weight · landmarks`` (reference 1, 2, 1000).

  Args:
    fake_3, fake_4: `[B, H, W, 3]` float32 in [-1, 1], the lighting pair.
    hair_probability_fn: images -> `[B, H', W']` or `[B, H', W', 1]` hair
      probabilities in [0, 1] (:func:`parser_hair_probability`).
    embed_fn: images -> `[B, D]` identity embeddings
      (:func:`identity_embedding`).
    landmarks_fn: images -> `[B, 68, 2]` (x, y) pixels of the input images
      (:func:`network_landmarks`).
    hair_weight, identity_weight, landmark_weight: the weights of the terms.
    image_size: S, the side in pixels of the frame the landmarks are in;
      None for the images' height.

  Returns:
    dict with scalar float32 ``hair``, ``identity``, ``landmarks`` (each
    unweighted) and ``total``.
  """
  fake_3 = tf.convert_to_tensor(fake_3, tf.float32)
  fake_4 = tf.convert_to_tensor(fake_4, tf.float32)
  if fake_3.shape.rank != 4 or not fake_3.shape.is_compatible_with(
      fake_4.shape):
    raise ValueError("illumination_change_loss: fake_3 and fake_4 must be "
                     f"[B, H, W, 3] of one shape, got {fake_3.shape} and "
                     f"{fake_4.shape}.")
  if image_size is None:
    image_size = fake_3.shape[1]
    if image_size is None:
      raise ValueError("illumination_change_loss: image_size is needed when "
                       "the images' height is not static.")
  if not float(image_size) > 0:
    raise ValueError("illumination_change_loss: image_size must be > 0 "
                     f"pixels, got {image_size}.")
  fake_3 = tf.clip_by_value(fake_3, -1.0, 1.0)
  fake_4 = tf.clip_by_value(fake_4, -1.0, 1.0)

  hair_3 = tf.convert_to_tensor(hair_probability_fn(fake_3), tf.float32)
  hair_4 = tf.convert_to_tensor(hair_probability_fn(fake_4), tf.float32)
  hair = tf.reduce_mean(tf.square(hair_3 - hair_4))

  embedding_3 = tf.math.l2_normalize(
      tf.convert_to_tensor(embed_fn(fake_3), tf.float32), axis=-1)
  embedding_4 = tf.math.l2_normalize(
      tf.convert_to_tensor(embed_fn(fake_4), tf.float32), axis=-1)
  identity = tf.reduce_mean(
      1.0 - tf.reduce_sum(embedding_3 * embedding_4, axis=-1))

  scale = REFERENCE_IMAGE_SIZE / float(image_size) / REFERENCE_LANDMARK_UNIT
  points_3 = tf.convert_to_tensor(landmarks_fn(fake_3), tf.float32)
  points_4 = tf.convert_to_tensor(landmarks_fn(fake_4), tf.float32)
  landmarks = tf.reduce_mean(tf.square((points_3 - points_4) * scale))

  total = (hair_weight * hair + identity_weight * identity +
           landmark_weight * landmarks)
  return {"hair": hair, "identity": identity, "landmarks": landmarks,
          "total": total}


# ------------------------------------------------- callables from the nets


def parser_hair_probability(parser, hair_class: int = HAIR_CLASS) -> ImageFn:
  """images -> `[B, H, W]` hair probability of a face parser.

  Args:
    parser: a net taking `[B, H, W, 3]` in [-1, 1] and returning per-pixel
      class logits `[B, H, W, K]` (tfface's :class:`tfface.analysis.parser.
      FaceParser`; class 2 is hair in :data:`tfface.data.schema.
      PARSE_CLASSES` as in the reference parser).
    hair_class: the hair channel.
  """
  def hair_probability(images):
    logits = parser(images, training=False)
    return tf.nn.softmax(logits, axis=-1)[..., hair_class]
  return hair_probability


def identity_embedding(identity_net) -> ImageFn:
  """images -> `[B, D]` embeddings of an identity net (tfface's or FaceNet)."""
  def embed(images):
    return identity_net(images, training=False)
  return embed


def network_landmarks(net) -> ImageFn:
  """images -> `[B, 68, 2]` pixels, from a landmark or reconstruction net.

  A net returning a dict (tfface's reconstruction net, as the reference's
  R-Net landmarks) gives its ``"landmarks"``; one returning a tensor (the
  landmark net) gives that.
  """
  def landmarks(images):
    out = net(images, training=False)
    if isinstance(out, dict):
      if "landmarks" not in out:
        raise ValueError("network_landmarks: the net's output dict has no "
                         f"'landmarks' entry (keys {sorted(out)}).")
      out = out["landmarks"]
    return out
  return landmarks
