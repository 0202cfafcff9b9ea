"""Training-time augmentation of the face-analysis networks.

The analysis networks learn on clean renders but must hold up on the
pseudo-real domain, on a user's photos and on generated images (blurry,
noisy, colour-shifted, slightly off-centre). Two families, both stateless
(`tf.random.stateless_*` with a ``[2]`` int32 seed from
:func:`tfface.training.seeding.step_seed`, so a resumed run repeats them):

* :func:`photometric` — colour and sensor changes that keep every label:
  brightness, contrast, saturation, gamma, a per-channel gain, Gaussian blur,
  noise, and a low-resolution round trip (what a GAN sample at a lower
  resolution looks like).
* :func:`similarity` — a random rotation, scale and shift of the whole
  image, applied consistently to landmarks (pixels) and a class map. Only for
  labels that move with the image (landmarks, parse); not for the
  reconstruction net, whose pose and translation labels it would break.

Images are `[B, H, W, 3]` float32 in [-1, 1] throughout.
"""

import math
from typing import Optional, Tuple

import tensorflow as tf


def _uniform(seed, shape, low, high, salt):
  seed = tf.cast(seed, tf.int32) + tf.constant([0, salt], tf.int32)
  return tf.random.stateless_uniform(shape, seed, low, high)


def _gaussian_kernel(sigma: tf.Tensor, radius: int = 2) -> tf.Tensor:
  """`[2r+1]` normalised 1-D Gaussian of std ``sigma`` (scalar > 0)."""
  x = tf.range(-radius, radius + 1, dtype=tf.float32)
  k = tf.exp(-0.5 * tf.square(x / tf.maximum(sigma, 1e-3)))
  return k / tf.reduce_sum(k)


def gaussian_blur(images: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
  """Per-image Gaussian blur; ``sigma`` `[B]` pixels (0 = unchanged).

  Args:
    images: `[B, H, W, C]` float32.
    sigma: `[B]` float32 >= 0.

  Returns:
    `[B, H, W, C]` float32, reflect-padded at the borders.
  """
  radius = 2
  channels = images.shape[-1]

  def blur_one(args):
    image, s = args
    k = _gaussian_kernel(s, radius)
    padded = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius],
                                  [0, 0]], mode="REFLECT")
    kx = tf.tile(tf.reshape(k, [1, -1, 1, 1]), [1, 1, channels, 1])
    ky = tf.tile(tf.reshape(k, [-1, 1, 1, 1]), [1, 1, channels, 1])
    out = tf.nn.depthwise_conv2d(padded, kx, [1, 1, 1, 1], "VALID")
    out = tf.nn.depthwise_conv2d(out, ky, [1, 1, 1, 1], "VALID")
    return tf.where(s > 1e-3, out[0], image)

  return tf.map_fn(blur_one, (images, sigma), fn_output_signature=tf.float32)


