"""The synthetic face dataset: factor sampling, the sharded writer, the preview.

tfface's open stand-in for ConfigNet's unreleased SynthFace dataset: faces of
the procedural face model (:mod:`tfface.rendering.procedural_model`) drawn by
the face renderer, every rendering factor θ_i stored by name next to the
image, the iris mask and the 68 landmarks (schema: :mod:`tfface.data.schema`).

Two modes (``mode=``):

* ``"synthetic"`` — the labeled domain: plain renders on a uniform
  background, one soft frontal-ish white light, head pose inside
  yaw ±30° / pitch ±10° / roll 0 (configurable), the whole head in view
  (the Deep3DFaceRecon camera with its focal × 0.75, ``zoom``).
* ``"pseudo_real"`` — an unlabeled domain with a different render style that
  stands in for real photos in demos of real+synthetic training: textured
  skin (procedural noise in the skin albedo, :class:`TexturedSkinModel`, plus
  a fine image-space grain), gradient / noise-texture backgrounds, two or three coloured
  lights (random SH with stronger higher bands), camera jitter (small
  translation, scale and roll), colour grading, vignetting and sensor noise.
  Only images are stored.
* ``"labeled"`` — the training set of the face-analysis networks
  (:mod:`tfface.analysis`): both render styles (pseudo-real for a fraction
  ``pseudo_real_fraction`` of the faces), every factor stored plus the camera
  jitter as ``translation``, the landmarks, a face-parse class map
  (:data:`tfface.data.schema.PARSE_CLASSES`) and an identity id — faces come
  in runs of ``views_per_identity`` that share shape and albedo (hair, beard,
  expression, pose, light and background vary) — with wider poses.

**Determinism.** Every example's factors come from its own random generator
seeded by ``(seed, mode, example index)``, so an example does not depend on
shard size or batch size. Rendering uses fixed batch shapes (the last batch
is padded), PNG encoding and record serialization are
deterministic, and no time stamps are stored: the same seed with the same
settings (image size, counts, batch size, backend, model options) gives
byte-identical shards on the same machine and TensorFlow build; a different
seed gives different shards. A run interrupted part-way can be restarted with
the same settings: complete shards are kept (they are only ever renamed into
place when finished) and the missing ones are written. ``<mode>_info.json``
records the settings, :data:`WRITER_VERSION` and a fingerprint of the face
model; a dataset made with other settings, another writer version or a changed
model is never extended (pass ``overwrite=True`` to rewrite it).
"""

import collections
import dataclasses
import functools
import hashlib
import json
import math
import os
import time
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

from tfface.data import schema
from tfface.data import sharded_writer
from tfface.rendering import face_model
from tfface.rendering import image_size as image_size_lib
from tfface.rendering import lighting
from tfface.visualization import text

LABELED = "labeled"
MODES = (schema.SYNTHETIC, schema.PSEUDO_REAL, LABELED)
# Bumped whenever sampling or the pseudo-real style changes, so resuming a
# dataset written by an older writer is refused instead of mixing styles.
WRITER_VERSION = 4
SCENE_FACTOR_SIZES = collections.OrderedDict([("pose", 3), ("sh", 27),
                                              ("background", 3)])

# Deep3DFaceRecon's SH constants (tfface.rendering.lighting): per-band
# factors a_l, normalisations c_l, and the +0.8 offset on every DC term.
_SH_A = (lighting.A0, lighting.A1, lighting.A2)
_SH_C = (lighting.C0, lighting.C1, lighting.C2)
SH_DC_OFFSET = lighting.DEFAULT_AMBIENT_OFFSET
# Lambertian (clamped-cosine) convolution weights per band.
_LAMBERT = (math.pi, 2.0 * math.pi / 3.0, math.pi / 4.0)


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
  """Ranges of the scene factors.

  Attributes:
    max_yaw_degrees: head yaw is uniform in ±this (ConfigNet: 30).
    max_pitch_degrees: head pitch is uniform in ±this (ConfigNet: 10).
    max_roll_degrees: head roll is uniform in ±this (ConfigNet: 0).
    expression_focus: blendshape names shown more often than the sparse
      default sampling shows them (:func:`focus_expressions`); a name without
      its ``Left``/``Right`` suffix means the pair (``"mouthSmile"``).
    expression_focus_probability: chance that each focus expression is
      switched on in a face, at a weight uniform in [0.3, 1] (0 = off).
  """
  max_yaw_degrees: float = 30.0
  max_pitch_degrees: float = 10.0
  max_roll_degrees: float = 0.0
  expression_focus: Tuple[str, ...] = ()
  expression_focus_probability: float = 0.0

  def check(self) -> None:
    for name in ("max_yaw_degrees", "max_pitch_degrees", "max_roll_degrees"):
      value = getattr(self, name)
      if not 0.0 <= value <= 90.0:
        raise ValueError(f"{name} must be in [0, 90], got {value}.")
    if not 0.0 <= self.expression_focus_probability <= 1.0:
      raise ValueError("expression_focus_probability must be in [0, 1], got "
                       f"{self.expression_focus_probability}.")
    if isinstance(self.expression_focus, str):
      raise ValueError("expression_focus must be a tuple of blendshape names, "
                       f"got the string {self.expression_focus!r}.")


# -----------------------------------------------------------------------------
# Spherical-harmonics lighting (Deep3DFaceRecon convention).


def sh_basis(normals: np.ndarray) -> np.ndarray:
  """NumPy twin of :func:`tfface.rendering.lighting.sh_basis`: 9 values Y(n).

  Args:
    normals: `[..., 3]` unit vectors (x right, y up, z toward the camera).

  Returns:
    `[..., 9]` float64.
  """
  n = np.asarray(normals, np.float64)
  x, y, z = n[..., 0], n[..., 1], n[..., 2]
  k0, k1, k2 = (a * c for a, c in zip(_SH_A, _SH_C))
  return np.stack([
      np.full_like(x, k0), -k1 * y, k1 * z, -k1 * x, k2 * x * y, -k2 * y * z,
      k2 / (2.0 * math.sqrt(3.0)) * (3.0 * z * z - 1.0), -k2 * x * z,
      k2 / 2.0 * (x * x - y * y)
  ], axis=-1)


def _band(k: int) -> int:
  return 0 if k == 0 else (1 if k < 4 else 2)


