"""The Basel Face Model 2009 "front" model of Deep3DFaceRecon / DiscoFaceGAN.

`BfmFaceModel` loads `BFM_model_front.mat` (Deep3DFaceReconstruction,
Deep3DFaceRecon_pytorch) or `BFM_model_front_gan.mat` (DiscoFaceGAN), the
35709-vertex cropped BFM09 with Guo et al.'s expression basis. The BFM licence
forbids redistribution: users build the file with the reference repositories'
`transferBFM09()` from their own BFM download and pass its path.

File fields (as `scipy.io.loadmat` returns them; indices are 1-based and are
converted to 0-based here):

=================  ==============  ==========================================
field              shape           meaning
=================  ==============  ==========================================
`meanshape`        (1, 3N)         mean shape, x y z interleaved, decimetres
`idBase`           (3N, 80)        identity basis (scaled by the eigenvalues)
`exBase`           (3N, 64)        expression basis
`meantex`          (1, 3N)         mean albedo, 0..255 RGB interleaved
`texBase`          (3N, 80)        albedo basis, 0..255 units
`tri`              (T, 3)          triangles (1-based)
`point_buf`        (N, 8)          adjacent triangles per vertex (1-based,
                                   padded with T + 1)
`keypoints`        (1, 68)         iBUG-68 landmark vertices (1-based)
`skinmask`         (1, N)          optional: 0/1 skin vertices
`frontmask2_idx`   (K, 1)          optional: vertices of the small face region
`tri_mask2`        (T2, 3)         optional: its triangles (into
                                   `frontmask2_idx`)
`gan_mask`         (K, 1)          optional (DiscoFaceGAN): rendered region
`gan_tl`           (T3, 3)         optional: its triangles (into `gan_mask`)
=================  ==============  ==========================================

Image formation as Deep3DFaceRecon: `S = meanshape + idBase·α + exBase·β`,
reshaped to `[N, 3]` and re-centred by the *mean shape's* centroid;
`T = (meantex + texBase·δ) / 255` clipped to [0, 1]; vertex normals are the
normalized sum of the unit normals of the (up to 8) triangles in `point_buf`.

The 257-coefficient vector (`split_coefficients`): Deep3DFaceRecon's layout
`identity 80 | expression 64 | albedo 80 | pose 3 | sh 27 | translation 3`
(`DEEP3D_LAYOUT`), or DiscoFaceGAN's R-Net order `identity 80 | albedo 80 |
expression 64 | ...` (`DISCOFACEGAN_LAYOUT`).

`synthetic_bfm_fields` / `save_bfm_mat` write a small synthetic model in the
same file format, for tests and demos without the licensed data.
"""

import collections
import os
import tempfile
from typing import Dict, Mapping, Tuple, Union

import numpy as np
import tensorflow as tf

from tfface.rendering import face_model

NUM_IDENTITY = 80
NUM_EXPRESSION = 64
NUM_ALBEDO = 80

DEEP3D_LAYOUT = face_model.CoefficientLayout([
    ("identity", NUM_IDENTITY), ("expression", NUM_EXPRESSION),
    ("albedo", NUM_ALBEDO), ("pose", 3), ("sh", 27), ("translation", 3)])
DISCOFACEGAN_LAYOUT = face_model.CoefficientLayout([
    ("identity", NUM_IDENTITY), ("albedo", NUM_ALBEDO),
    ("expression", NUM_EXPRESSION), ("pose", 3), ("sh", 27),
    ("translation", 3)])
LAYOUTS = {"deep3d": DEEP3D_LAYOUT, "discofacegan": DISCOFACEGAN_LAYOUT}

TRIANGLE_REGIONS = ("all", "front", "gan")


def split_coefficients(coefficients, layout: str = "deep3d"
                       ) -> Dict[str, tf.Tensor]:
  """Splits `[B, 257]` coefficients into the renderer's parameter groups.

  Args:
    coefficients: `[B, 257]` float32.
    layout: `"deep3d"` (id | exp | tex | angles | gamma | trans, Deep3DFaceRecon
      and StyleRig) or `"discofacegan"` (id | tex | exp | ..., DiscoFaceGAN's
      R-Net and saved coefficients).

  Returns:
    dict with `identity` `[B, 80]`, `expression` `[B, 64]`, `albedo`
    `[B, 80]`, `pose` `[B, 3]` (pitch, yaw, roll radians), `sh` `[B, 27]`,
    `translation` `[B, 3]`.

  Raises:
    ValueError: on an unknown layout or a last dimension other than 257.
  """
  return _layout(layout).split(coefficients)


