"""DiscoFaceGAN's λ space as configuration: which face-model groups each
factor holds, how λ is split, joined, rendered and sampled.

The generator input is ``[λ, ε]`` (paper Eq. 1): λ = (α, β, γ, θ) the
identity, expression, illumination and pose coefficients of a 3D face model,
and ε `[B, 32]` ~ N(0, I) the "everything else" noise (no VAE). The reference
(``training_utils.py`` ``z_to_lambda_mapping``, reference notes §1.2) builds
λ in the order ``identity (shape+texture) | expression | pose | sh`` and draws
each factor from a frozen VAE decoder of z ~ N(0, I); its VAE z order is
``z_id | z_exp | z_gamma | z_rot`` (illumination before pose).

Two layouts (:class:`LambdaLayout`):

* ``"procedural"`` (default): tfface's procedural model
  (:mod:`tfface.rendering.procedural_model`). λ = identity (``identity`` 25 +
  ``albedo`` 10 = 35) | expression 24 (ARKit blendshapes in [0, 1]) | pose 3
  (pitch, yaw, roll radians) | sh 27 = **89** values. The model's other
  groups are not part of λ and are rendered at fixed values: ``gaze`` 0
  (straight), ``hair_color``/``hair_style``/``beard_color``/``beard_style``
  at the model's defaults (short brown hair, no beard: hair and beard are
  left to ε, as the reference leaves hair, background and accessories to
  ε); ``translation`` 0 (the reference assumes zero translation, DFG #6; the
  pseudo-real faces are centred the same way by tfface's data camera).
* ``"bfm"``: BFM's 254-d λ of the reference (§1.2 layout 3 without ε):
  identity (``identity`` 80 + ``albedo`` 80) | expression 64 | pose 3 |
  sh 27, for users with ``BFM_model_front.mat``; translation 0.

Factor names are tfface's: ``identity``, ``expression``, ``pose``, ``sh``
(the reference's ``id``, ``exp``, ``rot``, ``gamma``; :func:`factor_name`
maps either).
"""

import collections
from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf

FACTORS = ("identity", "expression", "pose", "sh")
# The reference's VAE z order (z_id | z_exp | z_gamma | z_rot).
Z_ORDER = ("identity", "expression", "sh", "pose")
NOISE_DIM = 32
FACTOR_ALIASES = {"id": "identity", "identity": "identity",
                  "exp": "expression", "expression": "expression",
                  "rot": "pose", "pose": "pose", "angles": "pose",
                  "gamma": "sh", "sh": "sh", "illumination": "sh",
                  "lighting": "sh", "light": "sh"}

# factor -> ((render group, size), ...) per layout.
LAYOUT_GROUPS = {
    "procedural": collections.OrderedDict([
        ("identity", (("identity", 25), ("albedo", 10))),
        ("expression", (("expression", 24),)),
        ("pose", (("pose", 3),)),
        ("sh", (("sh", 27),))]),
    "bfm": collections.OrderedDict([
        ("identity", (("identity", 80), ("albedo", 80))),
        ("expression", (("expression", 64),)),
        ("pose", (("pose", 3),)),
        ("sh", (("sh", 27),))]),
}
LAYOUTS = tuple(LAYOUT_GROUPS)


def factor_name(name: str) -> str:
  """tfface's factor name of ``name`` (``id``/``exp``/``rot``/``gamma`` or
  tfface's own); ValueError for anything else."""
  key = str(name).lower()
  if key not in FACTOR_ALIASES:
    raise ValueError(f"unknown DiscoFaceGAN factor {name!r}; expected one of "
                     f"{FACTORS} (or the reference's id, exp, rot, gamma)")
  return FACTOR_ALIASES[key]


