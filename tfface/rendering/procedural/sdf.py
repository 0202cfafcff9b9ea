"""Signed-distance sculpting of the procedural head (NumPy, construction only).

The head surface is the zero level set of a smooth signed distance field
built from ellipsoids, capsules and spheres combined with polynomial smooth
minimum/maximum operations. The mesh builder casts rays from a point inside
the head through this field, so every shape knob (face width, nose length,
...) changes vertex positions smoothly and the mesh keeps its topology.

Units are Deep3DFaceRecon's BFM units (decimetres) in model space: +x toward
image right (the subject's left), +y up, the face looks toward +z.
"""

import dataclasses
from typing import Dict

import numpy as np

# Eyeball radius (decimetres) and the radius of the eyelid dome around it.
EYEBALL_RADIUS = 0.115
LID_RADIUS = 0.125


@dataclasses.dataclass(frozen=True)
class ShapeKnobs:
  """Interpretable shape controls of the sculpted head (1.0/0.0 = neutral)."""
  head_width: float = 1.0
  face_length: float = 1.0
  jaw_width: float = 1.0
  chin_forward: float = 0.0
  chin_size: float = 1.0
  cheekbones: float = 1.0
  cheek_fullness: float = 1.0
  forehead_slope: float = 0.0
  brow_ridge: float = 1.0
  nose_length: float = 0.0
  nose_width: float = 1.0
  nose_projection: float = 0.0
  nose_bridge: float = 1.0
  nose_tip: float = 1.0
  upper_lip: float = 1.0
  lower_lip: float = 1.0
  cranium_height: float = 1.0
  face_depth: float = 0.0
  jaw_angle: float = 1.0
  neck_width: float = 1.0

  def replace(self, **changes) -> "ShapeKnobs":
    return dataclasses.replace(self, **changes)


def eye_centre(side: float) -> np.ndarray:
  """Centre of the eyeball on `side` (+1 subject's left = +x, -1 right)."""
  return np.array([0.31 * side, 0.29, 0.13])


def _ellipsoid(p, centre, radii) -> np.ndarray:
  """Approximate signed distance to an axis-aligned ellipsoid, `[N]`.

  `p` is a tuple `(x, y, z)` of `[N]` coordinate arrays.
  """
  x, y, z = p
  q0 = (x - centre[0]) / radii[0]
  q1 = (y - centre[1]) / radii[1]
  q2 = (z - centre[2]) / radii[2]
  k0 = np.sqrt(q0 * q0 + q1 * q1 + q2 * q2)
  k1 = np.sqrt((q0 / radii[0])**2 + (q1 / radii[1])**2 + (q2 / radii[2])**2)
  return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def _sphere(p, centre, radius):
  x, y, z = p
  return np.sqrt((x - centre[0])**2 + (y - centre[1])**2 +
                 (z - centre[2])**2) - radius


def _round_cone(p, a, b, ra, rb):
  """Capsule from `a` (radius `ra`) to `b` (radius `rb`), approximate."""
  x, y, z = p
  a = np.asarray(a, np.float64)
  ab = np.asarray(b, np.float64) - a
  px, py, pz = x - a[0], y - a[1], z - a[2]
  t = np.clip((px * ab[0] + py * ab[1] + pz * ab[2]) / (ab @ ab), 0.0, 1.0)
  dx, dy, dz = px - t * ab[0], py - t * ab[1], pz - t * ab[2]
  return np.sqrt(dx * dx + dy * dy + dz * dz) - (ra + (rb - ra) * t)


def _capped_cylinder_y(p, centre, radius_x, radius_z, half_height):
  x, y, z = p
  r = min(radius_x, radius_z)
  radial = np.sqrt(((x - centre[0]) / radius_x)**2 +
                   ((z - centre[2]) / radius_z)**2) * r
  dr = radial - r
  dy = np.abs(y - centre[1]) - half_height
  outside = np.sqrt(np.maximum(dr, 0)**2 + np.maximum(dy, 0)**2)
  return outside + np.minimum(np.maximum(dr, dy), 0.0)


def smin(a, b, k):
  """Polynomial smooth minimum (union) with blend radius `k`."""
  h = np.maximum(k - np.abs(a - b), 0.0) / k
  return np.minimum(a, b) - h * h * k * 0.25


def smax(a, b, k):
  """Polynomial smooth maximum (intersection/subtraction)."""
  return -smin(-a, -b, k)