def join_coefficients(groups: Mapping[str, tf.Tensor],
                      layout: str = "deep3d") -> tf.Tensor:
  """Inverse of `split_coefficients`: dict of groups -> `[B, 257]`."""
  return _layout(layout).join(groups)


def _layout(name: str) -> face_model.CoefficientLayout:
  if name not in LAYOUTS:
    raise ValueError(
        f"layout must be one of {sorted(LAYOUTS)}, got {name!r}.")
  return LAYOUTS[name]


class BfmFaceModel(face_model.FaceModel):
  """BFM09 front model (Deep3DFaceRecon) as a `FaceModel`.

  Parameter groups: `identity` `[B, 80]`, `expression` `[B, 64]`, `albedo`
  `[B, 80]` (PCA coefficients; 0 is the mean face).
  """

  def __init__(self, source: Union[str, os.PathLike, Mapping[str, np.ndarray]],
               triangle_region: str = "all"):
    """Loads the model.

    Args:
      source: path of the `.mat` file, or a dict of its fields (as
        `scipy.io.loadmat` returns them).
      triangle_region: which triangles `triangles` returns (what the renderer
        draws): `"all"` (`tri`, Deep3DFaceRecon), `"front"` (`tri_mask2`, the
        small face region) or `"gan"` (`gan_tl`, what DiscoFaceGAN renders).
        Normals always use the whole mesh.

    Raises:
      ValueError: if the file is missing or unreadable, or a field is
        missing or mis-shaped (the message names the field and the expected
        shape).
    """
    if triangle_region not in TRIANGLE_REGIONS:
      raise ValueError(
          f"triangle_region must be one of {TRIANGLE_REGIONS}, got "
          f"{triangle_region!r}.")
    if isinstance(source, Mapping):
      fields, where = dict(source), "BFM fields"
    else:
      fields, where = load_bfm_mat(source), os.fspath(source)
    arrays = _parse_fields(fields, where)
    self._source = where
    num_vertices = arrays["num_vertices"]
    self._num_vertices = num_vertices
    mean = arrays["meanshape"].reshape(num_vertices, 3).astype(np.float64)
    self._mean_shape = tf.constant(mean - mean.mean(axis=0), tf.float32)
    self._id_basis = tf.constant(
        arrays["idBase"].reshape(num_vertices, 3, -1), tf.float32)
    self._exp_basis = tf.constant(
        arrays["exBase"].reshape(num_vertices, 3, -1), tf.float32)
    self._mean_albedo = tf.constant(
        arrays["meantex"].reshape(num_vertices, 3) / 255.0, tf.float32)
    self._albedo_basis = tf.constant(
        arrays["texBase"].reshape(num_vertices, 3, -1) / 255.0, tf.float32)
    self._all_triangles = arrays["tri"]
    self._point_buf = arrays["point_buf"]
    self._landmarks = arrays["keypoints"]
    self._regions = arrays["regions"]
    region_triangles = arrays["region_triangles"]
    if triangle_region != "all" and triangle_region not in region_triangles:
      needs = {"front": "'frontmask2_idx' and 'tri_mask2'",
               "gan": "'gan_mask' and 'gan_tl'"}[triangle_region]
      raise ValueError(
          f"{where}: triangle_region={triangle_region!r} needs the fields "
          f"{needs}, which the file lacks.")
    self._triangles = (self._all_triangles if triangle_region == "all" else
                       region_triangles[triangle_region])

  # FaceModel interface.

  @property
  def triangles(self) -> np.ndarray:
    return self._triangles

  @property
  def all_triangles(self) -> np.ndarray:
    """`[T, 3]` int32 every triangle of the model (`tri`, 0-based)."""
    return self._all_triangles

  @property
  def num_vertices(self) -> int:
    return self._num_vertices

  @property
  def landmark_indices(self) -> np.ndarray:
    return self._landmarks

  @property
  def parameter_sizes(self) -> "collections.OrderedDict[str, int]":
    return collections.OrderedDict([("identity", NUM_IDENTITY),
                                    ("expression", NUM_EXPRESSION),
                                    ("albedo", NUM_ALBEDO)])

  @property
  def expression_names(self) -> Tuple[str, ...]:
    return tuple(f"exp_{i:02d}" for i in range(NUM_EXPRESSION))

  def region_weights(self) -> Dict[str, np.ndarray]:
    """`skin` (`skinmask`; the `front` region when the file has none) and
    `front` (`frontmask2_idx`, else `gan_mask`, else every vertex), plus
    `gan` when the file has `gan_mask`: name -> `[V]` float32 in {0, 1}."""
    return {name: weights.copy() for name, weights in self._regions.items()}

  def vertices(self, params) -> tf.Tensor:
    """`mean + idBase·identity + exBase·expression`, centred: `[B, V, 3]`."""
    self.validate(params)
    identity = tf.convert_to_tensor(params["identity"], tf.float32)
    expression = tf.convert_to_tensor(params["expression"], tf.float32)
    return (self._mean_shape[None] +
            tf.einsum("vck,bk->bvc", self._id_basis, identity) +
            tf.einsum("vck,bk->bvc", self._exp_basis, expression))

  def albedo(self, params) -> tf.Tensor:
    """`(meantex + texBase·albedo) / 255` clipped to [0, 1]: `[B, V, 3]`.

    The clip has zero gradient where a channel leaves [0, 1].
    """
    self.validate(params)
    albedo = tf.convert_to_tensor(params["albedo"], tf.float32)
    colour = self._mean_albedo[None] + tf.einsum(
        "vck,bk->bvc", self._albedo_basis, albedo)
    return tf.clip_by_value(colour, 0.0, 1.0)

  def vertex_normals(self, vertices: tf.Tensor) -> tf.Tensor:
    """Deep3DFaceRecon normals: sum of unit normals of `point_buf` triangles.

    Args:
      vertices: `[B, V, 3]` float32.

    Returns:
      `[B, V, 3]` float32 unit normals.
    """
    normals = face_model.face_normals(vertices, self._all_triangles)
    # The padding index T points at an appended zero normal.
    normals = tf.pad(normals, [[0, 0], [0, 1], [0, 0]])
    summed = tf.reduce_sum(tf.gather(normals, self._point_buf, axis=1),
                           axis=2)
    return face_model.safe_normalize(summed)

  def __repr__(self):
    return (f"BfmFaceModel({self._source!r}, V={self._num_vertices}, "
            f"T={len(self._triangles)})")


