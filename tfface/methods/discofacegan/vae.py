"""DiscoFaceGAN's λ-space VAEs: one small VAE per factor (§2 of the notes).

DiscoFaceGAN does not sample the face-model coefficients λ from a Gaussian:
it trains a VAE on the coefficients that a reconstruction net finds in real
faces, one per factor (identity, expression, illumination, pose), and feeds
the generator with ``λ = decoders(z)``, ``z ~ N(0, I)``. The decoders are
frozen inside the GAN (``CoeffDecoder`` + ``tf.stop_gradient``), so λ follows
the distribution of real faces, not of an arbitrary prior.

Per factor (:class:`FactorVAE`, the reference's ``MLP`` stage-1 model of
daib13/TwoStageVAE; the second stage is never built):

* encoder: three ``dense(width, relu)`` layers ``fc0..fc2``, then linear
  ``mean`` (μ) and ``log_sd`` (log σ) of size Z (the reference's
  ``encoder/dense`` and ``encoder/dense_1``); ``z = μ + ε σ``;
* decoder: three ``dense(width, relu)`` ``fc0..fc2``, a linear ``x_hat`` and
  a learned scalar ``loggamma_x`` (log γ_x, initial 0);
* loss (:func:`factor_vae_loss`), per example summed over dimensions and
  averaged over the batch:
  ``KL = Σ (μ² + σ² − 2 log σ − 1) / 2`` and
  ``gen = Σ (((x − x̂) / γ_x)² / 2 + log γ_x + ½ log 2π)``. The learned γ_x
  is the decoder's noise scale; ``gen`` goes negative once γ_x < 1/√(2π)
  (DiscoFaceGAN issue #34: expected).

Optional per-dimension standardization (non-trainable ``x_shift``,
``x_scale``; :meth:`FactorVAE.set_standardization`): the VAE models
``(λ − shift) / scale`` and decodes back to λ. Identity by default and in
every converted checkpoint (the reference); tfface's CPU trainer sets it from
the training table (see ``set_standardization`` for why).

The factor z order is the reference's: ``z_id | z_exp | z_gamma | z_rot``
(:data:`FACTORS`; in z, illumination comes before pose).

Sizes (:data:`LAYOUTS`):

=================  ===================  =====  =====  ====================
layout / factor    λ groups             λ dim  z dim  width × 3
=================  ===================  =====  =====  ====================
bfm identity       identity + albedo    160    128    512
bfm expression     expression           64     32     256
bfm illumination   sh                   27     16     128
bfm pose           pose                 3      3      32
procedural ident.  identity + albedo    35     28     128
procedural expr.   expression           24     12     96
procedural illum.  sh                   27     16     128
procedural pose    pose                 3      3      32
=================  ===================  =====  =====  ====================

``"bfm"`` is the reference (DiscoFaceGAN's R-Net layout 2); the released
checkpoints convert into it (:mod:`tfface.methods.discofacegan.vae_convert`).
``"procedural"`` sizes tfface's procedural face model by the reference's
ratios: z keeps the reference's compression (identity 128/160 = 0.8 → 28 of
35; expression 32/64 = 0.5 → 12 of 24), and the width keeps about 4 units
per input dimension, a power of two or a multiple of 32 (identity 512/160 =
3.2 and expression 256/64 = 4 → 128 and 96). Illumination (27 SH values) and
pose (3 angles) are the same quantities as in the reference, so they keep
its sizes exactly.

The procedural ``expression`` group holds ARKit blendshape weights in [0, 1]
(the reconstruction net's sigmoid); the linear decoder may stray slightly
outside, as the reference's does for its unbounded BFM expression.

**Weights file** (:func:`save_factor_vaes` / :func:`load_factor_vaes`): the
tfface ``.npz`` container (:mod:`tfface.networks.stylegan2_weights`) with
``config = {"discofacegan_vae": {"config": {"specs": ...}, "metadata":
{...}}}`` and one array per variable under ``vae/<attribute path>``
(:func:`tfface.analysis.weights.named_variables`:
``vae_expression/decoder/fc0/kernel``, ``.../decoder/loggamma_x``,
``vae_expression/x_shift``).
"""