def head_sdf(p: np.ndarray, knobs: ShapeKnobs) -> np.ndarray:
  """Signed distance (negative inside) of the sculpted head at `p` `[N, 3]`."""
  p = (p[:, 0], p[:, 1], p[:, 2])
  k = knobs
  w = k.head_width
  fl = k.face_length
  # Skull and face masses.
  cranium = _ellipsoid(p, (0.0, 0.5 + 0.05 * (k.cranium_height - 1), -0.52),
                       (0.74 * w, 0.95 * k.cranium_height, 0.9))
  face = _ellipsoid(p, (0.0, 0.0, -0.3 + 0.3 * k.face_depth),
                    (0.66 * w, 0.82 * fl, 0.62))
  d = smin(cranium, face, 0.3)
  # Forehead: a flattened front plate whose tilt is a knob.
  forehead = _ellipsoid(p, (0.0, 0.72, -0.18 + 0.12 * k.forehead_slope),
                        (0.58 * w, 0.42, 0.45))
  d = smin(d, forehead, 0.2)
  # Jaw and chin.
  jaw = _ellipsoid(p, (0.0, -0.45 * fl, -0.34),
                   (0.46 * k.jaw_width * w, 0.36 * fl, 0.5))
  d = smin(d, jaw, 0.2)
  gonial = _ellipsoid(p, (0.0, -0.52 * fl - 0.15 * (k.jaw_angle - 1.0),
                          -0.42 - 0.1 * (k.jaw_angle - 1.0)),
                      (0.5 * k.jaw_width * w, 0.22, 0.28))
  d = smin(d, gonial, 0.15)
  chin = _ellipsoid(p, (0.0, -0.72 * fl, 0.14 + 0.06 * k.chin_forward),
                    (0.15 * k.chin_size, 0.1 * k.chin_size, 0.1))
  d = smin(d, chin, 0.14)
  # Neck.
  neck = _capped_cylinder_y(p, (0.0, -1.25, -0.5), 0.44 * k.neck_width,
                            0.42 * k.neck_width, 0.6)
  d = smin(d, neck, 0.2)
  # Cheeks.
  for s in (-1.0, 1.0):
    cheekbone = _ellipsoid(p, (0.45 * s * w, 0.08, 0.0),
                           (0.16, 0.09, 0.14 * k.cheekbones))
    d = smin(d, cheekbone, 0.12)
    cheek = _ellipsoid(p, (0.33 * s * w, 0.0, 0.04),
                       (0.18, 0.16, 0.15 * k.cheek_fullness))
    d = smin(d, cheek, 0.15)
  # Ears: flattened lobes on the sides of the head.
  for s in (-1.0, 1.0):
    ear = _ellipsoid(p, (0.72 * s * w, 0.12, -0.45), (0.07, 0.25, 0.14))
    d = smin(d, ear, 0.05)
  # Brow ridge.
  brow = _ellipsoid(p, (0.0, 0.46, 0.14 + 0.02 * k.forehead_slope),
                    (0.52 * w, 0.09, 0.13 * k.brow_ridge))
  d = smin(d, brow, 0.1)
  # Nose.
  nl = k.nose_length
  npj = k.nose_projection
  tip = np.array([0.0, -0.07 - 0.06 * nl, 0.45 + 0.05 * npj])
  bridge = _round_cone(p, (0.0, 0.3, 0.19), tip + np.array([0, 0.05, -0.02]),
                       0.03 * k.nose_bridge, 0.048 * k.nose_bridge)
  d = smin(d, bridge, 0.07)
  d = smin(d, _sphere(p, tip, 0.07 * k.nose_tip), 0.07)
  for s in (-1.0, 1.0):
    ala = _ellipsoid(p, (0.08 * s * k.nose_width, tip[1] - 0.035, 0.36 +
                         0.03 * npj), (0.055 * k.nose_width, 0.048, 0.06))
    d = smin(d, ala, 0.08)
  # Lips.
  upper = _ellipsoid(p, (0.0, -0.325 * fl, 0.255), (0.18, 0.045,
                                                    0.055 * k.upper_lip))
  d = smin(d, upper, 0.07)
  lower = _ellipsoid(p, (0.0, -0.425 * fl, 0.25), (0.16, 0.05,
                                                    0.06 * k.lower_lip))
  d = smin(d, lower, 0.07)
  return d