def sh_coefficients(ambient: np.ndarray, directions: np.ndarray,
                    colors: np.ndarray) -> np.ndarray:
  """SH coefficients ``sh`` of ambient light plus directional lights.

  The renderer shades with `(Y(n)·(γ_c + 0.8·e_0))` per channel c; the
  returned γ makes that the 2nd-order SH approximation of
  `ambient_c + Σ_j color_jc · max(0, n·d_j)`.

  Args:
    ambient: `[3]` RGB irradiance from all directions.
    directions: `[J, 3]` unit vectors toward the lights.
    colors: `[J, 3]` RGB intensities.

  Returns:
    `[27]` float32: 9 coefficients for R, then G, then B.
  """
  ambient = np.asarray(ambient, np.float64)
  directions = np.asarray(directions, np.float64).reshape(-1, 3)
  colors = np.asarray(colors, np.float64).reshape(-1, 3)
  basis = sh_basis(directions)  # [J, 9]
  # Y_k = A_l y_k with A = _SH_A·(c_l / standard normalisation) = _SH_A up to
  # the per-band factor; gamma_k = Lambert_l · y_k(d) / A_l = Lambert_l ·
  # Y_k(d) / A_l².
  scale = np.array([_LAMBERT[_band(k)] / _SH_A[_band(k)]**2 for k in range(9)])
  gamma = np.einsum("jc,jk->ck", colors, basis * scale)  # [3, 9]
  gamma[:, 0] += ambient / (_SH_A[0] * _SH_C[0]) - SH_DC_OFFSET
  return gamma.reshape(27).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
  return v / np.linalg.norm(v, axis=-1, keepdims=True)


def sample_sh(rng: np.random.Generator, mode: str) -> np.ndarray:
  """SH lighting `[27]`: around a frontal white light, or pseudo-real lights.

  ``"synthetic"``: ambient 0.45–0.75 slightly tinted plus one white light
  0.2–0.55 from within about 35° of the view direction (slightly above).
  ``"pseudo_real"``: dimmer ambient and 2–3 coloured lights from anywhere in
  the front hemisphere, plus extra random energy in the second band.
  """
  if mode == schema.SYNTHETIC:
    ambient = rng.uniform(0.45, 0.75) * (1.0 + rng.normal(0.0, 0.03, 3))
    direction = _unit(np.array([0.0, 0.2, 1.0]) +
                      np.concatenate([rng.normal(0.0, 0.35, 2), [0.0]]))
    color = rng.uniform(0.2, 0.55) * (1.0 + rng.normal(0.0, 0.03, 3))
    return sh_coefficients(ambient, direction[None], color[None])
  num_lights = int(rng.integers(2, 4))
  ambient = rng.uniform(0.35, 0.6) * rng.uniform(0.9, 1.1, 3)
  directions = _unit(rng.normal(size=(num_lights, 3)) * [1.0, 0.7, 0.6] +
                     [0.0, 0.1, 0.5])
  # Warm/cool light tints: scale red against blue.
  warmth = rng.uniform(-0.15, 0.15, (num_lights, 1))
  colors = rng.uniform(0.25, 0.6, (num_lights, 1)) * (
      1.0 + warmth * np.array([1.0, 0.2, -1.0]))
  sh = sh_coefficients(ambient, directions, colors)
  high = np.zeros([3, 9], np.float32)
  high[:, 4:] = rng.normal(0.0, 0.05, (1, 5)) + rng.normal(0.0, 0.015, (3, 5))
  return sh + high.reshape(27)


def sample_pose(rng: np.random.Generator, config: SamplingConfig) -> np.ndarray:
  """Head pose `[3]` (pitch, yaw, roll) radians, uniform inside the limits."""
  limits = np.radians([config.max_pitch_degrees, config.max_yaw_degrees,
                       config.max_roll_degrees])
  return (rng.uniform(-1.0, 1.0, 3) * limits).astype(np.float32)


def sample_background_color(rng: np.random.Generator) -> np.ndarray:
  """A uniform background colour `[3]` RGB in [-1, 1] (muted, any hue)."""
  grey = rng.uniform(-0.8, 0.8)
  return np.clip(grey + rng.normal(0.0, 0.25, 3), -1.0, 1.0).astype(np.float32)


# -----------------------------------------------------------------------------
# Procedural textures (pseudo-real style).


def value_noise(rng: np.random.Generator, height: int, width: int,
                cells: float, octaves: int = 1,
                persistence: float = 0.5) -> np.ndarray:
  """Smooth fractal value noise `[H, W]` float32 of zero mean, std about 1.

  Args:
    rng: random generator.
    height, width: output size in pixels.
    cells: lattice cells across the larger side for the first octave.
    octaves: octaves summed, each twice the frequency of the last.
    persistence: amplitude factor per octave.
  """
  total = np.zeros([height, width], np.float64)
  amplitude = 1.0
  side = max(height, width)
  for octave in range(octaves):
    n = max(1.0, cells * 2**octave)
    gy = int(math.ceil(n * height / side)) + 2
    gx = int(math.ceil(n * width / side)) + 2
    grid = rng.normal(size=(gy, gx))
    y = (np.arange(height) + 0.5) * n / side + rng.uniform(0, 1)
    x = (np.arange(width) + 0.5) * n / side + rng.uniform(0, 1)
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    ty, tx = y - y0, x - x0
    ty, tx = ty * ty * (3 - 2 * ty), tx * tx * (3 - 2 * tx)  # smoothstep
    top = grid[y0][:, x0] * (1 - tx) + grid[y0][:, x0 + 1] * tx
    bottom = grid[y0 + 1][:, x0] * (1 - tx) + grid[y0 + 1][:, x0 + 1] * tx
    total += amplitude * (top * (1 - ty)[:, None] + bottom * ty[:, None])
    amplitude *= persistence
  total -= total.mean()
  return (total / (total.std() + 1e-8)).astype(np.float32)


def pseudo_real_background(rng: np.random.Generator, height: int,
                           width: int) -> np.ndarray:
  """A textured background `[H, W, 3]` float32 in [-1, 1].

  A linear gradient between two random colours at a random angle, modulated
  by low-frequency coloured noise and a few soft out-of-focus blobs.
  """
  grey = rng.uniform(-0.8, 0.8, (2, 1))
  c0, c1 = np.clip(grey + rng.normal(0.0, 0.3, (2, 3)), -1.0, 1.0)
  angle = rng.uniform(0.0, 2.0 * math.pi)
  y, x = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width),
                     indexing="ij")
  t = (x * math.cos(angle) + y * math.sin(angle)) * 0.5 + 0.5
  image = c0 * (1 - t[..., None]) + c1 * t[..., None]
  strength = rng.uniform(0.1, 0.3)
  for channel in range(3):
    image[..., channel] += strength * 0.25 * value_noise(
        rng, height, width, cells=rng.uniform(2, 5), octaves=3)
  image += strength * value_noise(rng, height, width, rng.uniform(3, 8),
                                  octaves=3)[..., None] * 0.6
  for _ in range(int(rng.integers(0, 4))):
    cy, cx = rng.uniform(-1, 1, 2)
    radius = rng.uniform(0.1, 0.4)
    blob = np.exp(-((y - cy)**2 + (x - cx)**2) / (2 * radius**2))
    image += blob[..., None] * (rng.uniform(-0.4, 0.4) +
                                rng.normal(0.0, 0.1, 3))
  return np.clip(image, -1.0, 1.0).astype(np.float32)