import collections
import math
import os
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from tfface.layers.tracking import track
from tfface.networks import base
from tfface.networks import stylegan2_weights

keras = tf.keras
WeightsError = stylegan2_weights.WeightsError

# Factor order of z (the reference's z_id | z_exp | z_gamma | z_rot).
FACTORS = ("identity", "expression", "illumination", "pose")
# Reference variable-scope names of each factor.
REFERENCE_NAMES = {"identity": "id", "expression": "exp",
                   "illumination": "gamma", "pose": "rot"}
HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)  # the reference's 0.91893
HEADER_KEY = "discofacegan_vae"
_PREFIX = "vae/"
VAES_FILE = "vaes.npz"


def _spec(groups, latent_size, width, depth=3) -> Dict[str, Any]:
  return {"groups": [list(g) for g in groups], "latent_size": latent_size,
          "width": width, "depth": depth}


# layout -> factor -> spec: the face-model groups concatenated into the
# factor's λ (in this order), z size, hidden width and depth.
LAYOUTS: Dict[str, Dict[str, Dict[str, Any]]] = {
    "bfm": {
        "identity": _spec((("identity", 80), ("albedo", 80)), 128, 512),
        "expression": _spec((("expression", 64),), 32, 256),
        "illumination": _spec((("sh", 27),), 16, 128),
        "pose": _spec((("pose", 3),), 3, 32),
    },
    "procedural": {
        "identity": _spec((("identity", 25), ("albedo", 10)), 28, 128),
        "expression": _spec((("expression", 24),), 12, 96),
        "illumination": _spec((("sh", 27),), 16, 128),
        "pose": _spec((("pose", 3),), 3, 32),
    },
}


def layout_specs(layout: str, factors: Optional[Sequence[str]] = None
                 ) -> Dict[str, Dict[str, Any]]:
  """The specs of a layout's factors (all four by default), in z order.

  Raises:
    ValueError: on an unknown layout or factor.
  """
  if layout not in LAYOUTS:
    raise ValueError(f"DiscoFaceGAN VAE layout must be one of "
                     f"{sorted(LAYOUTS)}, got {layout!r}.")
  factors = FACTORS if factors is None else tuple(factors)
  for factor in factors:
    if factor not in FACTORS:
      raise ValueError(f"DiscoFaceGAN VAE factor must be one of {FACTORS}, "
                       f"got {factor!r}.")
  return {f: dict(LAYOUTS[layout][f]) for f in FACTORS if f in factors}


class VAEEncoder(keras.layers.Layer):
  """x `[B, N]` -> (μ, log σ) `[B, Z]`: ``depth`` relu layers, two heads."""

  def __init__(self, latent_size: int, width: int, depth: int = 3, **kwargs):
    super().__init__(**kwargs)
    self.depth = int(depth)
    for i in range(self.depth):  # attributes fc0.. as the reference's names
      setattr(self, f"fc{i}", keras.layers.Dense(width, activation="relu"))
    self.mean = keras.layers.Dense(latent_size)     # reference encoder/dense
    self.log_sd = keras.layers.Dense(latent_size)   # reference encoder/dense_1

  def call(self, x):
    y = x
    for i in range(self.depth):
      y = getattr(self, f"fc{i}")(y)
    return self.mean(y), self.log_sd(y)


class VAEDecoder(keras.layers.Layer):
  """z `[B, Z]` -> x̂ `[B, N]`: ``depth`` relu layers, linear ``x_hat``; and
  the learned scalar ``loggamma_x`` (log γ_x)."""

  def __init__(self, output_size: int, width: int, depth: int = 3, **kwargs):
    super().__init__(**kwargs)
    self.depth = int(depth)
    for i in range(self.depth):
      setattr(self, f"fc{i}", keras.layers.Dense(width, activation="relu"))
    self.x_hat = keras.layers.Dense(output_size)

  def build(self, input_shape):
    self.loggamma_x = self.add_weight(name="loggamma_x", shape=(),
                                      initializer="zeros")
    super().build(input_shape)

  def call(self, z):
    y = z
    for i in range(self.depth):
      y = getattr(self, f"fc{i}")(y)
    return self.x_hat(y)