def photometric(images: tf.Tensor, seed: tf.Tensor, strength: float = 1.0,
                max_blur_sigma: float = 1.0, max_noise: float = 0.04,
                low_resolution_probability: float = 0.25) -> tf.Tensor:
  """Random colour, blur, noise and resolution changes.

  Args:
    images: `[B, H, W, 3]` float32 in [-1, 1].
    seed: `[2]` int32 stateless seed.
    strength: scales every colour change (0 = none).
    max_blur_sigma: blur std is uniform in [0, this] pixels for half the
      images.
    max_noise: Gaussian noise std is uniform in [0, this] (image units / 2).
    low_resolution_probability: chance of a down-and-up resize by 2×.

  Returns:
    `[B, H, W, 3]` float32 in [-1, 1].
  """
  batch = tf.shape(images)[0]
  height, width = images.shape[1], images.shape[2]
  s = float(strength)
  x = (images + 1.0) * 0.5
  brightness = _uniform(seed, [batch, 1, 1, 1], -0.12 * s, 0.12 * s, 1)
  contrast = _uniform(seed, [batch, 1, 1, 1], 1 - 0.3 * s, 1 + 0.3 * s, 2)
  saturation = _uniform(seed, [batch, 1, 1, 1], 1 - 0.4 * s, 1 + 0.4 * s, 3)
  gain = _uniform(seed, [batch, 1, 1, 3], 1 - 0.1 * s, 1 + 0.1 * s, 4)
  gamma = tf.exp(_uniform(seed, [batch, 1, 1, 1], -0.25 * s, 0.25 * s, 5))
  mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
  x = (x - mean) * contrast + mean + brightness
  grey = tf.reduce_mean(x, axis=-1, keepdims=True)
  x = grey + (x - grey) * saturation
  x = tf.clip_by_value(x * gain, 0.0, 1.0) ** gamma
  if max_blur_sigma > 0:
    blur = _uniform(seed, [batch], 0.0, max_blur_sigma, 6)
    blur = blur * tf.cast(_uniform(seed, [batch], 0.0, 1.0, 7) < 0.5,
                          tf.float32)
    x = gaussian_blur(x, blur)
  if low_resolution_probability > 0 and height >= 16:
    small = tf.image.resize(x, [height // 2, width // 2], antialias=True)
    small = tf.image.resize(small, [height, width])
    pick = tf.cast(_uniform(seed, [batch, 1, 1, 1], 0.0, 1.0, 8)
                   < low_resolution_probability, tf.float32)
    x = pick * small + (1.0 - pick) * x
  if max_noise > 0:
    level = _uniform(seed, [batch, 1, 1, 1], 0.0, max_noise, 9)
    noise = tf.random.stateless_normal(tf.shape(x),
                                       tf.cast(seed, tf.int32) + [0, 10])
    x = x + level * noise
  return tf.clip_by_value(x, 0.0, 1.0) * 2.0 - 1.0


def random_similarity(seed: tf.Tensor, batch: tf.Tensor, size: Tuple[int, int],
                      max_rotation_degrees: float = 10.0,
                      max_scale: float = 0.1, max_shift: float = 0.06
                      ) -> tf.Tensor:
  """`[B, 2, 3]` affine maps (output pixel -> input pixel, x/y order).

  Rotation about the image centre uniform in ±``max_rotation_degrees``,
  scale in 1 ± ``max_scale``, shift uniform in ± ``max_shift`` · size.
  """
  height, width = size
  angle = _uniform(seed, [batch], -1.0, 1.0, 11) * math.radians(
      max_rotation_degrees)
  scale = 1.0 + _uniform(seed, [batch], -max_scale, max_scale, 12)
  shift = _uniform(seed, [batch, 2], -max_shift, max_shift, 13) * [width,
                                                                   height]
  centre = tf.constant([width / 2.0, height / 2.0])
  cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
  # Input = A · (output - centre - shift) + centre, A = R(-angle) / scale.
  rotation = tf.stack([tf.stack([cos, sin], -1), tf.stack([-sin, cos], -1)],
                      -2)  # [B, 2, 2]
  offset = centre - tf.einsum("bij,bj->bi", rotation, centre + shift)
  return tf.concat([rotation, offset[..., None]], -1)


def _sample(images: tf.Tensor, maps: tf.Tensor, method: str) -> tf.Tensor:
  """Samples `[B, H, W, C]` at input pixels ``maps(output)`` (edge clamp)."""
  batch = tf.shape(images)[0]
  height, width = images.shape[1], images.shape[2]
  ys, xs = tf.meshgrid(tf.range(height, dtype=tf.float32) + 0.5,
                       tf.range(width, dtype=tf.float32) + 0.5, indexing="ij")
  grid = tf.stack([xs, ys, tf.ones_like(xs)], -1)  # [H, W, 3]
  source = tf.einsum("bij,hwj->bhwi", maps, grid) - 0.5  # pixel-index coords
  x = tf.clip_by_value(source[..., 0], 0.0, width - 1.0)
  y = tf.clip_by_value(source[..., 1], 0.0, height - 1.0)
  b = tf.broadcast_to(tf.range(batch)[:, None, None], tf.shape(x))
  if method == "nearest":
    idx = tf.stack([b, tf.cast(tf.round(y), tf.int32),
                    tf.cast(tf.round(x), tf.int32)], -1)
    return tf.gather_nd(images, idx)
  x0, y0 = tf.floor(x), tf.floor(y)
  fx, fy = (x - x0)[..., None], (y - y0)[..., None]
  x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
  x1 = tf.minimum(x0 + 1, width - 1)
  y1 = tf.minimum(y0 + 1, height - 1)
  def at(yy, xx):
    return tf.gather_nd(images, tf.stack([b, yy, xx], -1))
  top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
  bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
  return top * (1 - fy) + bottom * fy


def similarity(images: tf.Tensor, seed: tf.Tensor,
               landmarks: Optional[tf.Tensor] = None,
               classes: Optional[tf.Tensor] = None,
               max_rotation_degrees: float = 10.0, max_scale: float = 0.1,
               max_shift: float = 0.06):
  """Rotates, scales and shifts images and their geometric labels together.

  Args:
    images: `[B, H, W, 3]` float32 in [-1, 1].
    seed: `[2]` int32 stateless seed.
    landmarks: `[B, N, 2]` float32 (x, y) continuous pixels, or None.
    classes: `[B, H, W]` int32 class map, or None (nearest sampling).
    max_rotation_degrees, max_scale, max_shift: see
      :func:`random_similarity`.

  Returns:
    ``(images, landmarks, classes)`` transformed (None stays None).
  """
  batch = tf.shape(images)[0]
  size = (images.shape[1], images.shape[2])
  maps = random_similarity(seed, batch, size, max_rotation_degrees,
                           max_scale, max_shift)
  out_images = _sample(images, maps, "bilinear")
  out_landmarks = out_classes = None
  if landmarks is not None:
    # Landmarks move by the inverse map (input pixel -> output pixel).
    full = tf.concat([maps, tf.tile(tf.constant([[[0.0, 0.0, 1.0]]]),
                                    [batch, 1, 1])], 1)
    inverse = tf.linalg.inv(full)[:, :2]
    points = tf.concat([landmarks, tf.ones_like(landmarks[..., :1])], -1)
    out_landmarks = tf.einsum("bij,bnj->bni", inverse, points)
  if classes is not None:
    out_classes = _sample(classes[..., None], maps, "nearest")[..., 0]
  return out_images, out_landmarks, out_classes