def skin_texture(rng: np.random.Generator, height: int,
                 width: int) -> np.ndarray:
  """Multiplicative image-space skin grain `[H, W, 1]` around 1 (pores)."""
  fine = value_noise(rng, height, width, cells=max(4.0, width / 3.0),
                     octaves=2)
  amount = rng.uniform(0.02, 0.05)
  return (1.0 + amount * fine)[..., None].astype(np.float32)


class TexturedSkinModel(face_model.FaceModel):
  """A face model whose skin albedo carries procedural noise (pseudo-real).

  Wraps another :class:`~tfface.rendering.face_model.FaceModel` and adds the
  parameter group ``skin_texture`` `[2K]`: weights of K fixed 3D sinusoids
  (a sine and a cosine each) of the neutral vertex positions, spatial
  frequencies log-uniform in [``min_frequency``, ``max_frequency``] radians
  per decimetre. The skin albedo is multiplied by `1 + Σ_k w_k · wave_k(v)`
  on skin vertices, so the texture (blotches, mottling) sticks to the face
  as it moves. With weights ~N(0, a²) the modulation has std ≈ a.
  """

  def __init__(self, base: face_model.FaceModel, num_waves: int = 64,
               min_frequency: float = 8.0, max_frequency: float = 40.0,
               seed: int = 0):
    self.base = base
    neutral = base.vertices(base.default_parameters(1))[0].numpy()
    rng = np.random.default_rng(seed)
    directions = _unit(rng.normal(size=(num_waves, 3)))
    frequencies = np.exp(rng.uniform(np.log(min_frequency),
                                     np.log(max_frequency), num_waves))
    phase = neutral.astype(np.float64) @ (directions *
                                          frequencies[:, None]).T  # [V, K]
    waves = np.concatenate([np.sin(phase), np.cos(phase)], -1)
    skin = base.region_weights()["skin"].astype(np.float64)
    self._waves = tf.constant(
        (waves * skin[:, None] / math.sqrt(num_waves)).astype(np.float32))
    self._sizes = collections.OrderedDict(base.parameter_sizes)
    self._sizes["skin_texture"] = 2 * num_waves

  triangles = property(lambda self: self.base.triangles)
  num_vertices = property(lambda self: self.base.num_vertices)
  landmark_indices = property(lambda self: self.base.landmark_indices)
  expression_names = property(lambda self: self.base.expression_names)
  parameter_sizes = property(
      lambda self: collections.OrderedDict(self._sizes))

  def region_weights(self):
    return self.base.region_weights()

  def parametric_region_weights(self, params):
    return self.base.parametric_region_weights(params)

  def default_parameters(self, batch_size: int):
    params = dict(self.base.default_parameters(batch_size))
    params["skin_texture"] = tf.zeros(
        [batch_size, self._sizes["skin_texture"]], tf.float32)
    return params

  def vertices(self, params):
    return self.base.vertices(params)

  def vertex_normals(self, vertices):
    return self.base.vertex_normals(vertices)

  def albedo(self, params):
    self.validate(params)
    weights = tf.convert_to_tensor(params["skin_texture"], tf.float32)
    modulation = 1.0 + tf.einsum("vk,bk->bv", self._waves, weights)
    return tf.clip_by_value(
        self.base.albedo(params) * modulation[..., None], 0.0, 1.0)


def photo_finish(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
  """Colour grading, vignetting and sensor noise on `[H, W, 3]` in [-1, 1]."""
  height, width = image.shape[:2]
  linear = (image + 1.0) * 0.5
  gain = rng.uniform(0.92, 1.08, 3)
  gamma = rng.uniform(0.85, 1.15)
  linear = np.clip(linear * gain, 0.0, 1.0)**gamma
  grey = linear.mean(axis=-1, keepdims=True)
  linear = grey + rng.uniform(0.75, 1.2) * (linear - grey)
  y, x = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width),
                     indexing="ij")
  linear *= (1.0 - rng.uniform(0.0, 0.35) * (x * x + y * y) / 2.0)[..., None]
  linear += rng.normal(0.0, rng.uniform(0.004, 0.02), linear.shape)
  return np.clip(linear * 2.0 - 1.0, -1.0, 1.0).astype(np.float32)


# -----------------------------------------------------------------------------
# Factors of the face model.


def _default_model():
  from tfface.rendering import procedural_model  # pylint: disable=g-import-not-at-top
  return procedural_model.ProceduralFaceModel()


def synthetic_factor_sizes(model=None) -> "collections.OrderedDict[str, int]":
  """Every factor θ_i of a synthetic face, by name, in storage order.

  Args:
    model: a :class:`tfface.rendering.face_model.FaceModel` (default: the
      procedural model with default options).

  Returns:
    Ordered dict name -> size: the model's parameter groups in
    ``model.parameter_sizes`` order, then ``pose`` (3: pitch, yaw, roll
    radians), ``sh`` (27: 3×9 SH, Deep3DFaceRecon convention) and
    ``background`` (3: RGB in [-1, 1]).
  """
  model = model if model is not None else _default_model()
  sizes = collections.OrderedDict(model.parameter_sizes)
  clash = set(sizes) & set(SCENE_FACTOR_SIZES)
  if clash:
    raise ValueError(f"model parameter groups {sorted(clash)} clash with the "
                     "scene factors pose/sh/background.")
  sizes.update(SCENE_FACTOR_SIZES)
  return sizes


def _symmetric_units(names: Sequence[str]) -> List[List[int]]:
  """Groups expression indices into units: Left/Right pairs together."""
  index = {name: i for i, name in enumerate(names)}
  units, seen = [], set()
  for i, name in enumerate(names):
    if i in seen:
      continue
    unit = [i]
    for side, other in (("Left", "Right"), ("Right", "Left")):
      if name.endswith(side) and name[:-len(side)] + other in index:
        unit.append(index[name[:-len(side)] + other])
    seen.update(unit)
    units.append(unit)
  return units


def focus_units(names: Sequence[str], focus: Sequence[str]
               ) -> List[List[int]]:
  """Blendshape indices of each focus name (a ``Left``/``Right`` pair for a
  name given without its side, e.g. ``"mouthSmile"``).

  Raises:
    ValueError: a name that is neither a blendshape nor a pair's stem.
  """
  index = {name: i for i, name in enumerate(names)}
  units = []
  for name in focus:
    if name in index:
      units.append([index[name]])
    elif name + "Left" in index and name + "Right" in index:
      units.append([index[name + "Left"], index[name + "Right"]])
    else:
      raise ValueError(f"unknown expression {name!r} in expression_focus; "
                       f"expected one of {list(names)} (or a Left/Right "
                       "stem such as 'mouthSmile')")
  return units


