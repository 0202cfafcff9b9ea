"""Builds every NumPy array of the procedural face model (construction only).

`build_face_arrays(resolution)` returns a `FaceArrays` with the neutral mesh,
linear identity and expression bases, albedo logits and modes, eyeball
layout, hair/beard fields, region weights and the 68 iBUG landmark vertex ids.
Everything is a deterministic function of `resolution`; no data files.

Vertex layout: head skin grid (with eye and mouth slits), then the mouth
interior (a closed ellipsoid: dark cavity with teeth bands), then the right
eyeball (subject's right, -x) and the left eyeball (+x), each a closed
sphere whose front pole looks along +z.

Side convention: the face looks along +z toward the camera, +x is image
right, so the *subject's left* (ARKit's `...Left`) is at +x (image right) and
the subject's right at -x (image left). iBUG landmark 36 (outer corner of the
subject's right eye) is therefore at -x.
"""

import dataclasses
from typing import Dict, List, Tuple

import numpy as np

from tfface.rendering.procedural import grid as grid_lib
from tfface.rendering.procedural import sdf

# ARKit-style blendshape names, in parameter order.
EXPRESSION_NAMES = (
    "jawOpen", "jawLeft", "jawRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthPucker", "cheekPuff",
    "browInnerUp", "browDownLeft", "browDownRight", "browOuterUpLeft",
    "browOuterUpRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeWideLeft",
    "eyeWideRight", "eyeSquintLeft", "eyeSquintRight", "noseSneerLeft",
    "noseSneerRight",
)

# Identity modes: sculpted knobs first, then regional displacement modes.
DISPLACEMENT_IDENTITY_NAMES = ("eye_spacing", "eye_height", "eye_aperture",
                               "mouth_width", "mouth_height")
IDENTITY_NAMES = tuple(sdf.knob_modes().keys()) + DISPLACEMENT_IDENTITY_NAMES

ALBEDO_NAMES = ("skin_lightness", "skin_redness", "skin_yellowness",
                "lip_colour", "cheek_blush", "iris_hue", "iris_lightness",
                "periocular_darkness", "skin_mottling", "lower_face_tone")

# Eyelid opening in radians of elevation (upper, lower) and the rows of skin
# that the lids pull with them.
_LID_UP = np.deg2rad(6.5)
_LID_LOW = np.deg2rad(4.5)
_LID_TOP = np.deg2rad(17.0)
_LID_BOTTOM = np.deg2rad(14.0)

# Lid states (upper, lower) as multiples of the opening profile.
_LID_STATES = {
    "neutral": (_LID_UP, -_LID_LOW),
    "blink": (-0.55 * _LID_LOW, -0.55 * _LID_LOW),
    "wide": (1.5 * _LID_UP, -1.15 * _LID_LOW),
    "squint": (0.8 * _LID_UP, -0.35 * _LID_LOW),
    "aperture": (1.2 * _LID_UP, -1.2 * _LID_LOW),
}

_NEUTRAL_LIDS = {-1.0: _LID_STATES["neutral"], 1.0: _LID_STATES["neutral"]}

JAW_PIVOT = np.array([0.0, 0.1, -0.4])
JAW_ANGLE = 0.3  # radians at jawOpen = 1.

FILLER_RADII = np.array([0.19, 0.09, 0.17])
FILLER_OFFSET = np.array([0.0, 0.0, -0.07])
MOUTH_CENTRE = np.array([0.0, -0.375, 0.08])
MOUTH_RADII = np.array([0.28, 0.09, 0.18])

SKIN_RGB = np.array([0.78, 0.57, 0.47])


@dataclasses.dataclass
class FaceArrays:
  """Every constant of the procedural model (float32/int32 NumPy arrays)."""
  mean: np.ndarray  # [V, 3]
  triangles: np.ndarray  # [T, 3]
  identity_basis: np.ndarray  # [Ki, V, 3]
  expression_basis: np.ndarray  # [Ke, V, 3]
  albedo_logits: np.ndarray  # [V, 3]
  albedo_basis: np.ndarray  # [Ka, V, 3]
  normals: np.ndarray  # [V, 3] neutral vertex normals
  eye_slices: Tuple[Tuple[int, int], Tuple[int, int]]  # right, left
  eye_local: np.ndarray  # [2, Ne, 3] offsets from the eyeball centres
  eye_centres: np.ndarray  # [2, 3] neutral centres
  hair_height: np.ndarray  # [V] degrees above the default hairline
  hair_recede: np.ndarray  # [V] degrees from the centre of baldness
  hair_extend: np.ndarray  # [V] degrees it extends down at length 1
  hair_thickness: np.ndarray  # [V] relative volume profile
  beard_field: np.ndarray  # [V] in [0, 1]: 1 at the chin
  brow_weight: np.ndarray  # [V]
  static_regions: Dict[str, np.ndarray]  # name -> [V]
  landmarks: np.ndarray  # [68]
  num_skin: int
  mouth_slice: Tuple[int, int]


def _plateau(dist: np.ndarray, r0: float, r1: float) -> np.ndarray:
  """1 for dist <= r0, smooth (C2 Wendland) fall-off to exactly 0 at r1."""
  t = np.clip((dist - r0) / (r1 - r0), 0.0, 1.0)
  return (1.0 - t)**4 * (4.0 * t + 1.0)


