"""Tests for tfface.rendering.procedural.builder: the model's NumPy arrays."""

import collections

import numpy as np
import pytest
from scipy import spatial

from tfface.rendering import face_model
from tfface.rendering.procedural import builder
from tfface.rendering.procedural import grid as grid_lib
from tfface.rendering.procedural import sdf

RES = 1
MIRROR = np.array([-1.0, 1.0, 1.0])

# iBUG-68 mirror pairs (0-based) as (subject's right, subject's left); the
# other ids lie on the midline. The lower lips run from the left corner
# back to the right one, so their pairs read backwards.
IBUG_PAIRS = ([(k, 16 - k) for k in range(8)] +
              [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22), (31, 35),
               (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47),
               (41, 46), (48, 54), (49, 53), (50, 52), (59, 55), (58, 56),
               (60, 64), (61, 63), (67, 65)])
IBUG_MIDLINE = (8, 27, 28, 29, 30, 33, 51, 57, 62, 66)


@pytest.fixture(scope="module")
def arrays():
  return builder.build_face_arrays(RES)


@pytest.fixture(scope="module")
def grid():
  return grid_lib.build_grid(RES)


@pytest.fixture(scope="module")
def parts(arrays):
  """name -> (start, stop) of each sub-mesh, in vertex order."""
  (r0, r1), (l0, l1) = arrays.eye_slices
  m0, m1 = arrays.mouth_slice
  return collections.OrderedDict(skin=(0, arrays.num_skin), mouth=(m0, m1),
                                 sockets=(m1, r0), right_eye=(r0, r1),
                                 left_eye=(l0, l1))


@pytest.fixture(scope="module")
def mirror(arrays, grid):
  """`[V]` index of each vertex's mirror image (x -> -x) in the model.

  Skin vertices map through the grid (row, side, -azimuth), so coincident
  slit copies keep their side; the closed parts map to their nearest
  mirrored vertex (they have no coincident vertices).
  """
  num_v, num_skin = len(arrays.mean), arrays.num_skin
  index = {}
  for v in range(num_skin):
    index[(int(grid.row[v]), int(grid.side[v]),
           round(float(grid.azimuth[v]), 9))] = v
  out = np.empty(num_v, np.int64)
  for v in range(num_skin):
    az = grid.azimuth[v]
    if abs(abs(az) - np.pi) > 1e-9:
      az = -az
    out[v] = index[(int(grid.row[v]), int(grid.side[v]), round(float(az), 9))]
  rest = np.arange(num_skin, num_v)
  dist, nearest = spatial.cKDTree(arrays.mean[rest]).query(
      arrays.mean[rest] * MIRROR)
  assert dist.max() < 1e-6
  out[rest] = rest[nearest]
  np.testing.assert_array_equal(out[out], np.arange(num_v))  # an involution
  return out


def test_shapes_and_dtypes(arrays):
  num_v = len(arrays.mean)
  assert arrays.mean.shape == (num_v, 3) and arrays.mean.dtype == np.float32
  assert arrays.triangles.dtype == np.int32
  assert arrays.triangles.shape[1] == 3
  assert arrays.triangles.min() >= 0 and arrays.triangles.max() < num_v
  assert arrays.identity_basis.shape == (len(builder.IDENTITY_NAMES), num_v,
                                         3)
  assert arrays.expression_basis.shape == (len(builder.EXPRESSION_NAMES),
                                           num_v, 3)
  assert arrays.albedo_basis.shape == (len(builder.ALBEDO_NAMES), num_v, 3)
  for name in ("albedo_logits", "normals"):
    assert getattr(arrays, name).shape == (num_v, 3), name
  for name in ("hair_height", "hair_recede", "hair_extend", "hair_thickness",
               "beard_field", "brow_weight"):
    assert getattr(arrays, name).shape == (num_v,), name
  for name, value in arrays.static_regions.items():
    assert value.shape == (num_v,) and value.dtype == np.float32, name
  for value in (arrays.identity_basis, arrays.expression_basis,
                arrays.albedo_basis, arrays.albedo_logits, arrays.normals,
                arrays.eye_local, arrays.eye_centres, arrays.beard_field):
    assert value.dtype == np.float32
    assert np.all(np.isfinite(value))
  assert arrays.landmarks.shape == (68,) and arrays.landmarks.dtype == np.int32
  num_eye = arrays.eye_slices[0][1] - arrays.eye_slices[0][0]
  assert arrays.eye_local.shape == (2, num_eye, 3)
  assert arrays.eye_centres.shape == (2, 3)
  # Names: unique, and the identity modes are the knobs then displacements.
  for names in (builder.EXPRESSION_NAMES, builder.IDENTITY_NAMES,
                builder.ALBEDO_NAMES):
    assert len(set(names)) == len(names)
  assert builder.IDENTITY_NAMES[:len(sdf.knob_modes())] == tuple(
      sdf.knob_modes())


