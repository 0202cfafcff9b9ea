"""StyleRig's networks: F (w -> face-model parameters) and RigNet.

Both take W+ codes ``w`` `[B, L, D]` float32 (``L`` = the generator's
``num_ws``, 18 at 1024 px / 8 at 32 px; ``D`` = ``style_dim``, 512 / 128)
and work on the *flat* parameter vector ``p`` `[B, N]` of a
:class:`ParameterLayout` (the reconstruction net's ``"procedural"`` 97-d
layout or Deep3DFaceRecon's ``"bfm257"``).

Both standardise their input with fixed (non-trainable) statistics of the
generator's W+ distribution (``w_mean`` `[L, D]`, ``w_scale`` scalar; see
:func:`tfface.methods.stylerig.data.latent_statistics`). This is an affine
re-parametrisation, not a change of function class: the paper's RigNet is
affine in (w, p) and stays so; it only makes a unit step of the optimiser
comparable across generators (w of a trained StyleGAN2 has |w| ~ 1-10).
"""

import collections
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfface.analysis import reconstruction as rec

keras = tf.keras

# Control modes -> the parameter groups each RigNet edits (A.3: one RigNet
# per mode; translation is never edited). "identity" is optional (paper:
# pose, expression, illumination).
MODE_GROUPS = collections.OrderedDict([
    ("pose", ("pose",)),
    ("expression", ("expression",)),
    ("illumination", ("sh",)),
    ("identity", ("identity", "albedo")),
])
MODES = tuple(MODE_GROUPS)


class ParameterLayout:
  """Named groups of the flat parameter vector p, with output activations.

  Args:
    groups: ``((name, size, activation), ...)`` in storage order;
      ``activation`` is ``"linear"`` or ``"sigmoid"`` (values in [0, 1],
      e.g. the procedural model's blendshape weights).
  """

  def __init__(self, groups: Sequence[Tuple[str, int, str]]):
    self.groups = tuple((str(n), int(s), str(a)) for n, s, a in groups)
    for name, size, activation in self.groups:
      if activation not in ("linear", "sigmoid") or size < 1:
        raise ValueError(f"ParameterLayout group {name!r}: expected a size "
                         f">= 1 and activation 'linear' or 'sigmoid', got "
                         f"{size} and {activation!r}")
    self.slices = collections.OrderedDict()
    start = 0
    for name, size, _ in self.groups:
      self.slices[name] = (start, start + size)
      start += size
    self.size = start

  @classmethod
  def named(cls, layout: str) -> "ParameterLayout":
    """The reconstruction net's ``"procedural"`` (97) or ``"bfm257"``."""
    return cls(rec.layout_groups(layout))

  @property
  def names(self) -> Tuple[str, ...]:
    return tuple(n for n, _, _ in self.groups)

  def split(self, p: tf.Tensor) -> Dict[str, tf.Tensor]:
    """`[B, N]` -> dict name -> `[B, n]`."""
    return {n: p[:, a:b] for n, (a, b) in self.slices.items()}

  def join(self, groups) -> tf.Tensor:
    """dict name -> `[B, n]` -> `[B, N]` (every group required)."""
    missing = [n for n in self.names if n not in groups]
    if missing:
      raise ValueError(f"parameter groups {missing} are missing; expected "
                       f"all of {list(self.names)}")
    return tf.concat([tf.convert_to_tensor(groups[n], tf.float32)
                      for n in self.names], axis=-1)

  def mode_indices(self, mode: str) -> np.ndarray:
    """The index set k of a control mode: sorted int32 indices into p."""
    groups = mode_groups(mode)
    missing = [g for g in groups if g not in self.slices]
    if missing:
      raise ValueError(f"mode {mode!r} needs groups {missing}, which this "
                       f"layout ({list(self.names)}) does not have")
    return np.concatenate([np.arange(*self.slices[g]) for g in groups]
                          ).astype(np.int32)

  def scale(self) -> np.ndarray:
    """`[N]` float32: about one spread of each entry (reconstruction net's
    GROUP_SCALES; 1 for sigmoid groups)."""
    return np.concatenate([
        rec.group_scale(n, s) if a == "linear" else np.ones(s, np.float32)
        for n, s, a in self.groups])


def mode_groups(mode: str) -> Tuple[str, ...]:
  if mode not in MODE_GROUPS:
    raise ValueError(f"StyleRig mode must be one of {MODES}, got {mode!r}")
  return MODE_GROUPS[mode]


