"""Tests for tfface.rendering.procedural.grid: the slit head grid topology."""

import collections

import numpy as np
import pytest

from tfface.rendering.procedural import grid as grid_lib

RESOLUTIONS = (1, 2)


@pytest.fixture(scope="module", params=RESOLUTIONS)
def grid(request):
  return grid_lib.build_grid(request.param)


def _unit_positions(g):
  return grid_lib.directions(g.elevation, g.azimuth)


def _edges(triangles):
  directed = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]],
                             triangles[:, [2, 0]]])
  undirected = collections.Counter(map(tuple, np.sort(directed, axis=1)))
  return directed, undirected


def test_per_vertex_arrays_and_triangle_indices(grid):
  num_v = len(grid.elevation)
  for name in ("azimuth", "side", "slit", "row", "column"):
    assert getattr(grid, name).shape == (num_v,), name
  assert grid.side.dtype == np.int8 and grid.slit.dtype == np.int8
  tris = grid.triangles
  assert tris.dtype == np.int32 and tris.ndim == 2 and tris.shape[1] == 3
  assert tris.min() >= 0 and tris.max() < num_v
  # Every vertex is used, no triangle repeats a vertex.
  np.testing.assert_array_equal(np.unique(tris), np.arange(num_v))
  assert np.all((tris[:, 0] != tris[:, 1]) & (tris[:, 1] != tris[:, 2]) &
                (tris[:, 0] != tris[:, 2]))
  # Two poles, R x C grid vertices, one lower copy per upper copy.
  num_r, num_c = len(grid.rows), len(grid.columns)
  upper, lower = np.sum(grid.side == 1), np.sum(grid.side == -1)
  assert upper == lower > 0
  assert num_v == num_r * num_c + 2 + lower
  # Poles at rows -1 and R, column -1; grid vertices in row-major order.
  assert (grid.row[0], grid.column[0]) == (-1, -1)
  bottom = num_r * num_c + 1
  assert (grid.row[bottom], grid.column[bottom]) == (num_r, -1)
  np.testing.assert_allclose(grid.elevation[[0, bottom]],
                             [np.pi / 2, -np.pi / 2])
  rr, cc = np.divmod(np.arange(num_r * num_c), num_c)
  np.testing.assert_array_equal(grid.row[1:bottom], rr)
  np.testing.assert_array_equal(grid.column[1:bottom], cc)
  np.testing.assert_array_equal(grid.elevation[1:bottom], grid.rows[rr])
  np.testing.assert_array_equal(grid.azimuth[1:bottom], grid.columns[cc])


def test_rows_and_columns(grid):
  rows, cols = grid.rows, grid.columns
  assert np.all(np.diff(rows) < 0)  # top to bottom
  assert -np.pi / 2 < rows.min() and rows.max() < np.pi / 2
  assert np.all(np.diff(cols) > 0)
  assert -np.pi < cols.min() and cols.max() == pytest.approx(np.pi)
  # Symmetric about azimuth 0 (the column at +pi is its own mirror).
  np.testing.assert_allclose(np.sort(-cols[:-1]), cols[:-1], atol=1e-12)
  assert np.min(np.abs(cols)) == 0.0
  # The eye row is at elevation 0, the mouth row at MOUTH_ELEVATION, and
  # columns run exactly through the eye and mouth corners.
  assert grid.rows[grid.eye_row] == pytest.approx(0.0, abs=1e-12)
  assert grid.rows[grid.mouth_row] == pytest.approx(grid_lib.MOUTH_ELEVATION,
                                                     abs=1e-12)
  assert grid.mouth_row > grid.eye_row
  for corner in (*grid_lib.EYE_AZIMUTHS, grid_lib.MOUTH_AZIMUTH):
    for sign in (-1, 1):
      assert np.min(np.abs(cols - sign * corner)) < 1e-12
  # Denser over the face than at the back and the poles.
  front = np.diff(cols)[np.abs(cols[:-1]) < np.deg2rad(40)]
  back = np.diff(cols)[np.abs(cols[:-1]) > np.deg2rad(130)]
  assert front.max() < back.min()


def test_density_scales_with_resolution():
  coarse, fine = grid_lib.build_grid(1), grid_lib.build_grid(2)
  assert len(fine.rows) > 1.8 * len(coarse.rows)
  assert len(fine.columns) > 1.8 * len(coarse.columns)
  assert len(fine.triangles) > 3.5 * len(coarse.triangles)


def test_closed_sphere_with_three_slits(grid):
  num_v = len(grid.elevation)
  directed, undirected = _edges(grid.triangles)
  # Consistently oriented: no directed edge twice.
  assert len(np.unique(directed, axis=0)) == len(directed)
  counts = np.array(list(undirected.values()))
  assert set(counts.tolist()) == {1, 2}
  # A sphere with three holes: V - E + F = 2 - 3.
  assert num_v - len(undirected) + len(grid.triangles) == -1
  # The open edges are exactly the slits: three closed loops, one per slit.
  boundary = [e for e, n in undirected.items() if n == 1]
  degree = collections.Counter(v for e in boundary for v in e)
  assert set(degree.values()) == {2}
  assert all(grid.slit[v] != 0 for v in degree)
  adjacency = collections.defaultdict(list)
  for a, b in boundary:
    adjacency[a].append(b)
    adjacency[b].append(a)
  loops, seen = [], set()
  for start in degree:
    if start in seen:
      continue
    stack, loop = [start], set()
    while stack:
      v = stack.pop()
      if v not in loop:
        loop.add(v)
        stack.extend(adjacency[v])
    seen |= loop
    loops.append(loop)
  assert len(loops) == 3
  assert sorted({int(grid.slit[v]) for v in loop}.pop() for loop in loops) == [
      1, 2, 3]
  for loop in loops:
    assert len({int(grid.slit[v]) for v in loop}) == 1
    # Each loop is the upper path plus the lower path between two corners.
    sides = collections.Counter(int(grid.side[v]) for v in loop)
    assert sides[0] == 2 and sides[1] == sides[-1] > 0