def _smoothstep(x: np.ndarray) -> np.ndarray:
  x = np.clip(x, 0.0, 1.0)
  return x * x * (3.0 - 2.0 * x)


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
  """Area-weighted unit vertex normals `[V, 3]`."""
  v0, v1, v2 = (vertices[triangles[:, k]] for k in range(3))
  face = np.cross(v1 - v0, v2 - v0)
  normals = np.zeros_like(vertices)
  for k in range(3):
    np.add.at(normals, triangles[:, k], face)
  return normals / np.maximum(
      np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def _uv_sphere(rows: np.ndarray, num_columns: int):
  """Closed sphere around +z with polar angles `rows` (0 < θ < π).

  Returns unit points `[N, 3]`, polar angles `[N]` and triangles wound
  counter-clockwise seen from outside.
  """
  phi = np.linspace(0.0, 2 * np.pi, num_columns, endpoint=False)
  th, ph = np.meshgrid(rows, phi, indexing="ij")
  pts = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph),
                  np.cos(th)], axis=-1).reshape(-1, 3)
  pts = np.concatenate([[[0, 0, 1]], pts, [[0, 0, -1]]])
  theta = np.concatenate([[0.0], th.ravel(), [np.pi]])
  n_r, n_c = len(rows), num_columns
  idx = 1 + np.arange(n_r * n_c).reshape(n_r, n_c)
  last = 1 + n_r * n_c
  tris = []
  for j in range(n_c):
    j1 = (j + 1) % n_c
    tris.append((0, idx[0, j], idx[0, j1]))
    tris.append((last, idx[-1, j1], idx[-1, j]))
    for i in range(n_r - 1):
      a, b, c, d = idx[i, j], idx[i, j1], idx[i + 1, j1], idx[i + 1, j]
      tris.append((a, d, c))
      tris.append((a, c, b))
  tris = np.asarray(tris, np.int64)
  # Orient outward.
  v0, v1, v2 = (pts[tris[:, k]] for k in range(3))
  outward = np.einsum("ij,ij->i", np.cross(v1 - v0, v2 - v0), v0 + v1 + v2)
  flip = outward < 0
  tris[flip] = tris[flip][:, ::-1]
  return pts, theta, tris


class _Skin:
  """Head skin positions as a function of lid states and shape knobs."""

  def __init__(self, resolution: int):
    self.grid = grid_lib.build_grid(resolution)
    g = self.grid
    self.eye_sign = np.where(g.azimuth < 0, -1.0, 1.0)
    a_in, a_out = grid_lib.EYE_AZIMUTHS
    u = (np.abs(g.azimuth) - a_in) / (a_out - a_in)
    inside = (u > 0) & (u < 1)
    self.lid_profile = np.where(
        inside, np.sin(np.pi * np.clip(u, 0, 1))**1.1, 0.0)
    # Rows whose rays the lids pull: near the eye row, within the eye band.
    self.lid_region = (g.elevation <= _LID_TOP) & (g.elevation >=
                                                   -_LID_BOTTOM) & inside

  def lid_elevation(self, states: Dict[float, Tuple[float, float]]):
    """Remapped elevations `[V]` for per-eye lid states {sign: (up, low)}."""
    g = self.grid
    el = g.elevation.copy()
    for sign, (k_up, k_low) in states.items():
      sel = self.lid_region & (self.eye_sign == sign)
      p = self.lid_profile[sel]
      e = g.elevation[sel]
      upper = (e > 0) | ((e == 0) & (g.side[sel] >= 0))
      e_up = k_up * p
      e_low = k_low * p
      new_upper = e_up + e * (_LID_TOP - e_up) / _LID_TOP
      new_lower = e_low + e * (_LID_BOTTOM + e_low) / _LID_BOTTOM
      el[sel] = np.where(upper, new_upper, new_lower)
    return el

  def neutral(self) -> np.ndarray:
    """Neutral (open-eyed) skin positions `[V, 3]`; caches the ray radii."""
    d = grid_lib.directions(self.lid_elevation(_NEUTRAL_LIDS),
                            self.grid.azimuth)
    self._neutral_raw = sdf.cast_rays(grid_lib.ORIGIN, d, sdf.ShapeKnobs())
    r = sdf.surface_radius(grid_lib.ORIGIN, d, sdf.ShapeKnobs(),
                           guess=self._neutral_raw)
    self._neutral = self._tuck_lid_margins(
        grid_lib.ORIGIN + r[:, None] * d, None)
    return self._neutral

  def positions(self, states, subset):
    """Skin positions `[len(subset), 3]` of `subset` for lid `states`."""
    g = self.grid
    el = self.lid_elevation(states)[subset]
    d = grid_lib.directions(el, g.azimuth[subset])
    r = sdf.surface_radius(grid_lib.ORIGIN, d, sdf.ShapeKnobs())
    points = grid_lib.ORIGIN + r[:, None] * d
    return self._tuck_lid_margins(points, subset)

  def _tuck_lid_margins(self, points, subset):
    """Pulls the lid margins (slit rows) back onto the eyeball.

    Without this the lids would be zero-thickness flaps standing off the
    eyeball near the eye corners, and an oblique view would see their
    back sides through the opening.
    """
    g = self.grid
    rows = np.abs(g.row - g.eye_row)
    weight = np.where(rows == 0, 0.5, np.where(rows == 1, 0.15, 0.0))
    a_in, a_out = grid_lib.EYE_AZIMUTHS
    band = (np.abs(g.azimuth) >= a_in - 1e-9) & (np.abs(g.azimuth) <=
                                                  a_out + 1e-9)
    weight = weight * band * self.lid_profile
    if subset is not None:
      weight = weight[subset]
      sign = self.eye_sign[subset]
    else:
      sign = self.eye_sign
    centres = np.stack([sdf.eye_centre(s) for s in sign])
    offset = points - centres
    dist = np.linalg.norm(offset, axis=1)
    target = sdf.EYEBALL_RADIUS + 0.004
    pull = np.maximum(dist - target, 0.0) * weight
    return points - (pull / np.maximum(dist, 1e-9))[:, None] * offset


  def knob_displacement(self, knobs) -> np.ndarray:
    """First-order surface motion `[V, 3]` of the neutral skin for `knobs`.

    Each vertex moves along the field's gradient by the Newton step
    `-sdf_knobs(p) ∇sdf / |∇sdf|²` evaluated at its point on the sculpted
    surface, so grazing rays cannot amplify the change. Vertices that the
    eye sockets pulled onto the lid domes keep still (the domes do not
    depend on the knobs).
    """
    base = sdf.ShapeKnobs()
    d = grid_lib.directions(self.lid_elevation(_NEUTRAL_LIDS),
                            self.grid.azimuth)
    raw = grid_lib.ORIGIN + self._neutral_raw[:, None] * d
    h = 1e-3
    grad = np.stack([
        (sdf.head_sdf(raw + h * e, base) - sdf.head_sdf(raw - h * e, base)) /
        (2 * h) for e in np.eye(3)
    ], axis=1)
    change = sdf.head_sdf(raw, knobs) - sdf.head_sdf(raw, base)
    step = -change[:, None] * grad / np.maximum(
        np.sum(grad * grad, axis=1, keepdims=True), 1e-6)
    length = np.linalg.norm(step, axis=1, keepdims=True)
    step = step * np.minimum(1.0, 0.12 / np.maximum(length, 1e-12))
    final = np.linalg.norm(self._neutral - grid_lib.ORIGIN, axis=1)
    keep = 1.0 - _smoothstep(np.abs(final - self._neutral_raw) / 0.03)
    return step * keep[:, None]


