"""DiscoFaceGAN's imitative losses (Deng et al. 2020, §3.2; reference code
``training/training_utils.py`` ``imitative_learning``, notes §3.3).

G's image x of ``[λ, ε]`` should look like the render R of λ: same pixels at
low resolution, same landmarks, lighting and identity, same skin colour, as
measured by frozen analysis nets. Images are `[B, H, W, 3]` float32 in
[-1, 1], masks `[B, H, W, 1]` in {0, 1} (the render's face alpha).

==========  =============================================  ======  ==========
term        formula                                        weight  when
==========  =============================================  ======  ==========
L_pix       Σ M·sqrt(Σ_c (R − x)² + 1e-8) / Σ M            20      r <= 32
L_lm        mean(((lm(x) − lm(R)) / r)²)  (B × 68 × 2)     500 →   r > 32
                                                           100 in
                                                           stage 2
L_γ         mean |γ(x) − γ_λ|  (27 SH coefficients)        10      r > 32
L_id        mean(max(0.3, 1 − cos(φ(x⊙M), φ(R))))          3       r > 32
L_skin      mean_b sqrt(‖mean_M(x) − mean_M(R)‖² + 1e-8)   20      r > 32
L_exp       mean |β(x) − β_λ|  (expression coefficients)   0       r > 32
==========  =============================================  ======  ==========

L_exp is not the reference's (it reads expression only through the
landmarks); it is off by default. At 32 px a full jaw opening moves the
mouth landmarks by 1–2 px, too weak a pull for G to follow λ_exp, while the
reconstruction net still reads the jaw on 32 px renders; the term asks for
the expression the net reads, as L_γ does for the light. Tried at weight 20
in ``cpu_64.gin``'s stage 1 (6000 steps): the net's reading of G's images
then follows λ_exp with a mean r of 0.12 over the blendshapes, above the
0.08 it reaches on the renders of the same λ, while jawOpen stays at r 0.00
and the grid's mouths do not move: G meets the term with patterns the small
frozen net reads, not with expressions. So it stays off.

r is the resolution trained (StyleGAN's ``sched.resolution``, which already
is the next resolution during a fade-in). lm(x), γ(x) come from the frozen
reconstruction net on x; lm(R) are the render's projected landmarks. The
reference measures landmarks at 224 px and divides by 224; dividing pixel
landmarks of an r-px image by r is the same normalisation at any size.
φ is the frozen identity net; x⊙M puts the background at −1 (the
reference's 0 in 0..255), as the render's background.
"""

from typing import Callable, Dict, Mapping, Optional

import tensorflow as tf

from tfface.losses import identity as identity_losses

_EPS = 1e-8


def _check_images(name: str, x: tf.Tensor, channels: int = 3) -> tf.Tensor:
  x = tf.convert_to_tensor(x, tf.float32)
  if x.shape.rank != 4 or x.shape[-1] != channels:
    raise ValueError(f"{name} must be [B, H, W, {channels}], got shape "
                     f"{x.shape}")
  return x


def pixel_loss(fake: tf.Tensor, render: tf.Tensor,
               mask: tf.Tensor) -> tf.Tensor:
  """L_pix: ``Σ M·sqrt(Σ_c (R − x)² + 1e-8) / Σ M`` over the whole batch.

  Args:
    fake: `[B, H, W, 3]` G's images in [-1, 1].
    render: `[B, H, W, 3]` renders in [-1, 1].
    mask: `[B, H, W, 1]` render alpha in {0, 1}.

  Returns:
    scalar float32 >= 0 (0 when the mask is empty).
  """
  fake = _check_images("fake", fake)
  render = _check_images("render", render)
  mask = _check_images("mask", mask, 1)
  distance = tf.sqrt(tf.reduce_sum(tf.square(render - fake), -1,
                                   keepdims=True) + _EPS)
  return tf.reduce_sum(mask * distance) / tf.maximum(tf.reduce_sum(mask),
                                                     _EPS)