def cast_rays(origin: np.ndarray, directions: np.ndarray, knobs: ShapeKnobs,
              r_max: float = 2.8, coarse_steps: int = 72,
              bisections: int = 22, guess=None) -> np.ndarray:
  """Distances along rays to the outermost crossing of the head surface.

  Args:
    origin: `[3]` point inside the head.
    directions: `[N, 3]` unit directions.
    knobs: the shape knobs.

  Returns:
    `[N]` float64 distances r with origin + r·direction on the surface.
  """
  if guess is None:
    radii = np.broadcast_to(np.linspace(0.02, r_max, coarse_steps),
                            (len(directions), coarse_steps))
  else:
    # Search a bracket around a known nearby solution.
    coarse_steps = 10
    radii = guess[:, None] + np.linspace(-0.15, 0.15, coarse_steps)[None]
  pts = origin + radii[:, :, None] * directions[:, None, :]
  inside = head_sdf(pts.reshape(-1, 3), knobs).reshape(len(directions),
                                                          coarse_steps) < 0
  # Last inside sample along each ray.
  idx = coarse_steps - 1 - np.argmax(inside[:, ::-1], axis=1)
  idx = np.minimum(idx, coarse_steps - 2)
  rows = np.arange(len(directions))
  lo = radii[rows, idx]
  hi = radii[rows, idx + 1]
  for _ in range(bisections):
    mid = 0.5 * (lo + hi)
    d = head_sdf(origin + mid[:, None] * directions, knobs)
    lo = np.where(d < 0, mid, lo)
    hi = np.where(d < 0, hi, mid)
  return 0.5 * (lo + hi)


def _wendland(t: np.ndarray) -> np.ndarray:
  """Compactly supported smooth bump: 1 at t = 0, 0 for t >= 1."""
  t = np.clip(t, 0.0, 1.0)
  return (1.0 - t)**4 * (4.0 * t + 1.0)


def _smax1(a, b, k):
  return -smin(-a, -b, k)


def surface_radius(origin: np.ndarray, directions: np.ndarray,
                   knobs: ShapeKnobs, guess=None) -> np.ndarray:
  """Distances along rays from `origin` to the head surface with eye sockets.

  The sculpted field is cast first; then, per ray, the orbit region is
  pushed inward by a smooth bump and the eyelid domes (spheres of radius
  `LID_RADIUS` around the eyeballs) are merged with a smooth maximum. Doing
  this along each ray keeps the surface star-shaped around `origin`.

  Args:
    origin: `[3]` ray origin inside the head.
    directions: `[N, 3]` unit directions.
    knobs: the shape knobs.
    guess: optional `[N]` radii of the unmodified field near the solution
      (from `cast_rays`), to search only a bracket around them.

  Returns:
    `[N]` float64 distances.
  """
  r = cast_rays(origin, directions, knobs, guess=guess)
  p = origin + r[:, None] * directions
  for s in (-1.0, 1.0):
    c = eye_centre(s)
    dist = np.hypot((p[:, 0] - c[0]) / 0.21, (p[:, 1] - c[1] - 0.01) / 0.17)
    r = r - 0.09 * _wendland(dist)
  for s in (-1.0, 1.0):
    c = eye_centre(s)
    oc = c - origin
    b = directions @ oc
    disc = b * b - (oc @ oc - LID_RADIUS**2)
    dome = np.where(disc > 0, b + np.sqrt(np.maximum(disc, 0.0)), -10.0)
    r = _smax1(r, dome, 0.03)
  return r


def knob_modes() -> Dict[str, ShapeKnobs]:
  """One-standard-deviation knob changes, one per sculpted identity mode."""
  base = ShapeKnobs()
  return {
      "head_width": base.replace(head_width=1.06),
      "face_length": base.replace(face_length=1.06),
      "jaw_width": base.replace(jaw_width=1.05),
      "chin_forward": base.replace(chin_forward=0.4),
      "chin_size": base.replace(chin_size=1.1),
      "cheekbones": base.replace(cheekbones=1.25),
      "cheek_fullness": base.replace(cheek_fullness=1.2),
      "forehead_slope": base.replace(forehead_slope=-0.6),
      "brow_ridge": base.replace(brow_ridge=1.25),
      "nose_length": base.replace(nose_length=0.35),
      "nose_width": base.replace(nose_width=1.15),
      "nose_projection": base.replace(nose_projection=0.4),
      "nose_bridge": base.replace(nose_bridge=1.3),
      "nose_tip": base.replace(nose_tip=1.2),
      "upper_lip": base.replace(upper_lip=1.25),
      "lower_lip": base.replace(lower_lip=1.25),
      "cranium_height": base.replace(cranium_height=1.06),
      "face_depth": base.replace(face_depth=0.07),
      "jaw_angle": base.replace(jaw_angle=1.3),
      "neck_width": base.replace(neck_width=1.06),
  }
