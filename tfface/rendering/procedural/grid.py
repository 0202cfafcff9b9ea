"""Latitude/longitude grid of the procedural head with eye and mouth slits.

The head surface is a sphere-topology grid seen from a centre point `ORIGIN`
placed inside the head at eye height. Vertex (row, column) sits on the ray
with elevation `el` (up positive) and azimuth `az` (0 looks along +z, positive
toward +x). Rows are denser over the face, columns denser at the front.

Three *slits* cut the grid along a row: one per eye (at elevation 0, the eye
row) and the mouth (the mouth row). The slit's interior vertices are
duplicated; the triangles above the row use the originals ("upper" copies),
the ones below use the duplicates ("lower" copies). The slit's end vertices
(eye corners, mouth corners) stay shared. Displacing upper and lower copies
apart opens an eye or the mouth; moving them together closes it.
"""

import dataclasses
from typing import Tuple

import numpy as np

# Ray origin of the head grid: inside the head, at eye height.
ORIGIN = np.array([0.0, 0.29, -0.35])

# Azimuths (radians) of the eye corners (inner, outer) and of the mouth
# corners, and the mouth row's elevation, all seen from ORIGIN.
EYE_AZIMUTHS = (np.deg2rad(13.5), np.deg2rad(43.0))
MOUTH_AZIMUTH = np.deg2rad(21.5)
MOUTH_ELEVATION = np.deg2rad(-43.0)


@dataclasses.dataclass
class HeadGrid:
  """The head surface topology.

  Attributes:
    elevation: `[V]` float64 radians of each vertex's ray.
    azimuth: `[V]` float64 radians.
    side: `[V]` int8: +1 upper copy of a slit vertex, -1 lower copy, 0 other.
    slit: `[V]` int8: 0 none, 1 right eye (-x), 2 left eye (+x), 3 mouth.
    triangles: `[T, 3]` int32, counter-clockwise seen from outside.
    row: `[V]` int32 row index (-1 top pole, R bottom pole).
    column: `[V]` int32 column index (-1 for the poles).
    rows: `[R]` elevations of the rows (top to bottom).
    columns: `[C]` azimuths of the columns.
  """
  elevation: np.ndarray
  azimuth: np.ndarray
  side: np.ndarray
  slit: np.ndarray
  triangles: np.ndarray
  row: np.ndarray
  column: np.ndarray
  rows: np.ndarray
  columns: np.ndarray
  eye_row: int
  mouth_row: int


def _segment(start: float, stop: float, step: float, include_stop=False):
  n = max(1, int(np.ceil(abs(stop - start) / step - 1e-6)))
  values = np.linspace(start, stop, n + 1)
  return values if include_stop else values[:-1]


def _row_elevations(step: float) -> Tuple[np.ndarray, int, int]:
  """Row elevations top to bottom (poles excluded); eye and mouth rows."""
  deg = np.deg2rad
  coarse = 2.5 * step
  parts = [
      _segment(deg(90), deg(55), coarse)[1:],  # skip the pole itself
      _segment(deg(55), deg(35), 1.6 * step),
      _segment(deg(35), 0.0, step),
  ]
  top = np.concatenate(parts)
  eye_row = len(top)
  middle = _segment(0.0, MOUTH_ELEVATION, step)
  mouth_row = eye_row + len(middle)
  bottom = np.concatenate([
      _segment(MOUTH_ELEVATION, deg(-72), step),
      _segment(deg(-72), deg(-90), coarse)
  ])[:]
  rows = np.concatenate([top, middle, bottom])
  # The bottom pole (-90 deg) is added separately.
  rows = rows[rows > deg(-89.9)]
  return rows, eye_row, mouth_row


def _column_azimuths(step: float) -> np.ndarray:
  """Symmetric column azimuths in (-pi, pi], including 0, dense in front."""
  deg = np.deg2rad
  pos = np.concatenate([
      _segment(0.0, EYE_AZIMUTHS[0], step),
      _segment(EYE_AZIMUTHS[0], EYE_AZIMUTHS[1], step),
      _segment(EYE_AZIMUTHS[1], deg(85), step),
      _segment(deg(85), deg(120), 1.8 * step),
      _segment(deg(120), deg(180), 3.0 * step, include_stop=True),
  ])
  # Snap one column exactly onto the mouth corner azimuth.
  k = np.argmin(np.abs(pos - MOUTH_AZIMUTH))
  if k not in (0,) and abs(pos[k] - EYE_AZIMUTHS[0]) > 1e-9:
    pos[k] = MOUTH_AZIMUTH
  neg = -pos[1:-1][::-1]
  return np.concatenate([neg, pos])