def test_sub_meshes_partition_the_vertices(arrays, grid, parts):
  num_v = len(arrays.mean)
  bounds = list(parts.values())
  assert bounds[0][0] == 0 and bounds[-1][1] == num_v
  for (_, stop), (start, _) in zip(bounds[:-1], bounds[1:]):
    assert stop == start
  assert all(stop > start for start, stop in bounds)
  assert arrays.num_skin == len(grid.elevation)
  assert (parts["right_eye"][1] - parts["right_eye"][0] ==
          parts["left_eye"][1] - parts["left_eye"][0])
  tris = arrays.triangles
  part_of = np.zeros(num_v, np.int64)
  for k, (start, stop) in enumerate(bounds):
    part_of[start:stop] = k
  # No triangle joins two parts; the skin part is the head grid.
  assert np.all(part_of[tris] == part_of[tris][:, :1])
  skin = tris[part_of[tris[:, 0]] == 0]
  np.testing.assert_array_equal(skin, grid.triangles)
  # Mouth, sockets and eyeballs are closed, consistently oriented spheres.
  for name in ("mouth", "right_eye", "left_eye"):
    start, stop = parts[name]
    sub = tris[(tris.min(axis=1) >= start) & (tris.max(axis=1) < stop)]
    directed = np.concatenate([sub[:, [0, 1]], sub[:, [1, 2]],
                               sub[:, [2, 0]]])
    assert len(np.unique(directed, axis=0)) == len(directed), name
    undirected = collections.Counter(map(tuple, np.sort(directed, axis=1)))
    assert set(undirected.values()) == {2}, name
    assert (stop - start) - len(undirected) + len(sub) == 2, name
  start, stop = parts["sockets"]
  sub = tris[(tris.min(axis=1) >= start) & (tris.max(axis=1) < stop)]
  directed = np.concatenate([sub[:, [0, 1]], sub[:, [1, 2]], sub[:, [2, 0]]])
  undirected = collections.Counter(map(tuple, np.sort(directed, axis=1)))
  assert set(undirected.values()) == {2}
  assert (stop - start) - len(undirected) + len(sub) == 4  # two spheres


def test_region_labels_cover_the_vertices(arrays, parts):
  regions = arrays.static_regions
  for name, value in regions.items():
    assert value.min() >= 0.0 and value.max() <= 1.0, name
  part_mask = {}
  for name, (start, stop) in parts.items():
    mask = np.zeros(len(arrays.mean), bool)
    mask[start:stop] = True
    part_mask[name] = mask
  eyes = part_mask["right_eye"] | part_mask["left_eye"]
  np.testing.assert_array_equal(regions["eyes"], eyes)
  np.testing.assert_array_equal(regions["mouth"], part_mask["mouth"])
  np.testing.assert_array_equal(regions["eye_sockets"], part_mask["sockets"])
  # Skin + mouth + sockets + eyes: every vertex in exactly one part.
  np.testing.assert_array_equal(
      part_mask["skin"] + regions["mouth"] + regions["eye_sockets"] +
      regions["eyes"], 1.0)
  # Sub-regions stay in their part and are not empty.
  for name, part in (("iris_right", part_mask["right_eye"]),
                     ("iris_left", part_mask["left_eye"]),
                     ("teeth", part_mask["mouth"]),
                     ("lips", part_mask["skin"]), ("brows", part_mask["skin"]),
                     ("face", part_mask["skin"])):
    assert np.all(regions[name][~part] == 0), name
    assert regions[name][part].max() == pytest.approx(1.0, abs=1e-3), name
  # The iris is a cap around the front pole: at most half of each eyeball.
  for side in ("right", "left"):
    assert 0 < np.mean(regions["iris_" + side][part_mask[side + "_eye"]]) < 0.5
  np.testing.assert_array_equal(arrays.brow_weight, regions["brows"])
  # Hair and beard live on the skin only.
  assert np.all(arrays.hair_height[~part_mask["skin"]] == -90.0)
  assert np.all(arrays.beard_field[~part_mask["skin"]] == 0.0)
  assert arrays.beard_field.min() >= 0 and arrays.beard_field.max() <= 1