def _rotation_x(angle: float) -> np.ndarray:
  c, s = np.cos(angle), np.sin(angle)
  return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def build_face_arrays(resolution: int) -> FaceArrays:
  """Builds the whole procedural model at `resolution` (int >= 1)."""
  skin = _Skin(resolution)
  g = skin.grid
  neutral_skin = skin.neutral()
  num_skin = len(neutral_skin)

  # ---- Mouth interior: a closed ellipsoid behind the lips.
  # Rows as heights (-cos of the polar angle), with an equator row and
  # rows close to it: the gap between the teeth stays dark when stretched.
  heights = np.array([0.95, 0.8, 0.6, 0.45, 0.3, 0.15, 0.05, 0.0, -0.05,
                      -0.15, -0.3, -0.45, -0.6, -0.8, -0.95])
  th = np.sort(np.arccos(-heights))
  unit, _, mouth_tris = _uv_sphere(th, 12 + 6 * resolution)
  # Rotate the sphere's +z pole to -y so that rows are horizontal bands.
  rot = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])
  unit_m = unit @ rot.T
  mouth = MOUTH_CENTRE + unit_m * MOUTH_RADII

  # ---- Eyeballs.
  n_eye_rows = 8 + 4 * resolution
  eye_th = np.concatenate([
      np.linspace(0, np.deg2rad(36), n_eye_rows // 2 + 1)[1:],
      np.linspace(np.deg2rad(36), np.pi, n_eye_rows // 2 + 2)[1:-1]
  ])
  eye_unit, eye_theta, eye_tris = _uv_sphere(eye_th, 12 + 6 * resolution)
  eye_local = eye_unit * sdf.EYEBALL_RADIUS
  centres = np.stack([sdf.eye_centre(-1.0), sdf.eye_centre(1.0)])

  # Eye-socket fillers: static flattened ellipsoids behind the eyeballs,
  # wider than them, so the eye corners show conjunctiva, not the skull.
  fill_unit, _, fill_tris = _uv_sphere(np.linspace(0, np.pi, 10)[1:-1],
                                       12 + 6 * resolution)
  fillers = [c + FILLER_OFFSET + fill_unit * FILLER_RADII for c in centres]

  offsets = np.cumsum([0, num_skin, len(mouth), len(fill_unit),
                       len(fill_unit), len(eye_unit)])
  mouth_slice = (int(offsets[1]), int(offsets[2]))
  filler_slice = (int(offsets[2]), int(offsets[4]))
  eye_slices = ((int(offsets[4]), int(offsets[5])),
                (int(offsets[5]), int(offsets[5] + len(eye_unit))))
  mean = np.concatenate([neutral_skin, mouth, fillers[0], fillers[1],
                         centres[0] + eye_local, centres[1] + eye_local])
  triangles = np.concatenate([
      g.triangles, mouth_tris + offsets[1], fill_tris + offsets[2],
      fill_tris + offsets[3], eye_tris + offsets[4], eye_tris + offsets[5]
  ]).astype(np.int32)
  num_v = len(mean)
  normals = vertex_normals(mean, triangles)
  is_skin = np.arange(num_v) < num_skin
  is_mouth = (np.arange(num_v) >= mouth_slice[0]) & (np.arange(num_v) <
                                                      mouth_slice[1])
  is_eye = np.arange(num_v) >= eye_slices[0][0]
  eye_side = np.zeros(num_v)
  eye_side[eye_slices[0][0]:eye_slices[0][1]] = -1.0
  eye_side[eye_slices[1][0]:eye_slices[1][1]] = 1.0

  # Positions used for regional fields: eyeballs count at their centres so
  # that every displacement field moves them rigidly.
  anchor = mean.copy()
  anchor[eye_side == -1] = centres[0]
  anchor[eye_side == 1] = centres[1]

  def pad_skin(delta_skin):
    out = np.zeros_like(mean)
    out[:num_skin] = delta_skin
    return out

  def lid_delta(states):
    sel = np.nonzero(skin.lid_region)[0]
    moved = neutral_skin.copy()
    moved[sel] = skin.positions(states, sel)
    return pad_skin(moved - neutral_skin)

  # ---- Jaw weights.
  az = g.azimuth
  el = g.elevation
  tau = np.minimum(1.2 * np.maximum(np.abs(az) - grid_lib.MOUTH_AZIMUTH, 0.0),
                   np.deg2rad(15.0))
  below = (el < grid_lib.MOUTH_ELEVATION) | (
      (el == grid_lib.MOUTH_ELEVATION) & (g.side < 0))
  above = (el > grid_lib.MOUTH_ELEVATION) | (
      (el == grid_lib.MOUTH_ELEVATION) & (g.side > 0))
  de = grid_lib.MOUTH_ELEVATION - el  # positive below the mouth row
  soft = np.where(tau > 1e-9, _smoothstep(0.5 + 0.5 * de / np.maximum(tau,
                                                                       1e-9)),
                  np.where(below, 1.0, np.where(above, 0.0, 0.5)))
  fade_az = 1.0 - _smoothstep((np.abs(az) - np.deg2rad(45)) / np.deg2rad(70))
  y_skin = neutral_skin[:, 1]
  fade_neck = _smoothstep((y_skin + 1.15) / 0.3)
  jaw_skin = soft * fade_az * fade_neck
  # The lower teeth lag the lower lip a little so that they show.
  jaw_mouth = 0.85 * _smoothstep(0.5 + (MOUTH_CENTRE[1] - mouth[:, 1]) / 0.01)
  jaw_w = np.zeros(num_v)
  jaw_w[:num_skin] = jaw_skin
  jaw_w[mouth_slice[0]:mouth_slice[1]] = jaw_mouth

  # ---- Expression basis.
  corner_idx = {}
  for sign in (-1.0, 1.0):
    j = int(np.argmin(np.abs(g.columns - sign * grid_lib.MOUTH_AZIMUTH)))
    corner_idx[sign] = 1 + g.mouth_row * len(g.columns) + j
  def dist_to(point):
    return np.linalg.norm(anchor - np.asarray(point), axis=1)

  front_skin = np.nonzero(is_skin & (normals[:, 2] > 0.3))[0]

  def on_skin(x, y):
    """The front-facing skin vertex nearest to (x, y) in the frontal view."""
    d = np.hypot(mean[front_skin, 0] - x, mean[front_skin, 1] - y)
    return mean[front_skin[np.argmin(d)]]

  expr = {}
  rel = mean - JAW_PIVOT
  rotated = rel @ _rotation_x(JAW_ANGLE).T
  # The condyles also glide forward: keep less of the backward motion.
  jaw_delta = (rotated - rel) * np.array([1.0, 1.0, 0.4]) + np.array(
      [0.0, -0.04, 0.0])
  expr["jawOpen"] = jaw_w[:, None] * jaw_delta
  for name, sign in (("Left", 1.0), ("Right", -1.0)):
    expr["jaw" + name] = jaw_w[:, None] * np.array([0.05 * sign, 0.0, 0.0])
    corner = mean[corner_idx[sign]]
    w_corner = _plateau(dist_to(corner), 0.03, 0.2) * is_skin
    cheek_c = corner + np.array([0.08 * sign, 0.17, -0.02])
    w_cheek = _plateau(dist_to(cheek_c), 0.02, 0.16) * is_skin
    # Corners out and up by ~2.3 and ~2.8 px at 64 px (zoom 1), cheeks up
    # and forward: a smile that reads at the demo's resolution. (The first
    # version moved the corners 1.65 px and changed 0.16% of the pixel
    # values, 10x less than jawOpen: generators never learned it.)
    expr["mouthSmile" + name] = (
        w_corner[:, None] * np.array([0.07 * sign, 0.085, -0.035]) +
        w_cheek[:, None] * np.array([0.0, 0.04, 0.03]))
    expr["mouthFrown" + name] = w_corner[:, None] * np.array(
        [0.005 * sign, -0.045, -0.01])
    expr["mouthStretch" + name] = w_corner[:, None] * np.array(
        [0.045 * sign, -0.02, -0.02])
  w_lips = _plateau(dist_to(MOUTH_CENTRE + np.array([0, 0, 0.22])), 0.12,
                    0.3) * (is_skin | is_mouth)
  pucker = np.stack([-0.35 * mean[:, 0], np.zeros(num_v),
                     0.06 * np.ones(num_v)], axis=1)
  expr["mouthPucker"] = w_lips[:, None] * pucker
  puff = np.zeros_like(mean)
  for sign in (-1.0, 1.0):
    w = _plateau(dist_to(on_skin(0.34 * sign, -0.25)), 0.05, 0.24) * is_skin
    puff += w[:, None] * normals * 0.06
  expr["cheekPuff"] = puff
  inner = np.zeros(num_v)
  for sign in (-1.0, 1.0):
    inner = np.maximum(
        inner, _plateau(dist_to(on_skin(0.13 * sign, 0.47)), 0.04, 0.17))
  expr["browInnerUp"] = (inner * is_skin)[:, None] * np.array(
      [0.0, 0.05, 0.005])
  for name, sign in (("Left", 1.0), ("Right", -1.0)):
    w = _plateau(dist_to(on_skin(0.3 * sign, 0.48)), 0.08, 0.21) * is_skin
    expr["browDown" + name] = w[:, None] * np.array([-0.012 * sign, -0.04,
                                                     0.0])
    w = _plateau(dist_to(on_skin(0.45 * sign, 0.46)), 0.04, 0.18) * is_skin
    expr["browOuterUp" + name] = w[:, None] * np.array([0.0, 0.045, 0.0])
  for name, sign in (("Left", 1.0), ("Right", -1.0)):
    for state, key in (("blink", "eyeBlink"), ("wide", "eyeWide"),
                       ("squint", "eyeSquint")):
      states = dict(_NEUTRAL_LIDS)
      states[sign] = _LID_STATES[state]
      expr[key + name] = lid_delta(states)
    # Squint also lifts the cheek under the eye.
    w = _plateau(dist_to(on_skin(0.32 * sign, 0.1)), 0.03, 0.14) * is_skin
    expr["eyeSquint" + name] += w[:, None] * np.array([0.0, 0.02, 0.005])
    w = _plateau(dist_to(on_skin(0.105 * sign, -0.09)), 0.03, 0.1) * is_skin
    expr["noseSneer" + name] = w[:, None] * np.array([0.0, 0.03, 0.004])
  expression_basis = np.stack([expr[n] for n in EXPRESSION_NAMES])

  # ---- Identity basis: sculpted knobs (re-cast), then displacement modes.
  modes = []
  for knobs in sdf.knob_modes().values():
    modes.append(pad_skin(skin.knob_displacement(knobs)))
  w_eyes = np.zeros(num_v)
  for sign in (-1.0, 1.0):
    w_eyes += _plateau(dist_to(sdf.eye_centre(sign)), 0.16, 0.32) * (
        np.sign(anchor[:, 0]) == sign)
  side_x = np.sign(anchor[:, 0])
  modes.append(w_eyes[:, None] * np.stack(
      [0.02 * side_x, np.zeros(num_v), np.zeros(num_v)], axis=1))
  modes.append(w_eyes[:, None] * np.array([0.0, 0.02, 0.0]))
  modes.append(lid_delta({-1.0: _LID_STATES["aperture"],
                          1.0: _LID_STATES["aperture"]}))
  w_mouth = _plateau(dist_to(MOUTH_CENTRE + np.array([0, 0, 0.2])), 0.2,
                     0.38) * (is_skin | is_mouth)
  modes.append(w_mouth[:, None] * np.stack(
      [0.1 * mean[:, 0], np.zeros(num_v), np.zeros(num_v)], axis=1))
  modes.append(w_mouth[:, None] * np.array([0.0, -0.02, 0.0]))
  identity_basis = np.stack(modes)

  # ---- Regions and albedo.
  regions, fields = _regions_and_fields(g, mean, normals, num_skin,
                                        mouth_slice, eye_slices, eye_theta,
                                        unit_m, filler_slice)
  albedo_logits, albedo_basis = _albedo(mean, num_skin, regions, fields,
                                        eye_slices, eye_theta)
  landmarks = _landmarks(g, mean, normals, num_skin)

  f32 = lambda a: np.ascontiguousarray(a, np.float32)
  return FaceArrays(
      mean=f32(mean),
      triangles=triangles,
      identity_basis=f32(identity_basis),
      expression_basis=f32(expression_basis),
      albedo_logits=f32(albedo_logits),
      albedo_basis=f32(albedo_basis),
      normals=f32(normals),
      eye_slices=eye_slices,
      eye_local=f32(np.stack([eye_local, eye_local])),
      eye_centres=f32(centres),
      hair_height=f32(fields["hair_height"]),
      hair_recede=f32(fields["hair_recede"]),
      hair_extend=f32(fields["hair_extend"]),
      hair_thickness=f32(fields["hair_thickness"]),
      beard_field=f32(fields["beard"]),
      brow_weight=f32(regions["brows"]),
      static_regions={k: f32(v) for k, v in regions.items()},
      landmarks=landmarks.astype(np.int32),
      num_skin=num_skin,
      mouth_slice=mouth_slice)


def _interp_symmetric(x_deg, xp, fp):
  """Piecewise-linear profile of |x| (left/right symmetric)."""
  return np.interp(np.abs(x_deg), xp, fp)


def _regions_and_fields(g, mean, normals, num_skin, mouth_slice, eye_slices,
                        eye_theta, mouth_unit, filler_slice):
  """Static region weights `[V]` and the hair/beard scalar fields."""
  num_v = len(mean)
  x, y, z = mean[:, 0], mean[:, 1], mean[:, 2]
  is_skin = np.arange(num_v) < num_skin
  el = np.zeros(num_v)
  az = np.zeros(num_v)
  el[:num_skin] = np.rad2deg(g.elevation)
  az[:num_skin] = np.rad2deg(g.azimuth)

  # Hair: degrees of elevation above a hairline that depends on azimuth.
  hairline = _interp_symmetric(az, [0, 25, 50, 62, 72, 95, 120, 150, 180],
                              [45, 43, 34, 22, 2, -2, -12, -32, -42])
  # Ears stay bare: push them far below the hairline.
  ear = np.zeros(num_v)
  for sign in (-1.0, 1.0):
    ear = np.maximum(ear, _plateau(np.linalg.norm(
        (mean - [0.74 * sign, 0.12, -0.45]) / [0.12, 0.27, 0.17], axis=1),
                                   0.6, 1.0))
  hair_height = np.where(is_skin, el - hairline - 60.0 * ear, -90.0)
  # Baldness grows as a disc around a point on the front of the crown.
  centre = grid_lib.directions(np.deg2rad(70.0), 0.0)
  dirs = grid_lib.directions(np.deg2rad(el), np.deg2rad(az))
  recede = np.rad2deg(np.arccos(np.clip(dirs @ centre, -1.0, 1.0)))
  extend = 58.0 * _smoothstep((np.abs(az) - 55.0) / 60.0)
  thickness = 0.4 + 0.6 * _smoothstep((el - 10.0) / 50.0)

  # Lips: bands above/below the mouth row between the mouth corners.
  el_m = np.rad2deg(grid_lib.MOUTH_ELEVATION)
  a_m = np.rad2deg(grid_lib.MOUTH_AZIMUTH)
  t = np.clip(np.abs(az) / a_m, 0, 1.2)
  up_h = 3.8 * (1 - t**2.5) + 0.7 * np.exp(-((np.abs(az) - 4.0) / 3.0)**2)
  low_h = 5.0 * (1 - t**2)
  d_el = el - el_m
  lips = np.where(d_el >= 0, _smoothstep((up_h - d_el) / 1.2 + 0.5),
                  _smoothstep((low_h + d_el) / 1.2 + 0.5))
  lips = lips * _smoothstep((1.08 - t) / 0.15) * is_skin

  # Brows: arched bands above the eyes (frontal x, y).
  ax = np.abs(x)
  arch_y = 0.455 + 0.045 * np.exp(-((ax - 0.3) / 0.16)**2) - 0.06 * np.maximum(
      ax - 0.45, 0)
  half = 0.032 - 0.016 * _smoothstep((ax - 0.12) / 0.4)
  brows = _smoothstep((half - np.abs(y - arch_y)) / 0.012 + 0.5)
  brows *= _smoothstep((ax - 0.07) / 0.04) * _smoothstep((0.56 - ax) / 0.05)
  brows *= (normals[:, 2] > 0.2) * is_skin

  # Beard: 1 at the chin, falling toward a beard line that rises from under
  # the lower lip over the cheeks to the sideburns; plus a moustache.
  line = np.interp(ax, [0.0, 0.15, 0.3, 0.45, 0.56, 0.7],
                   [-0.47, -0.42, -0.22, -0.08, 0.18, 0.3])
  depth = (line - y) / 0.35
  chin_dist = np.hypot(x / 0.5, (y + 0.8) / 0.5)
  beard = np.clip(0.6 * np.clip(depth, 0, 1) + 0.4 * (1.0 - chin_dist), 0, 1)
  beard = beard * _smoothstep(depth / 0.15)
  moustache = 0.5 * _plateau(np.hypot(x / 1.6, (y + 0.275) / 0.8), 0.02, 0.1)
  beard = np.maximum(beard, moustache * (z > 0.1))
  beard = beard * (1 - lips) * (z > -0.45) * is_skin
  beard *= _smoothstep((y + 1.1) / 0.2)
  beard *= 1.0 - _smoothstep((el - np.rad2deg(grid_lib.MOUTH_ELEVATION) -
                              2.0) / 3.0) * (np.abs(az) < 30) * (y > -0.3) * (
                                  moustache < 0.05)

  regions = {}
  eyes = np.zeros(num_v)
  for k, (a, b) in enumerate(eye_slices):
    eyes[a:b] = 1.0
    iris = np.zeros(num_v)
    iris[a:b] = _smoothstep((np.deg2rad(35) - eye_theta) / np.deg2rad(2) +
                            0.5)
    regions[("iris_right", "iris_left")[k]] = iris
  mouth = np.zeros(num_v)
  mouth[mouth_slice[0]:mouth_slice[1]] = 1.0
  teeth = np.zeros(num_v)
  my = mouth_unit[:, 1]
  front = mouth_unit[:, 2] > 0.35
  teeth_band = ((my > 0.04) & (my < 0.6)) | ((my < -0.04) & (my > -0.45))
  teeth[mouth_slice[0]:mouth_slice[1]] = teeth_band & front
  regions["eyes"] = eyes
  socket = np.zeros(num_v)
  socket[filler_slice[0]:filler_slice[1]] = 1.0
  regions["eye_sockets"] = socket
  regions["mouth"] = mouth
  regions["teeth"] = teeth
  regions["lips"] = lips.astype(np.float64)
  regions["brows"] = brows.astype(np.float64)
  face = is_skin * _smoothstep((normals[:, 2] + 0.1) / 0.4) * (
      hair_height < 0) * (y > -1.0)
  regions["face"] = face.astype(np.float64)
  fields = dict(hair_height=hair_height, hair_recede=recede,
                hair_extend=extend, hair_thickness=thickness, beard=beard)
  return regions, fields


def _albedo(mean, num_skin, regions, fields, eye_slices, eye_theta):
  """Base albedo logits `[V, 3]` and albedo modes `[Ka, V, 3]` (logits)."""
  num_v = len(mean)
  x, y, z = mean[:, 0], mean[:, 1], mean[:, 2]
  logit = lambda c: np.log(c / (1 - c))
  rgb = np.tile(SKIN_RGB, (num_v, 1))
  lips = regions["lips"][:, None]
  rgb = rgb * (1 - lips) + lips * np.array([0.68, 0.40, 0.38])
  mouth = regions["mouth"][:, None]
  teeth = regions["teeth"][:, None]
  cavity = np.array([0.25, 0.06, 0.07])
  socket = regions["eye_sockets"][:, None]
  rgb = rgb * (1 - socket) + socket * np.array([0.75, 0.5, 0.48])
  rgb = np.where(mouth > 0, cavity * (1 - teeth) + teeth * np.array(
      [0.88, 0.85, 0.78]), rgb)
  is_skin = np.arange(num_v) < num_skin
  iris_any = np.zeros(num_v)
  pupil = np.zeros(num_v)
  limbus = np.zeros(num_v)
  for a, b in eye_slices:
    th = np.rad2deg(eye_theta)
    iris_any[a:b] = _smoothstep((35.0 - th) / 2.0 + 0.5)
    pupil[a:b] = _smoothstep((14.0 - th) / 2.0 + 0.5)
    limbus[a:b] = np.exp(-((th - 33.0) / 3.0)**2)
    is_eye = np.zeros(num_v, bool)
    is_eye[a:b] = True
    sclera = np.array([0.9, 0.88, 0.84])
    rgb[is_eye] = sclera
  iris_rgb = np.array([0.38, 0.24, 0.13])
  rgb = rgb * (1 - iris_any[:, None]) + iris_any[:, None] * iris_rgb
  rgb = rgb * (1 - 0.6 * limbus[:, None])
  rgb = rgb * (1 - pupil[:, None]) + pupil[:, None] * 0.03
  rgb = np.clip(rgb, 0.02, 0.98)
  base = logit(rgb)

  skin_w = is_skin * (1 - regions["lips"])
  skin = skin_w[:, None]
  lipw = regions["lips"][:, None]
  iris_only = (iris_any * (1 - pupil))[:, None]
  rng = np.random.default_rng(12345)
  mottle = rng.normal(size=num_v)
  # Smooth the noise a little over the grid neighbourhood via its position.
  mottle = (mottle + np.roll(mottle, 1) + np.roll(mottle, -1)) / 3.0
  cheek = np.zeros(num_v)
  periocular = np.zeros(num_v)
  for sign in (-1.0, 1.0):
    cheek += _plateau(np.linalg.norm(mean - [0.38 * sign, -0.1, 0.2], axis=1),
                      0.03, 0.22)
    periocular += _plateau(
        np.linalg.norm(mean - [0.31 * sign, 0.22, 0.2], axis=1), 0.04, 0.14)
  lower = _smoothstep((-0.2 - y) / 0.5)
  modes = [
      (skin + 0.8 * lipw) * np.array([0.6, 0.6, 0.6]),
      skin * np.array([0.15, -0.06, -0.05]),
      skin * np.array([0.06, 0.05, -0.15]),
      lipw * np.array([0.3, -0.1, -0.04]),
      (cheek * skin_w)[:, None] * np.array([0.2, -0.05, -0.03]),
      iris_only * np.array([-0.6, 0.1, 0.9]),
      iris_only * np.array([0.5, 0.5, 0.5]),
      (periocular * skin_w)[:, None] * np.array([-0.2, -0.22, -0.2]),
      (mottle * skin_w)[:, None] * np.array([0.05, 0.06, 0.06]),
      (lower * skin_w)[:, None] * np.array([-0.1, -0.08, -0.03]),
  ]
  return base, np.stack(modes)


def _nearest(mean, candidates, target_xy):
  idx = np.nonzero(candidates)[0]
  d = np.linalg.norm(mean[idx, :2] - np.asarray(target_xy), axis=1)
  return int(idx[np.argmin(d)])


def _landmarks(g, mean, normals, num_skin) -> np.ndarray:
  """68 iBUG landmark vertex ids (see the module docstring for sides)."""
  num_cols = len(g.columns)
  lm = np.zeros(68, np.int64)

  def gid(row, col):
    return 1 + row * num_cols + col

  lower_of = {}
  for v in np.nonzero(g.side < 0)[0]:
    lower_of[(g.row[v], g.column[v])] = v

  def col_of(azimuth):
    return int(np.argmin(np.abs(g.columns - azimuth)))

  def slit_points(row, a0, a1, fractions, lower):
    out = []
    for f in fractions:
      c = col_of(a0 + f * (a1 - a0))
      out.append(lower_of[(row, c)] if lower else gid(row, c))
    return out

  a_in, a_out = grid_lib.EYE_AZIMUTHS
  er = g.eye_row
  # Right eye (image left): 36 outer, 37/38 upper, 39 inner, 40/41 lower.
  lm[36] = gid(er, col_of(-a_out))
  lm[37:39] = slit_points(er, -a_out, -a_in, (1 / 3, 2 / 3), False)
  lm[39] = gid(er, col_of(-a_in))
  lm[40:42] = slit_points(er, -a_out, -a_in, (2 / 3, 1 / 3), True)
  # Left eye (image right): 42 inner, 43/44 upper, 45 outer, 46/47 lower.
  lm[42] = gid(er, col_of(a_in))
  lm[43:45] = slit_points(er, a_in, a_out, (1 / 3, 2 / 3), False)
  lm[45] = gid(er, col_of(a_out))
  lm[46:48] = slit_points(er, a_in, a_out, (2 / 3, 1 / 3), True)
  # Inner lips 60-67.
  mr = g.mouth_row
  am = grid_lib.MOUTH_AZIMUTH
  lm[60] = gid(mr, col_of(-am))
  lm[61:64] = slit_points(mr, -am, am, (0.25, 0.5, 0.75), False)
  lm[64] = gid(mr, col_of(am))
  lm[65:68] = slit_points(mr, -am, am, (0.75, 0.5, 0.25), True)
  # Outer lips 48-59 on the lip borders.
  c48 = col_of(-am) - 1
  lm[48] = gid(mr, c48)
  lm[54] = gid(mr, col_of(am) + 1)
  el_m = grid_lib.MOUTH_ELEVATION

  def row_of(elevation):
    return int(np.argmin(np.abs(g.rows - elevation)))

  up_row = row_of(el_m + np.deg2rad(4.5))
  low_row = row_of(el_m - np.deg2rad(5.5))
  for k, f in zip(range(49, 54), (-0.6, -0.3, 0.0, 0.3, 0.6)):
    lm[k] = gid(up_row, col_of(f * am))
  for k, f in zip(range(55, 60), (0.6, 0.3, 0.0, -0.3, -0.6)):
    lm[k] = gid(low_row, col_of(f * am))

  skin = np.zeros(len(mean), bool)
  skin[:num_skin] = True
  front = skin & (normals[:, 2] > 0.25)
  midline = skin & (np.abs(mean[:, 0]) < 1e-6) & (normals[:, 2] > 0)
  # Nose: 27 nasion (between the eyes), 28-29 bridge, 30 tip.
  lm[27] = gid(er, col_of(0.0))
  mid_idx = np.nonzero(midline & (mean[:, 1] > -0.3) & (mean[:, 1] < 0.3))[0]
  tip = int(mid_idx[np.argmax(mean[mid_idx, 2])])
  lm[30] = tip
  y27, yt = mean[lm[27], 1], mean[tip, 1]
  for k, f in ((28, 1 / 3), (29, 2 / 3)):
    lm[k] = _nearest(mean, midline, (0.0, y27 + f * (yt - y27)))
  base_y = yt - 0.085
  for k, xx in zip(range(31, 36), (-0.095, -0.05, 0.0, 0.05, 0.095)):
    yy = base_y - (0.015 if xx == 0 else 0.0) + 0.02 * (abs(xx) > 0.07)
    lm[k] = _nearest(mean, front, (xx, yy))
  # Brows 17-21 (subject's right, image left, outer to inner), 22-26.
  for k, xx in zip(range(17, 27), (-0.52, -0.43, -0.33, -0.23, -0.13, 0.13,
                                   0.23, 0.33, 0.43, 0.52)):
    ax = abs(xx)
    yy = 0.455 + 0.045 * np.exp(-((ax - 0.3) / 0.16)**2) - 0.06 * max(
        ax - 0.45, 0)
    lm[k] = _nearest(mean, front & (mean[:, 2] > 0.0), (xx, yy))
  # Jaw line 0-16, from the subject's right ear (image left) to the left.
  jaw_front = skin & (normals[:, 2] > 0.05)
  for k in range(17):
    t = np.pi * (k / 16.0 - 0.5)
    xx = 0.64 * np.sin(t)
    yy = 0.18 - 1.02 * np.cos(t)
    lm[k] = _nearest(mean, jaw_front, (xx, yy))
  return lm
