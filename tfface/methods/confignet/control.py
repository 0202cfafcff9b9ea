"""Controlling a trained ConfigNet: sample, embed, edit factors, change pose,
fine-grained control by projected gradient descent, one-shot fine-tuning.

:class:`ConfigNetController` wraps the networks of a trained stage-2 method
(or of a stage-1 method, without embedding). Latents are `[B, Z]` float32 in
the factor table's layout (z_i concatenated in sorted factor name order);
rotations are `[B, 3]` (pitch, yaw, roll) radians; images `[B, R, R, 3]` in
[-1, 1].
"""

from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfface.losses import gan as gan_losses
from tfface.methods.confignet import factors as factors_lib
from tfface.methods.confignet import losses as cn_losses
from tfface.methods.confignet import model as model_lib


class ConfigNetController:
  """Inference-time operations on a trained ConfigNet.

  Args:
    generator: G (use the EMA copy).
    synthetic_encoder: E_S.
    table: the factor table.
    real_encoder: E_R, for :meth:`embed` and fine-tuning (optional).
    latent_generator: G_lat of the latent GAN, for :meth:`sample` (optional;
      without it, samples are z ~ N(0, I)·truncation).
  """

  def __init__(self, generator: model_lib.Generator,
               synthetic_encoder: model_lib.SyntheticEncoder,
               table: factors_lib.FactorTable,
               real_encoder: Optional[model_lib.RealEncoder] = None,
               latent_generator: Optional[model_lib.LatentGenerator] = None):
    self.generator = generator
    self.synthetic_encoder = synthetic_encoder
    self.table = table
    self.real_encoder = real_encoder
    self.latent_generator = latent_generator

  @classmethod
  def from_method(cls, method, latent_generator=None) -> "ConfigNetController":
    """From a built (and restored) :class:`ConfigNetStage1`/`Stage2`."""
    return cls(method.generator_ema, method.synthetic_encoder, method.table,
               getattr(method, "real_encoder", None), latent_generator)

  # ------------------------------------------------------------------ basics
  def sample(self, n: int, truncation: float = 0.7, seed: int = 0
            ) -> tf.Tensor:
    """New latents: ``G_lat(w · truncation)``, w ~ N(0, I). `[n, Z]`."""
    w = tf.random.stateless_normal([int(n), self.table.latent_dim],
                                   [int(seed), 0]) * float(truncation)
    if self.latent_generator is None:
      return w
    return self.latent_generator(w)

  def embed(self, images: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """E_R: images `[B, R, R, 3]` -> (z `[B, Z]`, rotation `[B, 3]`)."""
    if self.real_encoder is None:
      raise ValueError("embedding needs the real encoder E_R (a stage-2 model)")
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4 or images.shape[-1] != 3:
      raise ValueError(f"embed expects images [B, H, W, 3] in [-1, 1], got "
                       f"{images.shape}")
    return self.real_encoder(images, training=False)

  def generate(self, z: tf.Tensor, rotation: Optional[tf.Tensor] = None
              ) -> tf.Tensor:
    """G(z, rotation) (frontal when rotation is None): `[B, R, R, 3]`."""
    z = self._check_z(z)
    if rotation is None:
      rotation = tf.zeros([tf.shape(z)[0], 3])
    return self.generator(z, tf.convert_to_tensor(rotation, tf.float32))

  def encode_factors(self, theta: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """E_S(θ): dict of every factor's `[B, dim θ_i]` -> `[B, Z]`."""
    return self.synthetic_encoder(theta)

  def _check_z(self, z):
    z = tf.convert_to_tensor(z, tf.float32)
    if z.shape.rank != 2 or z.shape[-1] != self.table.latent_dim:
      raise ValueError(f"z must be [B, {self.table.latent_dim}], got {z.shape}")
    return z

  # ------------------------------------------------------------------ editing
  def set_factor(self, z: tf.Tensor, name: str, theta: tf.Tensor
                ) -> tf.Tensor:
    """Replaces z_name with E_S,name(θ_name); other slices are kept exactly.

    Args:
      z: `[B, Z]`.
      name: factor name.
      theta: `[B, dim θ_name]` (or `[dim θ_name]`, broadcast to the batch).
    """
    z = self._check_z(z)
    theta = tf.convert_to_tensor(theta, tf.float32)
    if theta.shape.rank == 1:
      theta = tf.tile(theta[None], [tf.shape(z)[0], 1])
    return self.replace_slice(z, name,
                              self.synthetic_encoder.encode_factor(name, theta))

  def replace_slice(self, z: tf.Tensor, name: str, z_i: tf.Tensor
                   ) -> tf.Tensor:
    """z with its slice for ``name`` replaced by ``z_i`` `[B, dim z_i]`."""
    start, stop = self.table.latent_slice(name)
    z_i = tf.convert_to_tensor(z_i, tf.float32)
    if z_i.shape[-1] != stop - start:
      raise ValueError(f"factor {name!r} has {stop - start} latent dims, got "
                       f"{z_i.shape}")
    return tf.concat([z[:, :start], z_i, z[:, stop:]], axis=1)

  def swap_factor(self, z: tf.Tensor, source: tf.Tensor, name: str
                 ) -> tf.Tensor:
    """z with factor ``name`` taken from ``source`` (another face's z)."""
    start, stop = self.table.latent_slice(name)
    source = self._check_z(source)
    return self.replace_slice(self._check_z(z), name, source[:, start:stop])

  # ------------------------------------------------------- fine-grained control
  def fit_factor(self, name: str, z_i: tf.Tensor,
                 lower: float = 0.0, upper: float = 1.0,
                 steps: int = 2000, learning_rate: float = 0.05,
                 frozen: Sequence[int] = (),
                 initial: Optional[tf.Tensor] = None) -> tf.Tensor:
    """θ_i whose E_S,i(θ_i) matches ``z_i``, by projected gradient descent.

    Reference ``fit_facemodel_expression_params_to_latent``: θ starts at 0
    (or ``initial``), loss ``mean((z_i − E_S,i(θ))²)``, plain SGD with lr 0.05
    for 2000 steps, after every step θ is clipped to the box
    ``[lower, upper]`` (blendshapes: [0, 1]) and ``frozen`` entries set to 0.

    Args:
      name: factor name.
      z_i: `[B, dim z_i]` target latent slice.
      lower, upper: the box (scalars or `[dim θ_i]`).
      steps, learning_rate: SGD settings.
      frozen: indices of θ_i held at 0 (unused blendshapes).
      initial: `[B, dim θ_i]` start point (clipped into the box).

    Returns:
      `[B, dim θ_i]` θ inside the box.
    """
    factor = self.table[name]
    z_i = tf.convert_to_tensor(z_i, tf.float32)
    if z_i.shape.rank != 2 or z_i.shape[-1] != factor.z_dim:
      raise ValueError(f"z_i for factor {name!r} must be [B, {factor.z_dim}], "
                       f"got {z_i.shape}")
    lower = tf.broadcast_to(tf.constant(lower, tf.float32), [factor.theta_dim])
    upper = tf.broadcast_to(tf.constant(upper, tf.float32), [factor.theta_dim])
    if bool(tf.reduce_any(lower > upper)):
      raise ValueError("fit_factor box has lower > upper")
    keep = np.ones([factor.theta_dim], np.float32)
    keep[list(frozen)] = 0.0
    keep = tf.constant(keep)
    start = (tf.zeros([z_i.shape[0], factor.theta_dim]) if initial is None
             else tf.convert_to_tensor(initial, tf.float32))
    theta = tf.Variable(tf.clip_by_value(start, lower, upper) * keep)
    encoder = self.synthetic_encoder.encoders[name]

    @tf.function
    def step():
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(z_i - encoder(theta)))
      grad = tape.gradient(loss, theta)
      theta.assign(tf.clip_by_value(theta - learning_rate * grad, lower,
                                    upper) * keep)
      return loss

    for _ in range(int(steps)):
      step()
    return tf.convert_to_tensor(theta)

  # --------------------------------------------------------- one-shot tuning
  def fine_tune(self, image: tf.Tensor, n_iters: int = 50,
                learning_rate: float = 1e-4,
                perceptual: Optional[Callable[[tf.Tensor, tf.Tensor],
                                              tf.Tensor]] = None,
                face_perceptual: Optional[Callable[[tf.Tensor, tf.Tensor],
                                                   tf.Tensor]] = None,
                image_loss_weight: float = 5e-4,
                pixel_l1_weight: float = 0.0,
                d_real=None, d_domain=None, regressor=None,
                domain_weight: float = 5.0,
                regression_weight: float = 10.0,
                ) -> Dict[str, object]:
    """One-shot fine-tuning of a copy of G and of ẑ on one image.

    Reference ``fine_tune_on_img``: starts from E_R(x); optimizes the latent,
    the rotation and **all** weights of a copy of G with Adam(1e-4) for 50
    iterations on ``½λ·VGG19 + ½λ·face-perceptual`` (the face net is
    optional: pass ``face_perceptual`` built from a weights file, else the
    VGG term gets the full weight), plus, when given, the D_R GAN terms, the
    D_DA term (label "real") and the normalized latent regression. D, D_DA
    and the regressor stay frozen. The controller's G is not modified.

    Args:
      image: `[1, R, R, 3]` (or `[R, R, 3]`) in [-1, 1].
      n_iters: iterations (50).
      learning_rate: Adam learning rate (1e-4).
      perceptual: image -> image loss (e.g. ``PerceptualLoss``); required.
      face_perceptual: optional second perceptual loss, the reference's
        VGGFace term: ``PerceptualLoss(vggface_h5, network="vggface")``
        (:mod:`tfface.losses.perceptual`).
      image_loss_weight: λ (5e-4 after stage 2).
      pixel_l1_weight: optional pixel L1 (the no-weights fallback).
      d_real, d_domain, regressor: optional frozen networks for the extra
        terms.
      domain_weight, regression_weight: their weights (5, 10).

    Returns:
      dict: ``generator`` (the fine-tuned copy), ``z`` `[1, Z]`,
      ``rotation`` `[1, 3]`, ``losses`` (list of floats per iteration).
    """
    if perceptual is None:
      raise ValueError("fine_tune needs a perceptual loss (e.g. "
                       "tfface.losses.perceptual.PerceptualLoss)")
    image = tf.convert_to_tensor(image, tf.float32)
    if image.shape.rank == 3:
      image = image[None]
    if image.shape.rank != 4 or image.shape[0] != 1:
      raise ValueError(f"fine_tune takes one image [1, H, W, 3], got "
                       f"{image.shape}")
    z0, rot0 = self.embed(image)
    generator = clone_generator(self.generator)
    z = tf.Variable(z0, name="z_hat")
    rotation = tf.Variable(rot0, name="rotation_hat")
    variables = [z, rotation] + generator.trainable_variables
    optimizer = tf.keras.optimizers.Adam(learning_rate=learning_rate)
    optimizer.build(variables)
    vgg_weight = image_loss_weight * (0.5 if face_perceptual else 1.0)

    @tf.function
    def step():
      with tf.GradientTape() as tape:
        out = generator(z, rotation)
        loss = vgg_weight * perceptual(image, out)
        if face_perceptual is not None:
          loss += 0.5 * image_loss_weight * face_perceptual(image, out)
        if pixel_l1_weight:
          loss += pixel_l1_weight * tf.reduce_mean(tf.abs(image - out))
        if d_real is not None:
          loss += gan_losses.generator_loss("non_saturating", d_real(out))
        if d_domain is not None:
          loss += domain_weight * tf.reduce_mean(tf.nn.softplus(-d_domain(z)))
        if regressor is not None:
          loss += regression_weight * cn_losses.latent_regression_loss(
              regressor(out), z, rotation)
      grads = tape.gradient(loss, variables)
      optimizer.apply_gradients(zip(grads, variables))
      return loss

    history = [float(step()) for _ in range(int(n_iters))]
    return {"generator": generator, "z": tf.convert_to_tensor(z),
            "rotation": tf.convert_to_tensor(rotation), "losses": history}


def clone_generator(generator: model_lib.Generator) -> model_lib.Generator:
  """A new Generator with the same configuration and a copy of the weights."""
  clone = model_lib.Generator(**generator.config_kwargs)
  clone(tf.zeros([1, generator.latent_dim]), tf.zeros([1, 3]))
  for a, b in zip(clone.weights, generator.weights):
    a.assign(b)
  return clone


def neutral_theta(table: factors_lib.FactorTable, batch: int = 1
                 ) -> Dict[str, tf.Tensor]:
  """All-zero θ for every factor (blendshapes 0 = neutral expression)."""
  return {f.name: tf.zeros([batch, f.theta_dim]) for f in table.factors}


def interpolate(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
  """``n`` points from a to b (inclusive): `[n, ...]`."""
  t = np.linspace(0.0, 1.0, int(n)).reshape([-1] + [1] * np.ndim(a))
  return (1.0 - t) * np.asarray(a)[None] + t * np.asarray(b)[None]