def build_grid(resolution: int) -> HeadGrid:
  """Builds the slit head grid; `resolution` 1..8 scales the density."""
  step = np.deg2rad(4.5) / resolution
  rows, eye_row, mouth_row = _row_elevations(step)
  columns = _column_azimuths(step)
  num_rows, num_cols = len(rows), len(columns)
  grid_index = 1 + np.arange(num_rows * num_cols).reshape(num_rows, num_cols)
  bottom_pole = 1 + num_rows * num_cols

  elevation = [np.pi / 2]
  azimuth = [0.0]
  row = [-1]
  column = [-1]
  rr, cc = np.meshgrid(np.arange(num_rows), np.arange(num_cols),
                       indexing="ij")
  elevation += list(rows[rr].ravel())
  azimuth += list(columns[cc].ravel())
  row += list(rr.ravel())
  column += list(cc.ravel())
  elevation.append(-np.pi / 2)
  azimuth.append(0.0)
  row.append(num_rows)
  column.append(-1)
  num_base = len(elevation)
  side = np.zeros(num_base, np.int8)
  slit = np.zeros(num_base, np.int8)

  # Slit interiors: duplicate the vertices strictly between the corners.
  lower_copy = {}
  eps = 1e-9
  slit_specs = [
      (eye_row, -EYE_AZIMUTHS[1], -EYE_AZIMUTHS[0], 1),
      (eye_row, EYE_AZIMUTHS[0], EYE_AZIMUTHS[1], 2),
      (mouth_row, -MOUTH_AZIMUTH, MOUTH_AZIMUTH, 3),
  ]
  for slit_row, a0, a1, slit_id in slit_specs:
    inside = np.nonzero((columns > a0 + eps) & (columns < a1 - eps))[0]
    for j in inside:
      original = grid_index[slit_row, j]
      side[original] = 1
      slit[original] = slit_id
      lower_copy[original] = len(elevation)
      elevation.append(rows[slit_row])
      azimuth.append(columns[j])
      row.append(slit_row)
      column.append(j)
    # Corners belong to the slit too (shared by both lips/lids).
    for a in (a0, a1):
      j = int(np.argmin(np.abs(columns - a)))
      slit[grid_index[slit_row, j]] = slit_id
  num_vertices = len(elevation)
  side = np.concatenate([side, -np.ones(num_vertices - num_base, np.int8)])
  slit_all = np.zeros(num_vertices, np.int8)
  slit_all[:num_base] = slit
  for original, copy in lower_copy.items():
    slit_all[copy] = slit[original]

  def below(index_array):
    """Maps upper copies to their lower copies (for triangles below a row)."""
    return np.array([lower_copy.get(int(i), int(i)) for i in index_array])

  triangles = []
  for i in range(num_rows - 1):
    for j in range(num_cols):
      j1 = (j + 1) % num_cols
      a, b = grid_index[i, j], grid_index[i, j1]
      d, c = grid_index[i + 1, j], grid_index[i + 1, j1]
      a, b = below([a, b])
      triangles.append((a, d, c))
      triangles.append((a, c, b))
  for j in range(num_cols):
    j1 = (j + 1) % num_cols
    triangles.append((0, grid_index[0, j], grid_index[0, j1]))
    triangles.append((bottom_pole, grid_index[-1, j1], grid_index[-1, j]))
  triangles = np.asarray(triangles, np.int32)
  return HeadGrid(
      elevation=np.asarray(elevation),
      azimuth=np.asarray(azimuth),
      side=side,
      slit=slit_all,
      triangles=triangles,
      row=np.asarray(row, np.int32),
      column=np.asarray(column, np.int32),
      rows=rows,
      columns=columns,
      eye_row=eye_row,
      mouth_row=mouth_row)


def directions(elevation: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
  """Unit ray directions `[N, 3]` for elevation/azimuth radians."""
  ce = np.cos(elevation)
  return np.stack(
      [ce * np.sin(azimuth),
       np.sin(elevation), ce * np.cos(azimuth)], axis=-1)