def focus_expressions(rng: np.random.Generator, weights: np.ndarray,
                      names: Sequence[str], config: SamplingConfig
                     ) -> np.ndarray:
  """Switches on each of ``config.expression_focus`` with its probability.

  A focus expression that is on gets ``max(current, u)``, u ~ U(0.3, 1),
  symmetric for a pair. Draws nothing when there is no focus, so the
  default datasets are unchanged.

  Args:
    weights: `[E]` blendshape weights in [0, 1] (:func:`sample_expression`).

  Returns:
    `[E]` float32 in [0, 1].
  """
  if not config.expression_focus or config.expression_focus_probability <= 0:
    return weights
  weights = np.array(weights, np.float32, copy=True)
  for unit in focus_units(names, config.expression_focus):
    if rng.uniform() < config.expression_focus_probability:
      value = rng.uniform(0.3, 1.0)
      weights[unit] = np.maximum(weights[unit], value)
  return weights


def sample_expression(rng: np.random.Generator,
                      names: Sequence[str]) -> np.ndarray:
  """Sparse blendshape weights `[E]` in [0, 1], mostly 0.

  One face in five is neutral; the others activate 1–3 expression units (a
  Left/Right pair counts as one unit and is usually symmetric) with weights
  spread over (0, 1].
  """
  weights = np.zeros(len(names), np.float32)
  if not names or rng.uniform() < 0.2:
    return weights
  units = _symmetric_units(names)
  count = min(len(units), 1 + int(rng.poisson(0.7)))
  for u in rng.choice(len(units), size=count, replace=False):
    value = rng.beta(1.6, 1.4)
    for j, i in enumerate(units[u]):
      asym = 0.0 if j == 0 or rng.uniform() < 0.75 else rng.normal(0.0, 0.25)
      weights[i] = value + asym
  return np.clip(weights, 0.0, 1.0)


# -----------------------------------------------------------------------------
# Rendering a batch.


def dataset_camera(image_size: Tuple[int, int], zoom: float = 0.75):
  """The Deep3DFaceRecon camera at ``image_size`` with its focal × ``zoom``.

  ``zoom`` 1 frames the face like Deep3DFaceRecon's aligned crops (forehead
  to chin); the dataset default 0.75 shows the whole head with its hair and
  beard (FFHQ-like framing), so those factors are visible.
  """
  from tfface.rendering import camera as camera_lib  # pylint: disable=g-import-not-at-top
  if not 0.2 <= zoom <= 5.0:
    raise ValueError(f"zoom must be in [0.2, 5], got {zoom}.")
  camera = camera_lib.deep3d_camera(image_size)
  return dataclasses.replace(camera, focal=camera.focal * zoom)


class _BatchRenderer:
  """Renders fixed-size batches of sampled factors to uint8 arrays."""

  def __init__(self, model, image_size: Tuple[int, int], batch_size: int,
               backend: str, zoom: float = 0.75):
    from tfface.rendering import face_renderer  # pylint: disable=g-import-not-at-top
    self.model = model
    self.image_size = image_size
    self.batch_size = batch_size
    self.renderer = face_renderer.FaceRenderer(
        model, image_size, camera=dataset_camera(image_size, zoom),
        backend=backend,
        # Eyelids and lips are zero-thickness sheets; their back faces would
        # show as dark wedges in turned views.
        enable_cull_face=True)
    self.factor_sizes = synthetic_factor_sizes(model)
    self.fingerprint = model_fingerprint(model)
    height, width = image_size
    signature = {name: tf.TensorSpec([batch_size, size], tf.float32)
                 for name, size in self.factor_sizes.items()
                 if name != "background"}
    signature["translation"] = tf.TensorSpec([batch_size, 3], tf.float32)
    signature["background"] = tf.TensorSpec([batch_size, height, width, 3],
                                            tf.float32)
    self._render = tf.function(self._render_impl, input_signature=[signature])

  def _render_impl(self, params):
    out = self.renderer.render(params)
    regions = out["regions"]
    iris = tf.clip_by_value(regions["iris_left"] + regions["iris_right"], 0.0,
                            1.0)
    return {"image": out["image"], "iris": iris,
            "skin": regions["skin"], "landmarks": out["landmarks"],
            "parse": parse_classes(out["mask"], regions)}

  def __call__(self, factors: List[Mapping[str, np.ndarray]],
               translations: np.ndarray,
               backgrounds: np.ndarray) -> Dict[str, np.ndarray]:
    """Renders up to ``batch_size`` faces (the batch is padded).

    Args:
      factors: per face, dict name -> `[n]` (every factor except that
        ``background`` may be absent).
      translations: `[N, 3]` float32 model translations.
      backgrounds: `[N, H, W, 3]` float32 in [-1, 1].

    Returns:
      ``image`` `[N, H, W, 3]` float32 in [-1, 1], ``iris`` and ``skin``
      `[N, H, W, 1]` in [0, 1], ``landmarks`` `[N, 68, 2]` pixels, ``parse``
      `[N, H, W, 1]` uint8 (:func:`parse_classes`).
    """
    count = len(factors)
    pad = self.batch_size - count
    def stack(values):
      values = np.stack(values).astype(np.float32)
      return np.concatenate([values, np.repeat(values[-1:], pad, 0)], 0)
    params = {name: stack([f[name] for f in factors])
              for name in self.factor_sizes if name != "background"}
    params["translation"] = stack(list(translations))
    params["background"] = stack(list(backgrounds))
    out = self._render(params)
    return {k: v.numpy()[:count] for k, v in out.items()}


# Which rendered regions make each parse class, in painting order (a later
# class wins where two overlap): region weights are interpolated per pixel
# and a class is painted where its summed weight is over one half.
_PARSE_PAINT = (("hair", ("hair",)), ("beard", ("beard",)),
                ("brows", ("brows",)), ("lips", ("lips",)),
                ("mouth", ("mouth", "teeth")),
                ("eyes", ("eyes", "eye_sockets", "iris_left", "iris_right")))


def parse_classes(mask: tf.Tensor, regions: Mapping[str, tf.Tensor]
                  ) -> tf.Tensor:
  """The face-parse class map of a render.

  Args:
    mask: `[B, H, W, 1]` float32 face foreground in {0, 1}.
    regions: name -> `[B, H, W, 1]` float32 in [0, 1], the renderer's
      ``regions`` output; names a model lacks are skipped.

  Returns:
    `[B, H, W, 1]` uint8 ids of :data:`tfface.data.schema.PARSE_CLASSES`:
    background off the face, skin on it, then hair, beard, brows, lips,
    mouth (interior and teeth) and eyes painted over it in that order.
  """
  ids = {name: i for i, name in enumerate(schema.PARSE_CLASSES)}
  classes = tf.where(mask > 0.5, ids["skin"], ids["background"])
  for name, parts in _PARSE_PAINT:
    present = [regions[p] for p in parts if p in regions]
    if present:
      weight = tf.add_n(present)
      classes = tf.where(tf.logical_and(mask > 0.5, weight > 0.5), ids[name],
                         classes)
  return tf.cast(classes, tf.uint8)