def test_hair_and_beard_fields_point_the_right_way(arrays):
  lm = arrays.landmarks
  # Above the hairline at the crown (top pole), far below it on the face.
  assert arrays.hair_height[0] > 30
  assert arrays.hair_height[lm[30]] < -30 and arrays.hair_height[lm[8]] < -30
  # Beard: ~1 at the chin, none on the forehead, nose bridge or eyes.
  assert arrays.beard_field[lm[8]] > 0.9
  for k in (19, 24, 27, 28, 37, 44):
    assert arrays.beard_field[lm[k]] == 0.0, k
  # Baldness recedes from the front of the crown.
  assert arrays.hair_recede[0] < arrays.hair_recede[lm[27]]


def test_eyeballs(arrays, parts):
  np.testing.assert_allclose(arrays.eye_centres,
                             np.stack([sdf.eye_centre(-1.0),
                                       sdf.eye_centre(1.0)]), atol=1e-7)
  assert arrays.eye_centres[0, 0] < 0 < arrays.eye_centres[1, 0]
  np.testing.assert_allclose(np.linalg.norm(arrays.eye_local, axis=-1),
                             sdf.EYEBALL_RADIUS, atol=1e-6)
  for k, name in enumerate(("right_eye", "left_eye")):
    start, stop = parts[name]
    np.testing.assert_allclose(arrays.mean[start:stop],
                               arrays.eye_centres[k] + arrays.eye_local[k],
                               atol=1e-6)
    # The first vertex is the front pole, looking along +z.
    np.testing.assert_allclose(arrays.eye_local[k, 0],
                               [0, 0, sdf.EYEBALL_RADIUS], atol=1e-7)
    # The iris is centred on the front pole.
    iris = arrays.static_regions["iris_" + name.split("_")[0]]
    assert iris[start] == pytest.approx(1.0)
    assert np.all(arrays.eye_local[k][iris[start:stop] > 0.5][:, 2] > 0.08)
  # Each eyeball sits inside its lid dome, under the skin.
  skin = arrays.mean[:arrays.num_skin]
  for centre in arrays.eye_centres:
    gap = np.linalg.norm(skin - centre, axis=1)
    assert gap.min() > sdf.EYEBALL_RADIUS


def test_normals_are_unit_and_outward(arrays, parts):
  n = arrays.normals
  np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)
  start, stop = parts["skin"]
  out = np.einsum("ij,ij->i", n[start:stop],
                  arrays.mean[start:stop] - grid_lib.ORIGIN)
  assert np.mean(out > 0) > 0.99
  for k, name in enumerate(("right_eye", "left_eye")):
    start, stop = parts[name]
    radial = arrays.eye_local[k] / sdf.EYEBALL_RADIUS
    assert np.einsum("ij,ij->i", n[start:stop], radial).min() > 0.9
  start, stop = parts["mouth"]
  out = np.einsum("ij,ij->i", n[start:stop],
                  arrays.mean[start:stop] - builder.MOUTH_CENTRE)
  assert np.all(out > 0)


def test_vertex_normals_helper_matches_the_tensorflow_one():
  rng = np.random.default_rng(0)
  verts = rng.normal(size=(7, 3))
  tris = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 4], [1, 5, 2], [4, 3, 6]])
  ours = builder.vertex_normals(verts, tris)
  theirs = face_model.vertex_normals(verts[None].astype(np.float32), tris,
                                     area_weighted=True).numpy()[0]
  np.testing.assert_allclose(ours, theirs, atol=1e-5)
  # A flat fan points along the plane's normal.
  flat = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [-1, 0, 0.]])
  np.testing.assert_allclose(
      builder.vertex_normals(flat, np.array([[0, 1, 2], [0, 2, 3]])),
      [[0, 0, 1]] * 4, atol=1e-12)