class _Standardise(keras.layers.Layer):
  """Holds the fixed W+ statistics: ``(w - w_mean) / w_scale``."""

  def __init__(self, num_ws: int, style_dim: int, **kwargs):
    super().__init__(**kwargs)
    self.w_mean = self.add_weight(name="w_mean", shape=(num_ws, style_dim),
                                  initializer="zeros", trainable=False)
    self.w_scale = self.add_weight(name="w_scale", shape=(),
                                   initializer="ones", trainable=False)

  def set_statistics(self, mean, scale) -> None:
    self.w_mean.assign(np.broadcast_to(np.asarray(mean, np.float32),
                                       self.w_mean.shape))
    self.w_scale.assign(float(scale))

  def call(self, w):
    return (w - self.w_mean) / self.w_scale


def _check_w(w, num_ws, style_dim, who):
  w = tf.convert_to_tensor(w, tf.float32)
  if w.shape.rank != 3 or w.shape[1:] != (num_ws, style_dim):
    raise ValueError(f"{who}: w must be [B, {num_ws}, {style_dim}] (W+), got "
                     f"shape {w.shape}")
  return w


class ParameterEstimator(keras.Model):
  """F in the paper ("differentiable face reconstruction"): W+ -> p.

  A 3-layer MLP with ELU after every intermediate layer (A.2):
  ``flatten(std(w)) -> Dense(hidden, elu) -> Dense(hidden, elu) -> Dense(N)``
  then per group ``scale_g · y`` (linear groups, scale from
  :meth:`ParameterLayout.scale`, the last layer's bias learns the mean) or
  ``sigmoid(y)`` (sigmoid groups).

  Args:
    num_ws, style_dim: the W+ shape `[L, D]`.
    groups: the layout's ``((name, size, activation), ...)``.
    hidden: width of the two hidden layers (512, as the jacobwjs port).
    num_layers: dense layers in all (3).

  Call ``(w)``: `[B, L, D]` float32 -> `[B, N]` float32 p.
  """

  def __init__(self, num_ws: int, style_dim: int,
               groups: Sequence[Tuple[str, int, str]],
               hidden: int = 512, num_layers: int = 3, **kwargs):
    kwargs.setdefault("name", "estimator")
    super().__init__(**kwargs)
    if int(num_layers) < 1 or int(hidden) < 1:
      raise ValueError(f"ParameterEstimator needs num_layers >= 1 and hidden "
                       f">= 1, got {num_layers} and {hidden}")
    self.num_ws, self.style_dim = int(num_ws), int(style_dim)
    self.layout = ParameterLayout(groups)
    self.hidden_units, self.num_layers = int(hidden), int(num_layers)
    self.standardise = _Standardise(self.num_ws, self.style_dim,
                                    name="standardise")
    self.hidden_0 = (keras.layers.Dense(self.hidden_units, activation="elu",
                                        name="hidden_0")
                     if self.num_layers > 1 else None)
    self.hidden_1 = (keras.layers.Dense(self.hidden_units, activation="elu",
                                        name="hidden_1")
                     if self.num_layers > 2 else None)
    if self.num_layers > 3:
      raise ValueError("ParameterEstimator has at most 3 layers (the paper's "
                       f"MLP), got num_layers={num_layers}")
    self.head = keras.layers.Dense(self.layout.size, name="head")
    self._scale = tf.constant(self.layout.scale())
    self._sigmoid = tf.constant(np.concatenate([
        np.full(s, a == "sigmoid") for _, s, a in self.layout.groups]))

  def config(self) -> Dict[str, object]:
    return {"num_ws": self.num_ws, "style_dim": self.style_dim,
            "groups": [list(g) for g in self.layout.groups],
            "hidden": self.hidden_units, "num_layers": self.num_layers}

  def build_all(self) -> None:
    self(tf.zeros([1, self.num_ws, self.style_dim]))

  def set_statistics(self, mean, scale) -> None:
    self.standardise.set_statistics(mean, scale)

  def call(self, w):
    w = _check_w(w, self.num_ws, self.style_dim, "ParameterEstimator")
    x = tf.reshape(self.standardise(w), [-1, self.num_ws * self.style_dim])
    for layer in (self.hidden_0, self.hidden_1):
      if layer is not None:
        x = layer(x)
    y = self.head(x)
    return tf.where(self._sigmoid, tf.sigmoid(y), y * self._scale)