# -----------------------------------------------------------------------------
# The writer.


def example_rng(seed: int, mode: str, index: int) -> np.random.Generator:
  """The random generator of example ``index`` (independent of sharding)."""
  return np.random.default_rng([int(seed), MODES.index(mode), int(index)])


def _check_mode(mode: str) -> None:
  if mode not in MODES:
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")


@functools.lru_cache(maxsize=4)
def _cached_renderer(image_size: Tuple[int, int], batch_size: int,
                     backend: str, zoom: float,
                     model_options: Tuple[Tuple[str, object], ...],
                     textured_skin: bool = False) -> _BatchRenderer:
  """One traced renderer per setting, reused by later calls in the process."""
  from tfface.rendering import procedural_model  # pylint: disable=g-import-not-at-top
  model = procedural_model.ProceduralFaceModel(**dict(model_options))
  if textured_skin:
    model = TexturedSkinModel(model)
  return _BatchRenderer(model, image_size, batch_size, backend, zoom)


class _ExampleMaker:
  """Samples, renders and serializes the examples of one dataset."""

  def __init__(self, mode: str, seed: int, image_size: Tuple[int, int],
               batch_size: int, backend: str, config: SamplingConfig,
               model_options: Mapping[str, object], zoom: float,
               views_per_identity: int = 1,
               pseudo_real_fraction: float = 0.0):
    self.mode, self.seed, self.config = mode, seed, config
    self.views_per_identity = views_per_identity
    self.pseudo_real_fraction = pseudo_real_fraction
    self.image_size = image_size
    self.render = _cached_renderer(image_size, batch_size, backend, zoom,
                                   tuple(sorted(model_options.items())),
                                   textured_skin=mode != schema.SYNTHETIC)
    self.model = self.render.model
    self.factor_sizes = self.render.factor_sizes

  def style(self, index: int) -> str:
    """The render style of face ``index``: its mode, or drawn when labeled."""
    if self.mode != LABELED:
      return self.mode
    draw = np.random.default_rng([int(self.seed), MODES.index(LABELED), 2,
                                  int(index)]).uniform()
    return (schema.PSEUDO_REAL if draw < self.pseudo_real_fraction
            else schema.SYNTHETIC)

  def identity(self, index: int) -> int:
    return index // self.views_per_identity

  def scene(self, index: int):
    """(factors, translation `[3]`, background `[H, W, 3]`, rng) of one face."""
    rng = example_rng(self.seed, self.mode, index)
    style = self.style(index)
    factors = sample_factors(rng, self.model, style, self.config)
    if self.mode == LABELED:
      # Shape and albedo belong to the identity; everything else to the view.
      person = np.random.default_rng([int(self.seed), MODES.index(LABELED), 1,
                                      self.identity(index)])
      for name in ("identity", "albedo"):
        factors[name] = np.clip(person.normal(0.0, 1.0, factors[name].shape),
                                -2.5, 2.5).astype(np.float32)
      if style == schema.SYNTHETIC:
        factors["skin_texture"] = np.zeros_like(factors["skin_texture"])
    height, width = self.image_size
    if style == schema.SYNTHETIC:
      translation = np.zeros(3, np.float32)
      background = np.broadcast_to(factors["background"], (height, width, 3))
    else:
      # Camera jitter: up to ~4% of the frame sideways, ±6% scale, roll.
      translation = np.array([rng.uniform(-0.08, 0.08),
                              rng.uniform(-0.08, 0.08),
                              rng.uniform(-0.6, 0.6)], np.float32)
      factors["pose"][2] += np.radians(rng.uniform(-8.0, 8.0))
      background = pseudo_real_background(rng, height, width)
    return factors, translation, background, rng

  def records(self, indices: Sequence[int]) -> List[bytes]:
    """Serialized examples for ``indices`` (rendered as one batch)."""
    scenes = [self.scene(i) for i in indices]
    out = self.render([s[0] for s in scenes], np.stack([s[1] for s in scenes]),
                      np.stack([s[2] for s in scenes]))
    records = []
    for j, (index, (factors, translation, _, rng)) in enumerate(
        zip(indices, scenes)):
      if self.mode == LABELED:
        style = self.style(index)
        image = out["image"][j]
        if style == schema.PSEUDO_REAL:
          image = self.pseudo_real_finish(rng, image, out["skin"][j])
        iris = np.round(np.clip(out["iris"][j], 0, 1) * 255).astype(np.uint8)
        stored = collections.OrderedDict(
            (name, np.asarray(factors[name], np.float32))
            for name in self.factor_sizes if name != "skin_texture")
        stored["translation"] = np.asarray(translation, np.float32)
        records.append(schema.make_example(
            schema.to_uint8(image), schema.SYNTHETIC, stored, iris,
            out["landmarks"][j], parse=out["parse"][j],
            identity=self.identity(index), style=style))
      elif self.mode == schema.SYNTHETIC:
        iris = np.round(np.clip(out["iris"][j], 0, 1) * 255).astype(np.uint8)
        records.append(schema.make_example(
            schema.to_uint8(out["image"][j]), schema.SYNTHETIC,
            collections.OrderedDict(
                (name, np.asarray(factors[name], np.float32))
                for name in self.factor_sizes),
            iris, out["landmarks"][j]))
      else:
        image = self.pseudo_real_finish(rng, out["image"][j], out["skin"][j])
        records.append(schema.make_example(schema.to_uint8(image),
                                           schema.PSEUDO_REAL))
    return records

  def pseudo_real_finish(self, rng: np.random.Generator, image: np.ndarray,
                         skin: np.ndarray) -> np.ndarray:
    """Skin grain and :func:`photo_finish` on a render `[H, W, 3]` in [-1, 1]."""
    height, width = self.image_size
    image = (image + 1.0) * 0.5
    skin = np.clip(skin, 0.0, 1.0)
    grain = skin_texture(rng, height, width)
    image = image * (1.0 + skin * (grain - 1.0))
    return photo_finish(rng, image * 2.0 - 1.0)


def model_fingerprint(model) -> str:
  """SHA-1 of a model's neutral mesh, albedo and layout (detects changes)."""
  params = model.default_parameters(1)
  digest = hashlib.sha1()
  for array in (model.triangles, model.landmark_indices,
                model.vertices(params).numpy(), model.albedo(params).numpy()):
    array = np.asarray(array)
    if array.dtype.kind == "f":
      array = np.round(array.astype(np.float64), 5)
    digest.update(np.ascontiguousarray(array).tobytes())
  digest.update(json.dumps(list(model.parameter_sizes.items())).encode())
  return digest.hexdigest()