# -----------------------------------------------------------------------------
# File reading and checking.


def load_bfm_mat(path: Union[str, os.PathLike]) -> Dict[str, np.ndarray]:
  """Reads a BFM `.mat` file with `scipy.io.loadmat`.

  Raises:
    ValueError: if the file does not exist or is not a readable `.mat`.
  """
  import scipy.io  # pylint: disable=g-import-not-at-top
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise ValueError(
        f"BFM file {path!r} does not exist; build BFM_model_front.mat from "
        "your own BFM09 download (it cannot be shipped) and pass its path.")
  try:
    return scipy.io.loadmat(path)
  except Exception as e:  # scipy raises several types for corrupt files.
    raise ValueError(
        f"BFM file {path!r} is not a readable MATLAB .mat file: {e}") from None


def _field(fields, name, where, required=True):
  """Field ``name`` as a numeric array; missing, non-numeric or non-finite
  values are a ValueError naming the field."""
  if name not in fields:
    if required:
      raise ValueError(f"{where}: missing field {name!r}.")
    return None
  value = np.asarray(fields[name])
  if value.dtype == bool or not np.issubdtype(value.dtype, np.number):
    raise ValueError(f"{where}: field {name!r} holds {value.dtype} values; "
                     "expected numbers.")
  if np.issubdtype(value.dtype, np.inexact) and not np.all(np.isfinite(value)):
    bad = ~np.isfinite(value)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    raise ValueError(
        f"{where}: field {name!r} holds {int(bad.sum())} non-finite values "
        f"(NaN or Inf; the first at index {first}); expected finite numbers.")
  return value