def test_uv_sphere_is_closed_and_outward():
  rows = np.linspace(0, np.pi, 7)[1:-1]
  pts, theta, tris = builder._uv_sphere(rows, 8)
  assert len(pts) == len(theta) == 5 * 8 + 2
  np.testing.assert_allclose(np.linalg.norm(pts, axis=1), 1.0, atol=1e-12)
  np.testing.assert_allclose(np.arccos(np.clip(pts[:, 2], -1, 1)), theta,
                             atol=1e-7)
  normals = np.cross(pts[tris[:, 1]] - pts[tris[:, 0]],
                     pts[tris[:, 2]] - pts[tris[:, 0]])
  assert np.all(np.einsum("ij,ij->i", normals, pts[tris].mean(axis=1)) > 0)
  edges = collections.Counter(map(tuple, np.sort(np.concatenate(
      [tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1)))
  assert set(edges.values()) == {2}
  assert len(pts) - len(edges) + len(tris) == 2


def test_plateau_and_smoothstep():
  x = np.linspace(-0.5, 1.5, 2001)
  p = builder._plateau(x, 0.2, 0.8)
  assert np.all(p[x <= 0.2] == 1.0) and np.all(p[x >= 0.8] == 0.0)
  assert np.all(np.diff(p) <= 0)
  s = builder._smoothstep(x)
  assert np.all(s[x <= 0] == 0.0) and np.all(s[x >= 1] == 1.0)
  assert np.all(np.diff(s) >= 0)
  np.testing.assert_allclose(s + builder._smoothstep(1.0 - x), 1.0,
                             atol=1e-12)
  # Both are C1: zero slope where they meet their constant parts.
  h = 1e-6
  for fn, edges in ((lambda t: builder._plateau(t, 0.2, 0.8), (0.2, 0.8)),
                    (builder._smoothstep, (0.0, 1.0))):
    for e in edges:
      assert abs(fn(e + h) - fn(e - h)) / (2 * h) < 1e-4


def test_the_face_is_mirror_symmetric(arrays, mirror):
  # Up to the sculpted nose's own asymmetry (see test_sdf.py).
  np.testing.assert_allclose(arrays.mean[mirror] * MIRROR, arrays.mean,
                             atol=1e-3)
  for name in ("hair_height", "hair_recede", "hair_extend", "hair_thickness",
               "beard_field"):
    np.testing.assert_allclose(getattr(arrays, name)[mirror],
                               getattr(arrays, name), atol=1e-4, err_msg=name)
  swap = {"iris_left": "iris_right", "iris_right": "iris_left"}
  for name, value in arrays.static_regions.items():
    if name == "face":  # thresholds normals of an asymmetric triangulation
      continue
    np.testing.assert_allclose(value[mirror],
                               arrays.static_regions[swap.get(name, name)],
                               atol=1e-4, err_msg=name)
  np.testing.assert_allclose(arrays.albedo_logits[mirror],
                             arrays.albedo_logits, atol=1e-4)
  for k, name in enumerate(builder.ALBEDO_NAMES):
    if name == "skin_mottling":  # noise, by design
      continue
    np.testing.assert_allclose(arrays.albedo_basis[k][mirror],
                               arrays.albedo_basis[k], atol=1e-4,
                               err_msg=name)


def test_sided_blendshapes_mirror_each_other(arrays, mirror):
  names = builder.EXPRESSION_NAMES
  basis = arrays.expression_basis
  pairs = [(n, n[:-4] + "Right") for n in names if n.endswith("Left")]
  assert len(pairs) >= 10
  for left, right in pairs:
    np.testing.assert_allclose(basis[names.index(left)][mirror] * MIRROR,
                               basis[names.index(right)], atol=1e-5,
                               err_msg=left)
  for name in names:
    if name.endswith(("Left", "Right")):
      continue
    # cheekPuff moves along the normals, whose triangulation is not
    # mirror symmetric (every quad is split along the same diagonal).
    atol = 2e-3 if name == "cheekPuff" else 1e-5
    k = names.index(name)
    np.testing.assert_allclose(basis[k][mirror] * MIRROR, basis[k],
                               atol=atol, err_msg=name)
  for k, name in enumerate(builder.IDENTITY_NAMES):
    # The sculpted modes inherit the nose's asymmetry (see test_sdf.py).
    atol = 2.5e-3 if name in sdf.knob_modes() else 1e-5
    np.testing.assert_allclose(arrays.identity_basis[k][mirror] * MIRROR,
                               arrays.identity_basis[k], atol=atol,
                               err_msg=name)


def test_every_mode_moves_something_and_eyeballs_stay_rigid(arrays, parts):
  for basis, names in ((arrays.identity_basis, builder.IDENTITY_NAMES),
                       (arrays.expression_basis, builder.EXPRESSION_NAMES)):
    for k, name in enumerate(names):
      size = np.linalg.norm(basis[k], axis=1)
      assert 1e-3 < size.max() < 0.3, name
      for eye in ("right_eye", "left_eye"):
        start, stop = parts[eye]
        np.testing.assert_allclose(basis[k, start:stop],
                                   basis[k, start:start + 1].repeat(
                                       stop - start, 0), atol=1e-7,
                                   err_msg=f"{name} {eye}")
  # Expressions leave the eyeballs (gaze moves them) and sockets alone.
  start = parts["sockets"][0]
  assert np.all(arrays.expression_basis[:, start:] == 0)
  # Only the skin and the mouth interior change expression.
  skin_or_mouth = np.zeros(len(arrays.mean), bool)
  skin_or_mouth[:parts["mouth"][1]] = True
  assert np.all(arrays.expression_basis[:, ~skin_or_mouth] == 0)
  # Sided blendshapes move their own side (subject's left is +x).
  for k, name in enumerate(builder.EXPRESSION_NAMES):
    if not name.endswith(("Left", "Right")) or name.startswith("jaw"):
      continue
    size = np.linalg.norm(arrays.expression_basis[k], axis=1)
    x = arrays.mean[:, 0]
    own = x > 0 if name.endswith("Left") else x < 0
    assert size[own].sum() > 20 * size[~own].sum(), name


def test_landmarks(arrays, grid, mirror):
  lm = arrays.landmarks
  assert len(set(lm.tolist())) == 68
  assert lm.min() >= 0 and lm.max() < arrays.num_skin
  x = arrays.mean[lm, 0]
  # Subject's right (first of each pair) at -x, image left.
  for right, left in IBUG_PAIRS:
    assert x[right] < 0 < x[left], (right, left)
    np.testing.assert_allclose(arrays.mean[lm[right]] * MIRROR,
                               arrays.mean[lm[left]], atol=1e-3,
                               err_msg=str((right, left)))
  np.testing.assert_allclose(x[list(IBUG_MIDLINE)], 0.0, atol=1e-6)
  assert sorted([k for pair in IBUG_PAIRS for k in pair] +
                list(IBUG_MIDLINE)) == list(range(68))
  # Eye corners are slit corners, the lids and inner lips upper/lower copies.
  for ids, slit, side in (((36, 39), 1, 0), ((37, 38), 1, 1),
                          ((40, 41), 1, -1), ((42, 45), 2, 0),
                          ((43, 44), 2, 1), ((46, 47), 2, -1),
                          ((60, 64), 3, 0), ((61, 62, 63), 3, 1),
                          ((65, 66, 67), 3, -1)):
    for k in ids:
      assert grid.slit[lm[k]] == slit and grid.side[lm[k]] == side, k
  y = arrays.mean[lm, 1]
  # Vertical order: brows over eyes over the nose tip over the mouth over
  # the chin, and the nose tip in front.
  assert y[17:27].min() > y[36:48].max()
  assert y[36:48].min() > y[30] > y[48:68].max()
  assert y[48:68].min() > y[8]
  assert arrays.mean[lm[30], 2] == arrays.mean[:arrays.num_skin, 2].max()