def test_slit_copies_and_corners(grid):
  upper = np.nonzero(grid.side == 1)[0]
  lower = np.nonzero(grid.side == -1)[0]
  key = lambda v: (int(grid.row[v]), int(grid.column[v]))
  by_key = {key(v): v for v in upper}
  assert len(by_key) == len(upper)
  for v in lower:
    original = by_key[key(v)]  # every lower copy duplicates an upper one
    assert grid.elevation[v] == grid.elevation[original]
    assert grid.azimuth[v] == grid.azimuth[original]
    assert grid.slit[v] == grid.slit[original] != 0
  # Slit rows and sides: eyes on the eye row (right eye at -x), the mouth on
  # the mouth row, interiors strictly between the corners.
  a_in, a_out = grid_lib.EYE_AZIMUTHS
  a_m = grid_lib.MOUTH_AZIMUTH
  for slit_id, row, lo, hi in ((1, grid.eye_row, -a_out, -a_in),
                               (2, grid.eye_row, a_in, a_out),
                               (3, grid.mouth_row, -a_m, a_m)):
    members = np.nonzero(grid.slit == slit_id)[0]
    assert np.all(grid.row[members] == row)
    az = grid.azimuth[members]
    assert np.all((az >= lo - 1e-12) & (az <= hi + 1e-12))
    corners = members[grid.side[members] == 0]
    np.testing.assert_allclose(np.sort(grid.azimuth[corners]), [lo, hi],
                               atol=1e-12)
    interior = members[grid.side[members] != 0]
    assert np.all((grid.azimuth[interior] > lo + 1e-9) &
                  (grid.azimuth[interior] < hi - 1e-9))
  assert np.all(grid.slit[grid.side != 0] != 0)


def test_upper_copies_above_the_slit_lower_copies_below(grid):
  tris = grid.triangles
  for side, sign in ((1, -1), (-1, 1)):
    copies = np.nonzero(grid.side == side)[0]
    uses = np.isin(tris, copies)
    assert uses.any()
    for t in np.nonzero(uses.any(axis=1))[0]:
      copy = tris[t][uses[t]][0]
      other_rows = grid.row[tris[t]]
      # Upper copies (side +1) only touch the row above (smaller index),
      # lower copies only the row below.
      assert np.all(sign * (other_rows - grid.row[copy]) >= 0), t
  # The triangles of the original and the copy never share a vertex other
  # than the slit corners.
  slit = grid.slit != 0
  above = set(tris[np.isin(tris, np.nonzero(grid.side == 1)[0]).any(axis=1)]
              .ravel().tolist())
  below = set(tris[np.isin(tris, np.nonzero(grid.side == -1)[0]).any(axis=1)]
              .ravel().tolist())
  shared = above & below
  assert all(slit[v] and grid.side[v] == 0 for v in shared)


def test_triangles_counter_clockwise_seen_from_outside(grid):
  points = _unit_positions(grid)
  tris = grid.triangles
  normals = np.cross(points[tris[:, 1]] - points[tris[:, 0]],
                     points[tris[:, 2]] - points[tris[:, 0]])
  centroids = points[tris].mean(axis=1)
  assert np.all(np.einsum("ij,ij->i", normals, centroids) > 0)
  assert np.linalg.norm(normals, axis=1).min() > 1e-6
  # Opening the slits (lower copies down, upper copies up) flips nothing:
  # the lids and lips part without overlapping.
  el = grid.elevation + np.deg2rad(1.0) * grid.side
  opened = grid_lib.directions(el, grid.azimuth)
  normals = np.cross(opened[tris[:, 1]] - opened[tris[:, 0]],
                     opened[tris[:, 2]] - opened[tris[:, 0]])
  assert np.all(np.einsum("ij,ij->i", normals, opened[tris].mean(axis=1)) > 0)


def test_directions():
  deg = np.deg2rad
  el = np.array([0.0, 0.0, 0.0, deg(90.0), deg(-90.0), deg(30.0)])
  az = np.array([0.0, deg(90.0), deg(180.0), deg(45.0), 0.0, deg(-60.0)])
  d = grid_lib.directions(el, az)
  assert d.shape == (6, 3)
  np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-12)
  np.testing.assert_allclose(d[:5], [[0, 0, 1], [1, 0, 0], [0, 0, -1],
                                     [0, 1, 0], [0, -1, 0]], atol=1e-12)
  # Positive elevation is up, negative azimuth toward -x.
  assert d[5, 1] == pytest.approx(0.5) and d[5, 0] < 0 < d[5, 2]
  rng = np.random.default_rng(0)
  el, az = rng.uniform(-1.5, 1.5, 50), rng.uniform(-3, 3, 50)
  np.testing.assert_allclose(grid_lib.directions(el, -az),
                             grid_lib.directions(el, az) * [-1, 1, 1],
                             atol=1e-12)