def _parse_fields(fields, where) -> Dict:
  """Checks shapes and converts indices; returns the arrays the model uses."""
  out = {}
  meanshape = _field(fields, "meanshape", where)
  if meanshape.ndim != 2 or 1 not in meanshape.shape or (
      meanshape.size % 3 != 0) or meanshape.size == 0:
    raise ValueError(
        f"{where}: field 'meanshape' has shape {meanshape.shape}; expected "
        "(1, 3N).")
  num_vertices = meanshape.size // 3
  out["num_vertices"] = num_vertices
  out["meanshape"] = meanshape.reshape(-1).astype(np.float64)

  def vector(name, length):
    value = _field(fields, name, where)
    if value.ndim != 2 or 1 not in value.shape or value.size != length:
      raise ValueError(
          f"{where}: field {name!r} has shape {value.shape}; expected "
          f"(1, {length}).")
    return value.reshape(-1)

  def matrix(name, rows, cols, required=True):
    value = _field(fields, name, where, required)
    if value is None:
      return None
    if value.ndim != 2 or (rows is not None and value.shape[0] != rows) or (
        cols is not None and value.shape[1] != cols):
      raise ValueError(
          f"{where}: field {name!r} has shape {value.shape}; expected "
          f"({'K' if rows is None else rows}, "
          f"{'K' if cols is None else cols}).")
    return value

  out["meantex"] = vector("meantex", 3 * num_vertices).astype(np.float64)
  out["idBase"] = matrix("idBase", 3 * num_vertices, NUM_IDENTITY).astype(
      np.float32)
  out["exBase"] = matrix("exBase", 3 * num_vertices, NUM_EXPRESSION).astype(
      np.float32)
  out["texBase"] = matrix("texBase", 3 * num_vertices, NUM_ALBEDO).astype(
      np.float32)

  tri = matrix("tri", None, 3)
  out["tri"] = _indices(tri, "tri", where, num_vertices)
  num_triangles = len(tri)
  point_buf = matrix("point_buf", num_vertices, None)
  # Padding is T + 1 (1-based), i.e. T after conversion: a zero normal.
  out["point_buf"] = _indices(point_buf, "point_buf", where, num_triangles + 1)
  keypoints = vector("keypoints", 68)
  out["keypoints"] = _indices(keypoints, "keypoints", where, num_vertices)

  regions, region_triangles = {}, {}
  skin = _field(fields, "skinmask", where, required=False)
  if skin is not None:
    skin = vector("skinmask", num_vertices)
    regions["skin"] = (skin > 0).astype(np.float32)
  for region, idx_name, tri_name in (("front", "frontmask2_idx", "tri_mask2"),
                                     ("gan", "gan_mask", "gan_tl")):
    idx = matrix(idx_name, None, 1, required=False)
    if idx is None:
      continue
    idx = _indices(idx.reshape(-1), idx_name, where, num_vertices)
    weights = np.zeros([num_vertices], np.float32)
    weights[idx] = 1.0
    regions[region] = weights
    sub = matrix(tri_name, None, 3, required=False)
    if sub is not None:
      sub = _indices(sub, tri_name, where, len(idx))
      region_triangles[region] = idx[sub].astype(np.int32)
  if "front" not in regions:
    regions["front"] = regions.get("gan",
                                   np.ones([num_vertices], np.float32))
  regions.setdefault("skin", regions["front"])
  out["regions"] = regions
  out["region_triangles"] = region_triangles
  return out


def _indices(value, name, where, count) -> np.ndarray:
  """1-based indices in [1, count] -> 0-based int32."""
  value = np.asarray(value)
  if value.size and (not np.all(np.isfinite(value)) or
                     np.any(value != np.round(value)) or value.min() < 1 or
                     value.max() > count):
    raise ValueError(
        f"{where}: field {name!r} must hold 1-based indices in [1, {count}], "
        f"got values in [{value.min()}, {value.max()}].")
  return (value.astype(np.int64) - 1).astype(np.int32)