class RigNet(keras.layers.Layer):
  """RigNet (A.3): ŵ = w + d(w, p_mode), linear, one network per mode.

  A Keras ``Layer`` rather than a ``Model``: a SavedModel holding a two-input
  ``Model`` makes Keras trace a one-input default signature, which fails.

  Encoder: each of the L vectors w_i `[D]` by its own linear layer to
  ``latent_dim`` (32): ``l_i = std(w)_i · E_i + b_i`` `[L, 32]`. Decoder: for
  each i, ``[l_i, p_norm]`` (the same control vector on every row) by its own
  linear layer back to D: ``d_i = w_scale · ([l_i, p_norm] · G_i + c_i)``.
  ``p_norm = p / scale`` (the layout's per-entry spread), so every control
  input is O(1). The decoder starts at zero, so an untrained RigNet is the
  identity ŵ = w.

  Args:
    num_ws, style_dim: the W+ shape `[L, D]`.
    param_size: size of the control vector it is fed (the mode's slice, or
      all of p with ``condition_on="full"`` in the trainer).
    param_scale: `[param_size]` spreads that normalise p (default ones).
    latent_dim: the encoder's width per layer (32 in the paper).

  Call ``(w, p)``: `[B, L, D]`, `[B, param_size]` -> ŵ `[B, L, D]`.
  """

  def __init__(self, num_ws: int, style_dim: int, param_size: int,
               param_scale: Optional[Sequence[float]] = None,
               latent_dim: int = 32, **kwargs):
    kwargs.setdefault("name", "rignet")
    super().__init__(**kwargs)
    self.num_ws, self.style_dim = int(num_ws), int(style_dim)
    self.param_size, self.latent_dim = int(param_size), int(latent_dim)
    if min(self.num_ws, self.style_dim, self.param_size, self.latent_dim) < 1:
      raise ValueError("RigNet sizes must be >= 1, got num_ws, style_dim, "
                       f"param_size, latent_dim = {num_ws}, {style_dim}, "
                       f"{param_size}, {latent_dim}")
    scale = (np.ones(self.param_size, np.float32) if param_scale is None
             else np.asarray(param_scale, np.float32).reshape(-1))
    if scale.shape != (self.param_size,) or np.any(scale <= 0):
      raise ValueError(f"RigNet param_scale must be {self.param_size} "
                       f"positive values, got shape {scale.shape}")
    self.param_scale = scale
    self.standardise = _Standardise(self.num_ws, self.style_dim,
                                    name="standardise")
    glorot = keras.initializers.GlorotUniform()
    self.encoder_kernel = self.add_weight(
        name="encoder_kernel",
        shape=(self.num_ws, self.style_dim, self.latent_dim),
        initializer=lambda shape, dtype=None: glorot(
            (self.style_dim, self.latent_dim))[None] * tf.ones(
                [self.num_ws, 1, 1]))
    self.encoder_bias = self.add_weight(
        name="encoder_bias", shape=(self.num_ws, self.latent_dim),
        initializer="zeros")
    self.decoder_kernel = self.add_weight(
        name="decoder_kernel",
        shape=(self.num_ws, self.latent_dim + self.param_size,
               self.style_dim), initializer="zeros")
    self.decoder_bias = self.add_weight(
        name="decoder_bias", shape=(self.num_ws, self.style_dim),
        initializer="zeros")

  def config(self) -> Dict[str, object]:
    return {"num_ws": self.num_ws, "style_dim": self.style_dim,
            "param_size": self.param_size,
            "param_scale": [float(s) for s in self.param_scale],
            "latent_dim": self.latent_dim}

  def build_all(self) -> None:
    self(tf.zeros([1, self.num_ws, self.style_dim]),
         tf.zeros([1, self.param_size]))

  def set_statistics(self, mean, scale) -> None:
    self.standardise.set_statistics(mean, scale)

  def encode(self, w) -> tf.Tensor:
    """`[B, L, D]` -> l_w `[B, L, latent_dim]`."""
    w = _check_w(w, self.num_ws, self.style_dim, "RigNet")
    return tf.einsum("bld,ldk->blk", self.standardise(w),
                     self.encoder_kernel) + self.encoder_bias

  def call(self, w, p):
    w = _check_w(w, self.num_ws, self.style_dim, "RigNet")
    p = tf.convert_to_tensor(p, tf.float32)
    if p.shape.rank != 2 or p.shape[-1] != self.param_size:
      raise ValueError(f"RigNet: p must be [B, {self.param_size}], got shape "
                       f"{p.shape}")
    latent = self.encode(w)
    p_rows = tf.tile((p / self.param_scale)[:, None, :],
                     [1, self.num_ws, 1])
    code = tf.concat([latent, p_rows], axis=-1)
    d = tf.einsum("blk,lkd->bld", code, self.decoder_kernel) + self.decoder_bias
    return w + self.standardise.w_scale * d