def _info(mode, num_examples, image_size, seed, num_shards, batch_size,
          backend, zoom, config, model_options, factor_sizes,
          expression_names, fingerprint):
  """The settings as JSON-normalised data (compares equal after a reload)."""
  return json.loads(json.dumps({
      "writer_version": WRITER_VERSION,
      "zoom": zoom,
      "format": "tfface-faces-v1",
      "mode": mode,
      "num_examples": num_examples,
      "image_size": list(image_size),
      "seed": seed,
      "num_shards": num_shards,
      "batch_size": batch_size,
      "backend": backend,
      "sampling": dataclasses.asdict(config),
      "model_options": dict(sorted(dict(model_options).items())),
      "model_fingerprint": fingerprint,
      "factor_sizes": (list(factor_sizes.items())
                       if mode == schema.SYNTHETIC else []),
      "expression_names": (list(expression_names)
                           if mode == schema.SYNTHETIC else []),
      "tensorflow": tf.__version__,
  }, sort_keys=True))


def info_path(output_dir: str, mode: str) -> str:
  """``<output_dir>/<mode>_info.json``: the settings a dataset was made with."""
  return os.path.join(output_dir, f"{mode}_info.json")


def read_info(pattern_or_dir: str, mode: str = schema.SYNTHETIC
             ) -> Optional[Dict[str, object]]:
  """The settings a dataset was written with, or None when it has no info.

  Args:
    pattern_or_dir: the dataset directory or a glob of its shards.
    mode: ``"synthetic"`` or ``"pseudo_real"``.
  """
  directory = pattern_or_dir
  if not tf.io.gfile.isdir(directory):
    directory = os.path.dirname(pattern_or_dir)
  path = info_path(directory, mode)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def _write_json_atomically(path: str, data) -> None:
  tmp = f"{path}{sharded_writer.PARTIAL_TAG}{os.getpid()}"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
  tf.io.gfile.rename(tmp, path, overwrite=True)