# -----------------------------------------------------------------------------
# A synthetic model in the same file format (tests, demos).


def synthetic_bfm_fields(rows: int = 20, cols: int = 16, seed: int = 0,
                         offset=(0.05, 0.3, 0.4)) -> Dict[str, np.ndarray]:
  """A small face-shaped height field in the exact BFM front-file format.

  Not a face model: a smooth ellipsoidal cap with a nose bump, random bases of
  BFM-like magnitude, 1-based indices, `point_buf`, 68 keypoints at
  iBUG-like positions, `skinmask`, `frontmask2_idx`/`tri_mask2` and
  `gan_mask`/`gan_tl`. The mean shape is shifted by `offset` (the loader
  re-centres it, as Deep3DFaceRecon does).

  Args:
    rows, cols: grid size (V = rows * cols vertices).
    seed: random seed of the bases.
    offset: added to the mean shape, decimetres.

  Returns:
    dict field -> numpy array, ready for `save_bfm_mat` or `BfmFaceModel`.
  """
  rng = np.random.default_rng(seed)
  x, y = np.meshgrid(np.linspace(-0.8, 0.8, cols), np.linspace(0.9, -1.0, rows))
  r2 = (x / 0.95) ** 2 + ((y + 0.05) / 1.1) ** 2
  z = 0.6 * np.sqrt(np.maximum(1.0 - r2, 0.05))
  z += 0.18 * np.exp(-(x ** 2 + (y + 0.1) ** 2) / 0.03)  # nose
  verts = np.stack([x, y, z], -1).reshape(-1, 3)
  num_vertices = len(verts)
  idx = np.arange(num_vertices).reshape(rows, cols)
  a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
  c, d = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
  tri = np.concatenate([np.stack([a, c, b], 1), np.stack([b, c, d], 1)])
  # Orient every triangle counter-clockwise seen from +z (outward).
  v0, v1, v2 = verts[tri[:, 0]], verts[tri[:, 1]], verts[tri[:, 2]]
  flip = np.cross(v1 - v0, v2 - v0)[:, 2] < 0
  tri[flip] = tri[flip][:, [0, 2, 1]]
  num_triangles = len(tri)

  point_buf = np.full([num_vertices, 8], num_triangles + 1, np.int64)
  fill = np.zeros([num_vertices], np.int64)
  for t, corners in enumerate(tri):
    for v in corners:
      if fill[v] < 8:
        point_buf[v, fill[v]] = t + 1
        fill[v] += 1

  keypoints = _nearest_vertices(verts, _ibug68_template())
  front = np.nonzero((np.abs(x) < 0.62) & (y < 0.75) & (y > -0.85))
  front_idx = idx[front]
  in_front = np.zeros([num_vertices], bool)
  in_front[front_idx] = True
  remap = np.full([num_vertices], -1)
  remap[front_idx] = np.arange(len(front_idx))
  keep = np.all(in_front[tri], axis=1)
  tri_front = remap[tri[keep]]
  gan = np.nonzero(r2.reshape(-1) < 0.8)[0]
  in_gan = np.zeros([num_vertices], bool)
  in_gan[gan] = True
  remap_gan = np.full([num_vertices], -1)
  remap_gan[gan] = np.arange(len(gan))
  tri_gan = remap_gan[tri[np.all(in_gan[tri], axis=1)]]
  eyes_mouth = np.zeros([num_vertices], bool)
  for kp in list(range(36, 48)) + list(range(48, 68)):
    eyes_mouth |= np.linalg.norm(verts[:, :2] - verts[keypoints[kp], :2],
                                 axis=1) < 0.12
  skin = (in_front & ~eyes_mouth).astype(np.float64)

  mean = verts + np.asarray(offset)
  meantex = np.tile([[200.0, 150.0, 130.0]], [num_vertices, 1])
  meantex += rng.normal(0, 8.0, meantex.shape)
  return {
      "meanshape": mean.reshape(1, -1).astype(np.float32),
      "meantex": meantex.reshape(1, -1).astype(np.float32),
      "idBase": _smooth_basis(rng, x, y, NUM_IDENTITY, 0.01).astype(
          np.float32),
      "exBase": _smooth_basis(rng, x, y, NUM_EXPRESSION, 0.006).astype(
          np.float64),  # float64 like the real file.
      "texBase": _smooth_basis(rng, x, y, NUM_ALBEDO, 3.0).astype(np.float32),
      "tri": (tri + 1).astype(np.float32),
      "point_buf": point_buf.astype(np.float32),
      "keypoints": (keypoints + 1).reshape(1, 68).astype(np.float32),
      "skinmask": skin.reshape(1, -1).astype(np.float32),
      "frontmask2_idx": (front_idx + 1).reshape(-1, 1).astype(np.float32),
      "tri_mask2": (tri_front + 1).astype(np.float32),
      "gan_mask": (gan + 1).reshape(-1, 1).astype(np.float32),
      "gan_tl": (tri_gan + 1).astype(np.int32),
  }