def landmark_loss(fake_landmarks: tf.Tensor, render_landmarks: tf.Tensor,
                  image_size) -> tf.Tensor:
  """L_lm: ``mean(((lm_x − lm_R) / image_size)²)``.

  Args:
    fake_landmarks, render_landmarks: `[B, 68, 2]` pixels of an image of
      ``image_size`` px.
    image_size: the side the pixels belong to (the reference: 224).

  Returns:
    scalar float32.
  """
  a = tf.convert_to_tensor(fake_landmarks, tf.float32)
  b = tf.convert_to_tensor(render_landmarks, tf.float32)
  if a.shape.rank != 3 or a.shape[-1] != 2 or a.shape != b.shape:
    raise ValueError(f"landmarks must both be [B, N, 2], got {a.shape} and "
                     f"{b.shape}")
  return tf.reduce_mean(tf.square((a - b) / tf.cast(image_size, tf.float32)))


def _coefficient_l1(predicted, target, what: str, shape: str) -> tf.Tensor:
  """``mean |predicted − target|`` of two `[B, D]` coefficient batches."""
  a = tf.convert_to_tensor(predicted, tf.float32)
  b = tf.convert_to_tensor(target, tf.float32)
  if a.shape.rank != 2 or a.shape != b.shape:
    raise ValueError(f"{what} coefficients must both be {shape}, got "
                     f"{a.shape} and {b.shape}")
  return tf.reduce_mean(tf.abs(a - b))


def sh_loss(predicted_sh: tf.Tensor, target_sh: tf.Tensor) -> tf.Tensor:
  """L_γ: ``mean |γ_x − γ_λ|`` over `[B, 27]` SH coefficients."""
  return _coefficient_l1(predicted_sh, target_sh, "SH", "[B, 27]")