class FactorVAE(base.Network):
  """One factor's VAE (the reference's stage-1 ``MLP``; see module doc).

  Example:
    vae = FactorVAE(64, 32, 256)
    out = vae(x, training=True)     # x [B, 64]
    loss = factor_vae_loss(x, out)  # {"kl", "reconstruction", "total", ...}
  """

  def __init__(self, input_size: int, latent_size: int, width: int,
               depth: int = 3, **kwargs):
    """Creates the VAE.

    Args:
      input_size: N, the factor's λ dimension (a Python int).
      latent_size: Z.
      width: hidden units of every dense layer.
      depth: hidden layers of the encoder and of the decoder (reference 3).
    """
    super().__init__(**kwargs)
    for name, value in (("input_size", input_size),
                        ("latent_size", latent_size), ("width", width),
                        ("depth", depth)):
      if isinstance(value, bool) or not isinstance(
          value, (int, np.integer)) or value < 1:
        raise ValueError(f"FactorVAE: {name} must be a positive int, got "
                         f"{value!r}.")
    self.input_size = int(input_size)
    self.latent_size = int(latent_size)
    self.width = int(width)
    self.encoder = VAEEncoder(latent_size, width, depth)
    self.decoder = VAEDecoder(input_size, width, depth)

  def build(self, input_shape=None):
    # λ standardization (see `set_standardization`): identity by default,
    # i.e. the reference's VAE on raw coefficients.
    self.x_shift = self.add_weight(name="x_shift", shape=(self.input_size,),
                                   initializer="zeros", trainable=False)
    self.x_scale = self.add_weight(name="x_scale", shape=(self.input_size,),
                                   initializer="ones", trainable=False)
    # Dense layers build on their first call; run both nets once.
    self.encoder(tf.zeros([1, self.input_size]))
    self.decoder(tf.zeros([1, self.latent_size]))
    super().build((None, self.input_size))

  def set_standardization(self, shift, scale) -> None:
    """The VAE models ``(λ − shift) / scale`` and decodes back to λ.

    A departure from the reference, which models raw coefficients with one
    learned γ_x starting at 1: tfface's procedural coefficients are much
    smaller (SH ~0.02, expression ~0.01 per dimension on the pseudo-real
    faces), and log γ_x has to travel to their scale at Adam's rate before the
    decoders use z at all — hundreds of thousands of steps in the reference,
    a CPU budget here. Per-dimension standardization by the training data
    makes every factor start at unit scale. Shift 0, scale 1 (the default,
    and every converted checkpoint) is the reference.

    Args:
      shift, scale: `[N]` float (scale > 0).
    """
    shift = np.asarray(shift, np.float32).reshape(-1)
    scale = np.asarray(scale, np.float32).reshape(-1)
    if shift.shape != (self.input_size,) or scale.shape != (
        self.input_size,) or not np.all(scale > 0):
      raise ValueError(f"FactorVAE.set_standardization: shift and scale must "
                       f"be [{self.input_size}] with scale > 0, got "
                       f"{shift.shape} and {scale.shape}.")
    self.x_shift.assign(shift)
    self.x_scale.assign(scale)

  def standardize(self, x: tf.Tensor) -> tf.Tensor:
    """λ -> the VAE's data space ``(λ − shift) / scale``."""
    return (tf.convert_to_tensor(x, tf.float32) - self.x_shift) / self.x_scale

  @property
  def gamma_x(self) -> tf.Tensor:
    """γ_x = exp(loggamma_x), the decoder's learned noise scale."""
    return tf.exp(self.decoder.loggamma_x)

  def encode(self, x: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """`[B, N]` λ -> `(μ, log σ)`, each `[B, Z]` float32."""
    return self.encoder(self.standardize(x))

  def decode(self, z: tf.Tensor) -> tf.Tensor:
    """`[B, Z]` z -> `[B, N]` λ̂ (differentiable; see FactorVAEs.decode)."""
    x_hat = self.decoder(tf.convert_to_tensor(z, tf.float32))
    return x_hat * self.x_scale + self.x_shift

  def call(self, x, training=None, sample=None, noise=None
           ) -> Dict[str, tf.Tensor]:
    """Encodes and decodes.

    Args:
      x: `[B, N]` float32 λ of the factor.
      training: unused by the layers; the default of `sample`.
      sample: draw ``z = μ + ε σ`` (default: when training) or use ``z = μ``.
      noise: ε `[B, Z]` for the draw (e.g. stateless, for reproducible
        training); None draws it with `tf.random.normal`.

    Returns:
      dict ``mean``, ``log_sd``, ``z`` `[B, Z]`; ``x`` (the standardized
      input) and ``x_hat`` (its reconstruction) `[B, N]` in the VAE's data
      space, which :func:`factor_vae_loss` compares; ``reconstruction``
      `[B, N]` the reconstruction in λ units; ``loggamma_x`` (scalar).
    """
    x = self.standardize(x)
    mean, log_sd = self.encoder(x)
    if sample is None:
      sample = bool(training)
    z = mean
    if sample:
      if noise is None:
        noise = tf.random.normal(tf.shape(mean))
      z = mean + tf.convert_to_tensor(noise, tf.float32) * tf.exp(log_sd)
    x_hat = self.decoder(z)
    return {"mean": mean, "log_sd": log_sd, "z": z, "x": x, "x_hat": x_hat,
            "reconstruction": x_hat * self.x_scale + self.x_shift,
            "loggamma_x": tf.convert_to_tensor(self.decoder.loggamma_x)}


def factor_vae_loss(x: tf.Tensor, outputs: Mapping[str, tf.Tensor],
                    batch_size: Optional[Union[int, tf.Tensor]] = None
                    ) -> Dict[str, tf.Tensor]:
  """The reference's stage-1 VAE loss with the learned γ_x.

  Args:
    x: `[B, N]` float32 the factor's data (``outputs["x"]``: λ standardized
      as the VAE models it; λ itself without standardization).
    outputs: :meth:`FactorVAE.call`'s dict (``mean``, ``log_sd``, ``x_hat``,
      ``loggamma_x``).
    batch_size: the divisor (the global batch under a distribution strategy,
      so that replica sums add up to the mean); None for B.

  Returns:
    dict of scalars: ``kl`` = Σ(μ² + σ² − 2 log σ − 1)/2/B, ``reconstruction``
    (the reference's gen loss) = Σ(((x − x̂)/γ_x)²/2 + log γ_x + ½ log 2π)/B,
    ``total`` = kl + reconstruction, ``squared_error`` = Σ (x − x̂)²/B and
    ``gamma_x``.
  """
  x = tf.convert_to_tensor(x, tf.float32)
  mean, log_sd = outputs["mean"], outputs["log_sd"]
  x_hat, loggamma_x = outputs["x_hat"], outputs["loggamma_x"]
  if batch_size is None:
    batch_size = tf.shape(x)[0]
  batch_size = tf.cast(batch_size, tf.float32)
  kl = tf.reduce_sum(tf.square(mean) + tf.exp(2.0 * log_sd) - 2.0 * log_sd -
                     1.0) / 2.0 / batch_size
  gamma_x = tf.exp(loggamma_x)
  squared = tf.square(x - x_hat)
  reconstruction = tf.reduce_sum(
      squared / tf.square(gamma_x) / 2.0 + loggamma_x +
      HALF_LOG_TWO_PI) / batch_size
  return {"kl": kl, "reconstruction": reconstruction,
          "total": kl + reconstruction,
          "squared_error": tf.reduce_sum(squared) / batch_size,
          "gamma_x": gamma_x}


class FactorVAEs(base.Network):
  """The VAEs of every factor: z ↔ λ for the whole face (see module doc).

  Example:
    vaes = FactorVAEs.for_layout("procedural")
    z = tf.random.normal([4, vaes.latent_size])
    groups = vaes.decode_groups(z)  # {"identity", "albedo", "expression",
                                    #  "sh", "pose"}: renderer groups
  """

  def __init__(self, specs: Mapping[str, Mapping[str, Any]], **kwargs):
    """Creates one :class:`FactorVAE` per factor.

    Args:
      specs: factor name (of :data:`FACTORS`) -> ``{"groups": [[group,
        size], ...], "latent_size": Z, "width": W, "depth": 3}``
        (:data:`LAYOUTS`, :func:`layout_specs`); plain JSON values. The
        factors are kept in :data:`FACTORS` order.

    Raises:
      ValueError: on an unknown factor or a bad spec.
    """
    super().__init__(**kwargs)
    specs = dict(specs)
    if not specs:
      raise ValueError("FactorVAEs: specs must name at least one factor of "
                       f"{FACTORS}.")
    unknown = sorted(set(specs) - set(FACTORS))
    if unknown:
      raise ValueError(f"FactorVAEs: unknown factors {unknown}; expected "
                       f"names of {FACTORS}.")
    self.factors = tuple(f for f in FACTORS if f in specs)
    self.specs = {}
    models = {}
    for factor in self.factors:
      spec = dict(specs[factor])
      try:
        groups = [(str(name), int(size)) for name, size in spec["groups"]]
        latent_size, width = int(spec["latent_size"]), int(spec["width"])
        depth = int(spec.get("depth", 3))
      except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"FactorVAEs: the spec of {factor!r} must hold groups [[name, "
            f"size], ...], latent_size, width (and depth); got {spec} ({e})."
        ) from e
      self.specs[factor] = _spec(groups, latent_size, width, depth)
      models[factor] = FactorVAE(sum(s for _, s in groups), latent_size,
                                 width, depth)
    track(self, "vae", models)
    self._models = models

  @classmethod
  def for_layout(cls, layout: str = "procedural",
                 factors: Optional[Sequence[str]] = None) -> "FactorVAEs":
    """A built set for a layout of :data:`LAYOUTS` (all four factors)."""
    vaes = cls(layout_specs(layout, factors))
    vaes.build()
    return vaes

  def vae_config(self) -> Dict[str, Any]:
    """JSON constructor arguments."""
    return {"specs": {f: dict(s) for f, s in self.specs.items()}}

  def build(self, input_shape=None):
    for model in self._models.values():
      model.build()
    super().build(input_shape)

  def __getitem__(self, factor: str) -> FactorVAE:
    if factor not in self._models:
      raise KeyError(f"no VAE for factor {factor!r}; this set has "
                     f"{self.factors}")
    return self._models[factor]

  # ------------------------------------------------------------- sizes

  @property
  def latent_sizes(self) -> "collections.OrderedDict[str, int]":
    """factor -> Z, in z order."""
    return collections.OrderedDict(
        (f, self.specs[f]["latent_size"]) for f in self.factors)

  @property
  def z_sizes(self) -> Dict[str, int]:
    """factor -> Z (the λ sampler's contract; same as `latent_sizes`)."""
    return dict(self.latent_sizes)

  @property
  def latent_size(self) -> int:
    """Total z size (the reference's 179 for ``"bfm"``)."""
    return sum(self.latent_sizes.values())

  @property
  def lambda_sizes(self) -> "collections.OrderedDict[str, int]":
    """factor -> λ dimension, in z order."""
    return collections.OrderedDict(
        (f, self._models[f].input_size) for f in self.factors)

  def factor_groups(self, factor: str) -> Tuple[Tuple[str, int], ...]:
    """``((group, size), ...)`` face-model groups making a factor's λ."""
    self[factor]  # KeyError naming the factors
    return tuple(tuple(g) for g in self.specs[factor]["groups"])

  # ------------------------------------------------------------ mapping

  def split_latents(self, z) -> Dict[str, tf.Tensor]:
    """`[B, latent_size]` z (z order) -> dict factor -> `[B, Z_f]`; a dict
    passes through (checked)."""
    if isinstance(z, Mapping):
      missing = [f for f in self.factors if f not in z]
      if missing:
        raise ValueError(f"FactorVAEs: z parts miss factors {missing}; "
                         f"expected {dict(self.latent_sizes)}.")
      return {f: tf.convert_to_tensor(z[f], tf.float32) for f in self.factors}
    z = tf.convert_to_tensor(z, tf.float32)
    if z.shape.rank != 2 or z.shape[-1] != self.latent_size:
      raise ValueError(f"FactorVAEs: z has shape {z.shape}; expected "
                       f"[B, {self.latent_size}] "
                       f"({dict(self.latent_sizes)} in this order).")
    parts = tf.split(z, list(self.latent_sizes.values()), axis=-1)
    return dict(zip(self.factors, parts))

  def decode(self, z) -> Dict[str, tf.Tensor]:
    """Frozen decoders: z -> λ per factor (``tf.stop_gradient``-ed).

    Args:
      z: `[B, latent_size]` in z order, or dict factor -> `[B, Z_f]`.

    Returns:
      dict factor -> `[B, N_f]` float32 λ, no gradient (the reference's
      ``CoeffDecoder``).
    """
    parts = self.split_latents(z)
    return {f: tf.stop_gradient(self._models[f].decode(parts[f]))
            for f in self.factors}

  def decode_groups(self, z) -> Dict[str, tf.Tensor]:
    """Frozen decoders, split into face-model groups (``identity``,
    ``albedo``, ``expression``, ``sh``, ``pose``): `[B, n]` each, ready for
    the renderer's params."""
    return self.lambda_to_groups(self.decode(z))

  def lambda_to_groups(self, parts: Mapping[str, tf.Tensor]
                       ) -> Dict[str, tf.Tensor]:
    """dict factor -> λ `[B, N_f]` -> dict face-model group -> `[B, n]`."""
    out = {}
    for factor in self.factors:
      sizes = [s for _, s in self.specs[factor]["groups"]]
      pieces = tf.split(tf.convert_to_tensor(parts[factor], tf.float32),
                        sizes, axis=-1)
      for (name, _), piece in zip(self.specs[factor]["groups"], pieces):
        out[name] = piece
    return out

  def groups_to_lambda(self, groups: Mapping[str, tf.Tensor]
                       ) -> Dict[str, tf.Tensor]:
    """dict face-model group -> `[B, n]` -> dict factor -> λ `[B, N_f]`.

    Raises:
      ValueError: naming a missing or mis-sized group.
    """
    out = {}
    for factor in self.factors:
      pieces = []
      for name, size in self.specs[factor]["groups"]:
        if name not in groups:
          raise ValueError(f"FactorVAEs: factor {factor!r} needs group "
                           f"{name!r} [B, {size}]; got groups "
                           f"{sorted(groups)}.")
        piece = tf.convert_to_tensor(groups[name], tf.float32)
        if piece.shape[-1] != size:
          raise ValueError(f"FactorVAEs: group {name!r} has shape "
                           f"{piece.shape}; expected [B, {size}].")
        pieces.append(piece)
      out[factor] = tf.concat(pieces, axis=-1)
    return out

  def encode(self, parts: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """dict factor -> λ -> dict factor -> μ `[B, Z_f]` (the posterior mean)."""
    return {f: self._models[f].encode(parts[f])[0] for f in self.factors}

  def call(self, parts, training=None, sample=None):
    """dict factor -> λ -> dict factor -> :meth:`FactorVAE.call` outputs."""
    return {f: self._models[f](parts[f], training=training, sample=sample)
            for f in self.factors}


# ------------------------------------------------------------ weights files


def save_factor_vaes(path: str, vaes: FactorVAEs,
                     metadata: Optional[Mapping[str, Any]] = None) -> None:
  """Writes a built :class:`FactorVAEs` to a tfface ``.npz``, atomically.

  Args:
    path: the file to write (directories are created).
    vaes: a built set.
    metadata: free-form JSON-able facts (source, data, measured error).
  """
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  header = {HEADER_KEY: {"config": vaes.vae_config(),
                         "metadata": dict(metadata or {})}}
  arrays = {_PREFIX + k: v
            for k, v in analysis_weights.network_arrays(vaes).items()}
  stylegan2_weights.save_weights(path, header, arrays)


def merge_factor_vaes(*sets: FactorVAEs) -> FactorVAEs:
  """One set holding every factor of ``sets``; a later set's factor wins.

  E.g. the released expression/illumination/pose VAEs (converted) with an
  identity VAE trained here (the release has none).

  Raises:
    ValueError: no sets, or two sets disagree on a factor's face-model
      groups' names (different layouts).
  """
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  if not sets:
    raise ValueError("merge_factor_vaes needs at least one FactorVAEs.")
  owner = {}
  for vaes in sets:
    for factor in vaes.factors:
      owner[factor] = vaes
  groups = {}
  for vaes in sets:
    for name, size in ((n, s) for f in vaes.factors
                       for n, s in vaes.specs[f]["groups"]):
      if groups.setdefault(name, size) != size:
        raise ValueError(f"merge_factor_vaes: group {name!r} has size "
                         f"{groups[name]} in one set and {size} in another "
                         "(different layouts).")
  merged = FactorVAEs({f: v.specs[f] for f, v in owner.items()})
  merged.build()
  arrays = {}
  for factor, vaes in owner.items():
    for name, value in analysis_weights.network_arrays(vaes).items():
      if name.startswith(f"vae_{factor}/"):
        arrays[name] = value
  analysis_weights.assign_arrays(merged, arrays, "merged DiscoFaceGAN VAEs")
  merged.trainable = all(v.trainable for v in sets)
  merged.weights_metadata = {
      f: dict(getattr(v, "weights_metadata", {})) for f, v in owner.items()}
  return merged


def load_factor_vaes(path: str, trainable: bool = False) -> FactorVAEs:
  """Rebuilds a :class:`FactorVAEs` from :func:`save_factor_vaes`'s file.

  Args:
    path: the ``.npz``, or a training run directory of the VAE trainer
      (its ``vaes.npz`` if present, written by
      :func:`tfface.methods.discofacegan.vae_method.export_run_vaes`; else
      its newest checkpoint); or several of these joined by commas, merged
      by :func:`merge_factor_vaes` (a later source's factor wins), e.g.
      ``"weights/discofacegan_vae.npz,runs/discofacegan/vae_identity"``.
    trainable: leave the weights trainable (default frozen).

  Returns:
    The built set; ``weights_metadata`` holds the file's metadata.

  Raises:
    FileNotFoundError: no file; WeightsError: not a VAE file or weights that
      do not fit.
  """
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  if "," in str(path):
    parts = [p.strip() for p in str(path).split(",") if p.strip()]
    return merge_factor_vaes(*[load_factor_vaes(p, trainable) for p in parts])
  if os.path.isdir(path):
    run_file = os.path.join(path, VAES_FILE)
    from tfface.training import checkpoints as checkpoints_lib  # pylint: disable=g-import-not-at-top
    latest = checkpoints_lib.latest_checkpoint(path)
    stale = latest is not None and os.path.isfile(run_file) and (
        os.path.getmtime(run_file) < os.path.getmtime(latest + ".index"))
    if not os.path.isfile(run_file) or stale:
      from tfface.methods.discofacegan import vae_method  # pylint: disable=g-import-not-at-top
      vaes = vae_method.vaes_from_checkpoint(path)
      vaes.trainable = trainable
      return vaes
    path = run_file
  header, arrays = stylegan2_weights.load_weights(path)
  entry = header.get(HEADER_KEY)
  if not isinstance(entry, dict) or "config" not in entry:
    raise WeightsError(f"{path} is not a DiscoFaceGAN VAE weights file (its "
                       f"config has no {HEADER_KEY!r} entry); expected a file "
                       "written by save_factor_vaes or tools/convert_weights."
                       "py discofacegan_vae")
  try:
    vaes = FactorVAEs(**entry["config"])
  except (TypeError, ValueError) as e:
    raise WeightsError(f"{path}: the VAE config does not fit: {e}") from e
  vaes.build()
  arrays = {k[len(_PREFIX):]: v for k, v in arrays.items()
            if k.startswith(_PREFIX)}
  for factor in vaes.factors:  # files from before standardization: identity
    size = vaes.lambda_sizes[factor]
    arrays.setdefault(f"vae_{factor}/x_shift", np.zeros([size], np.float32))
    arrays.setdefault(f"vae_{factor}/x_scale", np.ones([size], np.float32))
  analysis_weights.assign_arrays(vaes, arrays, f"{path} (DiscoFaceGAN VAEs)")
  vaes.trainable = trainable
  vaes.weights_metadata = dict(entry.get("metadata", {}))
  return vaes