def save_bfm_mat(path: Union[str, os.PathLike],
                 fields: Mapping[str, np.ndarray]) -> None:
  """Writes fields to a `.mat` file atomically (temporary name + rename)."""
  import scipy.io  # pylint: disable=g-import-not-at-top
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  handle, tmp = tempfile.mkstemp(prefix=".tmp-bfm-", dir=directory)
  try:
    with os.fdopen(handle, "wb") as f:
      scipy.io.savemat(f, dict(fields))
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _smooth_basis(rng, x, y, num_components, scale) -> np.ndarray:
  """`[3V, K]` random bases that are smooth over the (x, y) grid.

  Each component is a random combination of 16 low-frequency cosines per
  coordinate (like a real PCA basis, unlike per-vertex noise), with a
  displacement of about `scale` per unit coefficient.
  """
  u = (x.reshape(-1) + 1.0) / 2.0
  v = (y.reshape(-1) + 1.0) / 2.0
  fields = np.stack([np.cos(np.pi * m * u) * np.cos(np.pi * n * v)
                     for m in range(4) for n in range(4)], -1)  # [V, 16]
  weights = rng.normal(size=(16, 3, num_components)) / 4.0
  basis = np.einsum("vf,fck->vck", fields, weights) * scale
  return basis.reshape(-1, num_components)


def _nearest_vertices(verts, points_2d) -> np.ndarray:
  """Index of the vertex nearest in (x, y) to each 2D point."""
  d = np.linalg.norm(verts[None, :, :2] - points_2d[:, None, :], axis=-1)
  return np.argmin(d, axis=1)


def _ibug68_template() -> np.ndarray:
  """Approximate iBUG-68 positions (x right, y up, decimetre-ish scale)."""
  pts = []
  for t in np.linspace(-1.0, 1.0, 17):  # jaw, subject's right to left
    angle = t * 0.5 * np.pi * 0.95
    pts.append((0.75 * np.sin(angle), -0.2 - 0.75 * np.cos(angle)))
  for side in (-1, 1):  # eyebrows 17-21 (image left), 22-26
    for t in np.linspace(0, 1, 5):
      xb = side * (0.62 - 0.5 * t) if side < 0 else 0.12 + 0.5 * t
      pts.append((xb, 0.42 + 0.08 * np.sin(np.pi * t)))
  for t in np.linspace(0, 1, 4):  # nose bridge 27-30
    pts.append((0.0, 0.3 - 0.4 * t))
  for xn in np.linspace(-0.16, 0.16, 5):  # nostrils 31-35
    pts.append((xn, -0.2 + 0.04 * (1 - abs(xn) / 0.16)))
  for cx in (-0.32, 0.32):  # eyes 36-41, 42-47
    for k in range(6):
      angle = np.pi - k * np.pi / 3
      pts.append((cx + 0.13 * np.cos(angle), 0.22 + 0.05 * np.sin(angle)))
  for k in range(12):  # outer lip 48-59
    angle = np.pi - k * np.pi / 6
    pts.append((0.3 * np.cos(angle), -0.45 + 0.12 * np.sin(angle)))
  for k in range(8):  # inner lip 60-67
    angle = np.pi - k * np.pi / 4
    pts.append((0.2 * np.cos(angle), -0.45 + 0.05 * np.sin(angle)))
  return np.asarray(pts)