def write_synthetic_dataset(output_dir: str,
                            num_examples: int,
                            image_size=64,
                            mode: str = schema.SYNTHETIC,
                            seed: int = 0,
                            examples_per_shard: int = 1000,
                            batch_size: int = 32,
                            backend: str = "tf",
                            max_yaw_degrees: float = 30.0,
                            max_pitch_degrees: float = 10.0,
                            max_roll_degrees: float = 0.0,
                            zoom: float = 0.75,
                            model_options: Optional[Mapping[str, object]]
                            = None,
                            expression_focus: Sequence[str] = (),
                            expression_focus_probability: float = 0.0,
                            views_per_identity: int = 4,
                            pseudo_real_fraction: float = 0.5,
                            overwrite: bool = False,
                            show_progress: bool = True) -> Dict[str, object]:
  """Renders and writes a sharded synthetic (or pseudo-real) face dataset.

  Shards are ``<output_dir>/<mode>-<i>-of-<n>.tfrecord`` (schema:
  :mod:`tfface.data.schema`), each written to a temporary name and renamed
  when complete; ``<output_dir>/<mode>_info.json`` records the settings.
  Rerunning with the same settings keeps complete shards and writes the
  missing ones (resume); ``overwrite=True`` rewrites everything.

  Args:
    output_dir: directory for the shards (created).
    num_examples: faces to write, >= 1.
    image_size: `H` or `(H, W)` pixels, >= 8.
    mode: ``"synthetic"`` (labeled) or ``"pseudo_real"`` (unlabeled, other
      render style).
    seed: dataset seed; same seed and settings -> byte-identical shards.
    examples_per_shard: faces per shard (the last shard may hold fewer).
    batch_size: faces rendered together.
    backend: rasterizer backend, ``"tf"`` or ``"tfg_cpu"``.
    max_yaw_degrees, max_pitch_degrees, max_roll_degrees: head pose limits.
    zoom: camera focal multiplier (:func:`dataset_camera`); 1 = the
      Deep3DFaceRecon framing, 0.75 (default) the whole head.
    model_options: keyword arguments of ``ProceduralFaceModel``.
    expression_focus, expression_focus_probability: blendshapes switched on
      more often (:class:`SamplingConfig`); synthetic and pseudo-real alike.
    views_per_identity: ``labeled`` mode: consecutive faces sharing an
      identity (shape and albedo), >= 1.
    pseudo_real_fraction: ``labeled`` mode: the share of faces drawn in the
      pseudo-real style, in [0, 1].
    overwrite: delete and rewrite an existing dataset of this mode; without
      it, an existing dataset made with the same settings is resumed (its
      complete shards kept) and one made with other settings is an error.
    show_progress: draw a progress bar on stderr / log progress lines.

  Returns:
    The info dict (also written as JSON) plus ``"shards"`` (paths),
    ``"written_shards"`` (shards written by this call) and
    ``"faces_per_second"`` (rendering throughput of this call, or None).

  Raises:
    ValueError: bad arguments, or an existing dataset of this mode in
      ``output_dir`` made with other settings and ``overwrite`` False.
  """
  _check_mode(mode)
  size = image_size_lib.parse_image_size(image_size, minimum=8)
  for name, value in (("num_examples", num_examples),
                      ("examples_per_shard", examples_per_shard),
                      ("batch_size", batch_size)):
    if not isinstance(value, (int, np.integer)) or value < 1:
      raise ValueError(f"{name} must be a positive int, got {value!r}.")
  if isinstance(expression_focus, str):
    expression_focus = [n for n in expression_focus.split(",") if n]
  config = SamplingConfig(max_yaw_degrees, max_pitch_degrees, max_roll_degrees,
                          tuple(expression_focus),
                          float(expression_focus_probability))
  config.check()
  model_options = dict(model_options or {})
  num_shards = -(-num_examples // examples_per_shard)
  if not isinstance(views_per_identity, (int, np.integer)) or (
      views_per_identity < 1):
    raise ValueError("views_per_identity must be a positive int, got "
                     f"{views_per_identity!r}.")
  if not 0.0 <= pseudo_real_fraction <= 1.0:
    raise ValueError("pseudo_real_fraction must be in [0, 1], got "
                     f"{pseudo_real_fraction!r}.")

  zoom = float(zoom)
  labeled = {}
  if mode == LABELED:
    labeled = {"views_per_identity": int(views_per_identity),
               "pseudo_real_fraction": float(pseudo_real_fraction)}
  maker = _ExampleMaker(mode, seed, size, batch_size, backend, config,
                        model_options, zoom, **labeled)
  focus_units(maker.model.expression_names, config.expression_focus)
  info = _info(mode, num_examples, size, seed, num_shards, batch_size, backend,
               zoom, config, model_options, maker.factor_sizes,
               maker.model.expression_names, maker.render.fingerprint)
  info.update(labeled)
  tf.io.gfile.makedirs(output_dir)
  for path in sharded_writer.remove_stale_partials(output_dir, mode):
    logging.info("removed %s, left by an interrupted run", path)
  existing = sorted(tf.io.gfile.glob(sharded_writer.shard_pattern(output_dir,
                                                                  mode)))
  ipath = info_path(output_dir, mode)
  old_info = None
  if tf.io.gfile.exists(ipath):
    with tf.io.gfile.GFile(ipath) as f:
      old_info = json.load(f)
  if existing or old_info is not None:
    if overwrite:
      for path in existing:
        tf.io.gfile.remove(path)
      existing = []
    elif old_info != info:
      raise ValueError(
          f"{output_dir} already holds a {mode} dataset made with other "
          f"settings ({ipath}); pass overwrite=True (--overwrite) or use "
          "another directory.")
  _write_json_atomically(ipath, info)

  shards = [sharded_writer.shard_path(output_dir, mode, k, num_shards)
            for k in range(num_shards)]
  bar = sharded_writer.ProgressBar(num_examples, unit="faces",
                                   desc=f"{mode} ", enabled=show_progress)
  written, rendered, render_seconds = [], 0, 0.0
  for k, path in enumerate(shards):
    lo = k * examples_per_shard
    hi = min(num_examples, lo + examples_per_shard)
    if path in existing:
      bar.skip(hi - lo)
      continue

    def records(lo=lo, hi=hi):
      nonlocal rendered, render_seconds
      for start in range(lo, hi, batch_size):
        indices = list(range(start, min(hi, start + batch_size)))
        begin = time.perf_counter()
        batch = maker.records(indices)
        render_seconds += time.perf_counter() - begin
        rendered += len(indices)
        yield from batch

    sharded_writer.write_records_atomically(path, records(), bar.update)
    written.append(path)
  result = dict(info)
  result["shards"] = shards
  result["written_shards"] = written
  result["faces_per_second"] = (rendered / render_seconds
                                if render_seconds > 0 else None)
  logging.info("%s: %d faces in %d shards under %s", mode, num_examples,
               num_shards, output_dir)
  return result


# Natural hair colours, linear-ish RGB in [0, 1]: black, dark brown, brown,
# light brown, auburn, ginger, dark blond, blond, platinum, grey.
HAIR_PALETTE = np.array([
    [0.04, 0.03, 0.03], [0.12, 0.07, 0.04], [0.22, 0.14, 0.08],
    [0.38, 0.26, 0.16], [0.35, 0.13, 0.06], [0.62, 0.28, 0.10],
    [0.55, 0.42, 0.25], [0.80, 0.66, 0.42], [0.90, 0.86, 0.74],
    [0.60, 0.60, 0.60]
], np.float32)


def _sample_hair_color(rng: np.random.Generator) -> np.ndarray:
  base = HAIR_PALETTE[rng.integers(len(HAIR_PALETTE))]
  color = base * rng.uniform(0.8, 1.2) + rng.normal(0.0, 0.02, 3)
  return np.clip(color, 0.0, 1.0).astype(np.float32)


def sample_model_factors(rng: np.random.Generator, model
                         ) -> Dict[str, np.ndarray]:
  """Face-model factors, one `[n]` float32 array per parameter group.

  Distributions (procedural model, see its parameter table):
    identity, albedo: N(0, 1) per mode (the model's unit is one std),
      truncated at ±2.5;
    expression: sparse blendshapes in [0, 1] (:func:`sample_expression`);
    gaze: (pitch, yaw) N(0, 6°) / N(0, 10°), clipped to ±15° / ±25°
      (ConfigNet's eye-rotation limits);
    hair_color: a natural hair colour with jitter; hair_style: coverage
      mostly full, volume and length uniform;
    beard: none for 55% of faces, else coverage 0.2–1 with density 0.4–1
      and uniform length; its colour near the hair colour 80% of the time.
    skin_texture (:class:`TexturedSkinModel`): N(0, a²), a in [0.03, 0.07].
  Unknown groups of other models: N(0, 1) (``[0, 1]`` groups need a case).
  """
  factors = {}
  for name, size in model.parameter_sizes.items():
    if name in ("identity", "albedo"):
      value = np.clip(rng.normal(0.0, 1.0, size), -2.5, 2.5)
    elif name == "expression":
      value = sample_expression(rng, model.expression_names)
    elif name == "gaze":
      value = np.array([
          np.clip(rng.normal(0.0, np.radians(6.0)), -np.radians(15.0),
                  np.radians(15.0)),
          np.clip(rng.normal(0.0, np.radians(10.0)), -np.radians(25.0),
                  np.radians(25.0))])
    elif name == "hair_color":
      value = _sample_hair_color(rng)
    elif name == "hair_style":
      value = np.array([rng.beta(4.0, 1.2), rng.uniform(), rng.uniform()])
    elif name == "beard_color":
      hair = factors.get("hair_color")
      if hair is not None and rng.uniform() < 0.8:
        value = np.clip(hair * rng.uniform(0.7, 1.1) + rng.normal(0, 0.02, 3),
                        0.0, 1.0)
      else:
        value = _sample_hair_color(rng)
    elif name == "beard_style":
      if rng.uniform() < 0.55:
        value = np.array([0.0, rng.uniform(0.4, 1.0), rng.uniform()])
      else:
        value = np.array([rng.uniform(0.2, 1.0), rng.uniform(0.4, 1.0),
                          rng.uniform()])
    elif name == "skin_texture":  # TexturedSkinModel (pseudo-real)
      value = rng.normal(0.0, rng.uniform(0.03, 0.07), size)
    else:
      value = rng.normal(0.0, 1.0, size)
    value = np.asarray(value, np.float32).reshape(size)
    factors[name] = value
  return factors


def sample_factors(rng: np.random.Generator, model,
                   mode: str = schema.SYNTHETIC,
                   config: SamplingConfig = SamplingConfig()
                   ) -> Dict[str, np.ndarray]:
  """Every factor θ_i of one face (:func:`synthetic_factor_sizes` order).

  Args:
    rng: the face's generator (:func:`example_rng`).
    model: the face model.
    mode: ``"synthetic"`` or ``"pseudo_real"`` (changes the lighting and the
      background colour's role).
    config: pose limits and expression focus.

  Returns:
    dict name -> `[n]` float32.
  """
  factors = sample_model_factors(rng, model)
  factors["pose"] = sample_pose(rng, config)
  factors["sh"] = sample_sh(rng, mode)
  factors["background"] = sample_background_color(rng)
  if "expression" in factors:
    factors["expression"] = focus_expressions(
        rng, factors["expression"], model.expression_names, config)
  return factors


# -----------------------------------------------------------------------------
# The preview grid.

PREVIEW_ROWS = ("identity", "albedo", "jawOpen", "smile", "blink", "yaw",
                "pitch", "illumination", "hair_color", "hair_style", "beard",
                "gaze", "background")


def _lerp(a: float, b: float, t: float) -> float:
  return a + (b - a) * t


def preview_factors(model, num_columns: int, seed: int = 0
                    ) -> List[List[Dict[str, np.ndarray]]]:
  """Factors of the preview grid: one row per :data:`PREVIEW_ROWS` entry.

  Every face starts from the same base (mean identity and albedo, neutral
  expression, straight gaze, the model's default hair, no beard, frontal
  pose, a frontal white light, grey background); each row sweeps one factor
  over ``num_columns`` values.

  Returns:
    rows of columns of factor dicts (name -> `[n]` float32).
  """
  if num_columns < 2:
    raise ValueError(f"num_columns must be >= 2, got {num_columns}.")
  defaults = {k: v[0].numpy() for k, v in
              model.default_parameters(1).items()}
  base = {name: np.asarray(defaults[name], np.float32)
          for name in model.parameter_sizes}
  if "beard_style" in base:
    base["beard_style"] = np.array([0.0, 1.0, 0.4], np.float32)
  base["pose"] = np.zeros(3, np.float32)
  frontal = sh_coefficients(np.full(3, 0.6), [[0.0, 0.2, 1.0]], [[0.4] * 3])
  base["sh"] = frontal
  base["background"] = np.full(3, 0.3, np.float32)
  names = model.expression_names
  rng = np.random.default_rng([int(seed), 99])

  def expression(**weights):
    value = np.zeros(len(names), np.float32)
    for name, w in weights.items():
      if name in names:
        value[names.index(name)] = w
    return value

  rows = []
  for row in PREVIEW_ROWS:
    faces = []
    for c in range(num_columns):
      t = c / (num_columns - 1)
      f = {k: np.array(v, np.float32) for k, v in base.items()}
      if row == "identity":
        f["identity"] = np.clip(rng.normal(size=f["identity"].shape), -2, 2)
      elif row == "albedo":
        f["albedo"] = np.clip(rng.normal(size=f["albedo"].shape), -2, 2)
      elif row == "jawOpen":
        f["expression"] = expression(jawOpen=t)
      elif row == "smile":
        f["expression"] = expression(mouthSmileLeft=t, mouthSmileRight=t)
      elif row == "blink":
        f["expression"] = expression(eyeBlinkLeft=t, eyeBlinkRight=t)
      elif row == "yaw":
        f["pose"][1] = np.radians(_lerp(-30.0, 30.0, t))
      elif row == "pitch":
        f["pose"][0] = np.radians(_lerp(-15.0, 15.0, t))
      elif row == "illumination":
        azimuth = np.radians(_lerp(-75.0, 75.0, t))
        direction = [math.sin(azimuth), 0.3, math.cos(azimuth)]
        f["sh"] = sh_coefficients(np.full(3, 0.45),
                                  [_unit(np.array(direction))], [[0.7] * 3])
      elif row == "hair_color" and "hair_color" in f:
        palette = HAIR_PALETTE[np.linspace(0, len(HAIR_PALETTE) - 1,
                                           num_columns).round().astype(int)]
        f["hair_color"] = palette[c]
      elif row == "hair_style" and "hair_style" in f:
        f["hair_style"] = np.array([_lerp(0.2, 1.0, t), t, t], np.float32)
      elif row == "beard" and "beard_style" in f:
        f["beard_style"] = np.array([t, 1.0, 0.4], np.float32)
      elif row == "gaze" and "gaze" in f:
        f["gaze"] = np.array([0.0, _lerp(-0.4, 0.4, t)], np.float32)
      elif row == "background":
        hue = 2.0 * math.pi * t
        f["background"] = np.array(
            [0.6 * math.cos(hue + k * 2.0 * math.pi / 3.0) for k in range(3)],
            np.float32)
      faces.append(f)
    rows.append(faces)
  return rows


def preview_grid(image_size: int = 96, num_columns: int = 7, seed: int = 0,
                 backend: str = "tf", zoom: float = 0.75,
                 model_options: Optional[Mapping[str, object]] = None
                 ) -> np.ndarray:
  """Renders the preview grid.

  Returns:
    `[len(PREVIEW_ROWS) * S, num_columns * S, 3]` uint8 image (S =
    ``image_size``); row r varies factor ``PREVIEW_ROWS[r]``.
  """
  size = image_size_lib.parse_image_size(image_size, minimum=8)
  render = _cached_renderer(size, num_columns, backend, float(zoom),
                            tuple(sorted(dict(model_options or {}).items())))
  rows = preview_factors(render.model, num_columns, seed)
  faces = [f for row in rows for f in row]
  images = []
  for start in range(0, len(faces), num_columns):
    batch = faces[start:start + num_columns]
    backgrounds = np.stack([np.broadcast_to(f["background"], size + (3,))
                            for f in batch])
    out = render(batch, np.zeros([len(batch), 3], np.float32), backgrounds)
    images.append(np.concatenate(list(out["image"]), axis=1))
  return schema.to_uint8(np.concatenate(images, axis=0))


def write_preview(path: str, image_size: int = 96, num_columns: int = 7,
                  seed: int = 0, backend: str = "tf", zoom: float = 0.75,
                  model_options: Optional[Mapping[str, object]] = None) -> str:
  """Writes :func:`preview_grid` as a PNG (atomically); returns ``path``.

  A label column left of the faces names the factor each row varies
  (:data:`PREVIEW_ROWS`).
  """
  grid = text.label_rows(
      preview_grid(image_size, num_columns, seed, backend, zoom,
                   model_options),
      [row.replace("_", " ") for row in PREVIEW_ROWS])
  directory = os.path.dirname(os.path.abspath(path))
  tf.io.gfile.makedirs(directory)
  tmp = f"{path}{sharded_writer.PARTIAL_TAG}{os.getpid()}"
  with tf.io.gfile.GFile(tmp, "wb") as f:
    f.write(schema.encode_png(grid))
  tf.io.gfile.rename(tmp, path, overwrite=True)
  return path


def synthetic_factor_entry_names(model=None
                                 ) -> "collections.OrderedDict[str, List[str]]":
  """The name of every θ entry of a synthetic face, factor by factor.

  Same factors and order as :func:`synthetic_factor_sizes`; exports put these
  in their metadata so a client can set, say, ``expression[jawOpen]``.
  Groups the model does not name get ``<factor>_<i>``.
  """
  model = model if model is not None else _default_model()
  named = {
      "identity": tuple(getattr(model, "identity_names", ())),
      "expression": tuple(getattr(model, "expression_names", ())),
      "albedo": tuple(getattr(model, "albedo_names", ())),
      "gaze": ("pitch", "yaw"),
      "hair_color": ("r", "g", "b"),
      "hair_style": ("coverage", "volume", "length"),
      "beard_color": ("r", "g", "b"),
      "beard_style": ("coverage", "density", "length"),
      "pose": ("pitch", "yaw", "roll"),
      "background": ("r", "g", "b"),
  }
  out = collections.OrderedDict()
  for factor, size in synthetic_factor_sizes(model).items():
    names = named.get(factor, ())
    out[factor] = (list(names) if len(names) == size else
                   [f"{factor}_{i}" for i in range(size)])
  return out