class LambdaLayout:
  """The flat λ vector `[B, lambda_dim]` and its factors.

  Args:
    layout: ``"procedural"`` or ``"bfm"`` (module docstring).
    noise_dim: size of ε (32 in the reference).

  Attributes:
    factor_sizes: ordered dict factor -> size in λ (order :data:`FACTORS`).
    slices: ordered dict factor -> (start, stop) in λ.
    lambda_dim: total size of λ (89 procedural, 254 BFM).
    noise_dim: size of ε.
    input_dim: ``lambda_dim + noise_dim``, the mapping network's input.
  """

  def __init__(self, layout: str = "procedural", noise_dim: int = NOISE_DIM):
    if layout not in LAYOUT_GROUPS:
      raise ValueError(f"LambdaLayout layout must be one of {LAYOUTS}, got "
                       f"{layout!r}")
    if int(noise_dim) < 0:
      raise ValueError(f"noise_dim must be >= 0, got {noise_dim}")
    self.layout = layout
    self.groups = LAYOUT_GROUPS[layout]
    self.factor_sizes = collections.OrderedDict(
        (f, sum(n for _, n in parts)) for f, parts in self.groups.items())
    self.slices = collections.OrderedDict()
    start = 0
    for f, n in self.factor_sizes.items():
      self.slices[f] = (start, start + n)
      start += n
    self.lambda_dim = start
    self.noise_dim = int(noise_dim)
    self.input_dim = self.lambda_dim + self.noise_dim

  def _check(self, lam, what="lambda") -> tf.Tensor:
    lam = tf.convert_to_tensor(lam, tf.float32)
    if lam.shape.rank != 2 or lam.shape[-1] != self.lambda_dim:
      raise ValueError(f"{what} must be [B, {self.lambda_dim}] ({self.layout} "
                       f"layout {dict(self.factor_sizes)}), got shape "
                       f"{lam.shape}")
    return lam

  def split(self, lam) -> Dict[str, tf.Tensor]:
    """`[B, lambda_dim]` -> dict factor -> `[B, n]`."""
    lam = self._check(lam)
    return {f: lam[:, a:b] for f, (a, b) in self.slices.items()}

  def join(self, parts: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """dict factor -> `[B, n]` (any alias names) -> `[B, lambda_dim]`."""
    named = {factor_name(k): v for k, v in parts.items()}
    out = []
    for f, n in self.factor_sizes.items():
      if f not in named:
        raise ValueError(f"missing λ factor {f!r}; got {sorted(named)}")
      v = tf.convert_to_tensor(named[f], tf.float32)
      if v.shape.rank != 2 or v.shape[-1] != n:
        raise ValueError(f"λ factor {f!r} must be [B, {n}], got shape "
                         f"{v.shape}")
      out.append(v)
    return tf.concat(out, axis=-1)

  def replace(self, lam, factor: str, value) -> tf.Tensor:
    """λ with one factor's values replaced by ``value`` `[B or 1, n]`."""
    parts = self.split(lam)
    f = factor_name(factor)
    value = tf.convert_to_tensor(value, tf.float32)
    parts[f] = tf.broadcast_to(value, tf.shape(parts[f]))
    return self.join(parts)

  def identity_only(self, lam) -> tf.Tensor:
    """λ with every factor but identity set to 0 (the identity path of the
    attribute-preserving truncation)."""
    parts = self.split(lam)
    return self.join({f: (v if f == "identity" else tf.zeros_like(v))
                      for f, v in parts.items()})

  def render_parameters(self, lam, renderer) -> Dict[str, tf.Tensor]:
    """The renderer's parameter dict of λ (fixed values elsewhere).

    Args:
      lam: `[B, lambda_dim]`.
      renderer: a :class:`~tfface.rendering.face_renderer.FaceRenderer` of the
        layout's face model.

    Returns:
      ``renderer.default_parameters`` (neutral gaze, default hair, no beard,
      zero translation) with the λ groups filled in.
    """
    parts = self.split(lam)
    batch = tf.shape(lam)[0]
    params = dict(renderer.default_parameters(1))
    params = {k: tf.tile(v, tf.stack([batch, 1])) for k, v in params.items()}
    for factor, groups in self.groups.items():
      start = 0
      for name, n in groups:
        params[name] = parts[factor][:, start:start + n]
        start += n
    renderer.validate(params)
    return params

  def from_groups(self, groups: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """λ from a dict of face-model groups (a reconstruction net's outputs:
    ``identity``, ``albedo``, ``expression``, ``pose``, ``sh``)."""
    parts = {}
    for factor, members in self.groups.items():
      for name, n in members:
        if name not in groups:
          raise ValueError(f"λ ({self.layout}) needs the group {name!r} "
                           f"[B, {n}]; got {sorted(groups)}")
      parts[factor] = tf.concat([tf.convert_to_tensor(groups[name],
                                                      tf.float32)[:, :n]
                                 for name, n in members], axis=-1)
    return self.join(parts)

  def with_noise(self, lam, noise) -> tf.Tensor:
    """``[λ, ε]`` `[B, input_dim]`."""
    lam = self._check(lam)
    noise = tf.convert_to_tensor(noise, tf.float32)
    if noise.shape.rank != 2 or noise.shape[-1] != self.noise_dim:
      raise ValueError(f"noise ε must be [B, {self.noise_dim}], got shape "
                       f"{noise.shape}")
    return tf.concat([lam, noise], axis=-1)

  def describe(self) -> str:
    return ", ".join(f"{f} {a}:{b}" for f, (a, b) in self.slices.items())


class LambdaSampler:
  """λ from the frozen VAE decoders and ε ~ N(0, I).

  Args:
    vaes: any object with ``decode(z_parts) -> λ parts`` (dicts keyed by
      factor; tfface's or the reference's names) — part A's ``FactorVAEs``.
    z_sizes: dict factor -> z size (default ``vaes.z_sizes``).
    layout: a :class:`LambdaLayout`.

  The decoders are frozen: :meth:`decode` stops the gradient (as the
  reference's ``CoeffDecoder``).
  """

  def __init__(self, vaes, layout: LambdaLayout,
               z_sizes: Optional[Mapping[str, int]] = None):
    if not hasattr(vaes, "decode"):
      raise ValueError(f"vaes must have decode(z_parts), got "
                       f"{type(vaes).__name__}")
    if z_sizes is None:
      z_sizes = getattr(vaes, "z_sizes", None)
    if z_sizes is None:
      raise ValueError("LambdaSampler needs z_sizes (dict factor -> z size) "
                       "or a vaes.z_sizes attribute")
    self.vaes = vaes
    self.layout = layout
    self._vae_names = {factor_name(k): k for k in z_sizes}
    self.z_sizes = collections.OrderedDict(
        (f, int(z_sizes[self._vae_names[f]])) for f in Z_ORDER
        if f in self._vae_names)
    missing = [f for f in FACTORS if f not in self.z_sizes]
    if missing:
      raise ValueError(f"z_sizes lacks the factors {missing}; got "
                       f"{sorted(z_sizes)}")
    self.z_dim = sum(self.z_sizes.values())

  def split_z(self, z) -> Dict[str, tf.Tensor]:
    """Flat `[B, z_dim]` (order :data:`Z_ORDER`) -> dict factor -> `[B, n]`."""
    z = tf.convert_to_tensor(z, tf.float32)
    if z.shape.rank != 2 or z.shape[-1] != self.z_dim:
      raise ValueError(f"z must be [B, {self.z_dim}] ({dict(self.z_sizes)}), "
                       f"got shape {z.shape}")
    out, start = {}, 0
    for f, n in self.z_sizes.items():
      out[f] = z[:, start:start + n]
      start += n
    return out

  def join_z(self, parts: Mapping[str, tf.Tensor]) -> tf.Tensor:
    named = {factor_name(k): v for k, v in parts.items()}
    return tf.concat([tf.convert_to_tensor(named[f], tf.float32)
                      for f in self.z_sizes], axis=-1)

  def decode(self, z_parts: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """dict factor -> z `[B, n_z]` -> λ `[B, lambda_dim]` (no gradient)."""
    named = {factor_name(k): v for k, v in z_parts.items()}
    decoded = self.vaes.decode({self._vae_names[f]: named[f]
                                for f in self.z_sizes})
    return tf.stop_gradient(self.layout.join(
        {factor_name(k): v for k, v in decoded.items()}))

  def sample_z(self, batch_size, seed: tf.Tensor) -> Dict[str, tf.Tensor]:
    """z ~ N(0, I) per factor (stateless from ``seed`` `[2]`)."""
    seeds = tf.unstack(tf.random.experimental.stateless_split(
        seed, len(self.z_sizes)))
    return {f: tf.random.stateless_normal(tf.stack([batch_size, n]), s)
            for (f, n), s in zip(self.z_sizes.items(), seeds)}

  def sample_noise(self, batch_size, seed: tf.Tensor) -> tf.Tensor:
    """ε ~ N(0, I_noise_dim) `[B, noise_dim]`."""
    return tf.random.stateless_normal(
        tf.stack([batch_size, self.layout.noise_dim]),
        tf.random.experimental.stateless_fold_in(seed, 7919))

  def sample(self, batch_size, seed: tf.Tensor
             ) -> Tuple[Dict[str, tf.Tensor], tf.Tensor, tf.Tensor]:
    """``(z_parts, λ [B, lambda_dim], ε [B, noise_dim])``."""
    z = self.sample_z(batch_size, seed)
    return z, self.decode(z), self.sample_noise(batch_size, seed)


STAND_IN_SCALES = {"identity": 1.0, "expression": 0.15, "pose": 0.25,
                   "sh": 0.08}
STAND_IN_MEANS = {"expression": 0.1}


class GaussianVAEs:
  """A stand-in for the λ VAEs: ``decode`` is a fixed linear map per factor
  (``λ_f = A_f z_f + b_f``). For tests and for runs without trained VAEs.

  Args:
    layout: a :class:`LambdaLayout`.
    z_sizes: dict factor -> z size.
    scales: dict factor -> output std (default :data:`STAND_IN_SCALES`:
      about the spread of the procedural model's groups: identity 1,
      expression 0.15 around 0.1 (blendshapes in [0, 1]), pose 0.25 rad,
      SH 0.08).
    seed: the fixed maps' seed.
  """

  def __init__(self, layout: LambdaLayout, z_sizes: Mapping[str, int],
               scales: Optional[Mapping[str, float]] = None, seed: int = 0):
    rng = np.random.default_rng(seed)
    self.z_sizes = dict(z_sizes)
    scales = dict(STAND_IN_SCALES, **{factor_name(k): v for k, v in
                                      dict(scales or {}).items()})
    self.maps = {}
    for f, n in self.z_sizes.items():
      out = layout.factor_sizes[factor_name(f)]
      scale = float(scales[factor_name(f)])
      a = rng.standard_normal([n, out]) * scale / np.sqrt(n)
      b = np.full([out], STAND_IN_MEANS.get(factor_name(f), 0.0))
      self.maps[f] = (tf.constant(a, tf.float32), tf.constant(b, tf.float32))

  def decode(self, z_parts):
    return {f: tf.matmul(tf.convert_to_tensor(z, tf.float32),
                         self.maps[f][0]) + self.maps[f][1]
            for f, z in z_parts.items()}