def expression_loss(predicted: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
  """L_exp: ``mean |β_x − β_λ|`` over `[B, E]` expression coefficients."""
  return _coefficient_l1(predicted, target, "expression", "[B, E]")


def masked_face(images: tf.Tensor, mask: tf.Tensor,
                background: float = -1.0) -> tf.Tensor:
  """``x⊙M`` with the background at ``background`` (−1: black)."""
  return images * mask + background * (1.0 - mask)


def identity_loss(fake_embedding: tf.Tensor, render_embedding: tf.Tensor,
                  margin: float = 0.3) -> tf.Tensor:
  """L_id: ``mean(max(margin, 1 − cos))`` (margin 0.3: no gradient once the
  cosine exceeds 0.7). Embeddings `[B, D]`."""
  return identity_losses.cosine_identity_loss(fake_embedding,
                                              render_embedding, margin)


def skin_color_loss(fake: tf.Tensor, render: tf.Tensor,
                    mask: tf.Tensor) -> tf.Tensor:
  """L_skin: ``mean_b sqrt(‖mean_M(x) − mean_M(R)‖² + 1e-8)``, the per-image
  channel means over the render mask."""
  fake = _check_images("fake", fake)
  render = _check_images("render", render)
  mask = _check_images("mask", mask, 1)
  area = tf.maximum(tf.reduce_sum(mask, [1, 2]), _EPS)  # [B, 1]
  mean_x = tf.reduce_sum(fake * mask, [1, 2]) / area
  mean_r = tf.reduce_sum(render * mask, [1, 2]) / area
  return tf.reduce_mean(tf.sqrt(tf.reduce_sum(tf.square(mean_x - mean_r), -1)
                                + _EPS))


DEFAULT_WEIGHTS = {"pixel": 20.0, "landmarks": 500.0, "sh": 10.0,
                   "identity": 3.0, "skin": 20.0, "expression": 0.0}


class ImitativeLoss:
  """The weighted imitative terms with the reference's resolution switch.

  Args:
    reconstruction_fn: images `[B, r, r, 3]` in [-1, 1] -> dict with ``sh``
      `[B, 27]` and ``landmarks`` `[B, 68, 2]` pixels of the input (the
      frozen reconstruction net). None: no landmark and SH terms.
    identity_fn: images -> `[B, D]` embeddings (the frozen identity net).
      None: no identity term.
    weights: dict term -> weight (:data:`DEFAULT_WEIGHTS`; stage 2 sets
      ``landmarks`` to 100). A weight of 0 drops the term.
    identity_margin: 0.3.
    pixel_max_resolution: L_pix alone up to this resolution, the other four
      above it (32, the reference).
  """

  def __init__(self, reconstruction_fn: Optional[Callable] = None,
               identity_fn: Optional[Callable] = None,
               weights: Optional[Mapping[str, float]] = None,
               identity_margin: float = 0.3,
               pixel_max_resolution: int = 32):
    self.reconstruction_fn = reconstruction_fn
    self.identity_fn = identity_fn
    self.weights = dict(DEFAULT_WEIGHTS)
    for k, v in dict(weights or {}).items():
      if k not in DEFAULT_WEIGHTS:
        raise ValueError(f"unknown imitative loss term {k!r}; expected one of "
                         f"{sorted(DEFAULT_WEIGHTS)}")
      self.weights[k] = float(v)
    self.identity_margin = float(identity_margin)
    self.pixel_max_resolution = int(pixel_max_resolution)

  def active_terms(self, resolution: int):
    """The terms used at a (Python int) resolution with nonzero weight."""
    if int(resolution) <= self.pixel_max_resolution:
      names = ["pixel"]
    else:
      names = []
      if self.reconstruction_fn is not None:
        names += ["landmarks", "sh", "expression"]
      if self.identity_fn is not None:
        names.append("identity")
      names.append("skin")
    return [n for n in names if self.weights[n] != 0.0]

  def __call__(self, fake: tf.Tensor, render: tf.Tensor, mask: tf.Tensor,
               render_landmarks: tf.Tensor, target_sh: tf.Tensor,
               resolution: Optional[int] = None,
               target_expression: Optional[tf.Tensor] = None
               ) -> Dict[str, tf.Tensor]:
    """The weighted terms at ``resolution`` (default: fake's size).

    Args:
      fake: `[B, r, r, 3]` G's images.
      render: `[B, r, r, 3]` renders of the same λ at r px.
      mask: `[B, r, r, 1]` their alpha.
      render_landmarks: `[B, 68, 2]` the render's landmarks in r-px pixels.
      target_sh: `[B, 27]` λ's SH coefficients.
      resolution: the schedule's resolution (Python int).
      target_expression: `[B, E]` λ's expression coefficients (needed when
        the ``expression`` weight is nonzero).

    Returns:
      dict ``imitative_<term>`` -> weighted scalar (only the active terms).
    """
    size = int(fake.shape[1])
    resolution = size if resolution is None else int(resolution)
    out = {}
    terms = self.active_terms(resolution)
    if "pixel" in terms:
      out["imitative_pixel"] = self.weights["pixel"] * pixel_loss(
          fake, render, mask)
    if "expression" in terms and target_expression is None:
      raise ValueError("the imitative expression term needs "
                       "target_expression (λ's expression coefficients)")
    if {"landmarks", "sh", "expression"} & set(terms):
      rec = self.reconstruction_fn(fake)
      if "expression" in terms:
        out["imitative_expression"] = self.weights["expression"] * (
            expression_loss(rec["expression"], target_expression))
      if "landmarks" in terms:
        out["imitative_landmarks"] = self.weights["landmarks"] * (
            landmark_loss(rec["landmarks"], render_landmarks, size))
      if "sh" in terms:
        out["imitative_sh"] = self.weights["sh"] * sh_loss(rec["sh"],
                                                           target_sh)
    if "identity" in terms:
      out["imitative_identity"] = self.weights["identity"] * identity_loss(
          self.identity_fn(masked_face(fake, mask)), self.identity_fn(render),
          self.identity_margin)
    if "skin" in terms:
      out["imitative_skin"] = self.weights["skin"] * skin_color_loss(
          fake, render, mask)
    return out
