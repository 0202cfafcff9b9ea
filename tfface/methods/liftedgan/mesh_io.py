"""Writing (and reading back) meshes: Wavefront OBJ with a texture, ASCII PLY
with vertex colours. Every file is written to a temporary name and renamed."""

import io
import os
from typing import Dict, Optional

import numpy as np


def atomic_write(path: str, data: bytes) -> None:
  """Writes ``data`` to ``path`` via a temporary file and a rename."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(data)
  os.replace(tmp, path)


def atomic_save_npy(path: str, array: np.ndarray) -> None:
  buffer = io.BytesIO()
  np.save(buffer, array)
  atomic_write(path, buffer.getvalue())


def _check(vertices, faces):
  vertices = np.asarray(vertices, np.float32)
  faces = np.asarray(faces, np.int64)
  if vertices.ndim != 2 or vertices.shape[1] != 3:
    raise ValueError(f"vertices must be [V, 3], got shape {vertices.shape}")
  if faces.ndim != 2 or faces.shape[1] != 3:
    raise ValueError(f"faces must be [F, 3], got shape {faces.shape}")
  if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
    raise ValueError(f"faces index vertices 0..{len(vertices) - 1}, got "
                     f"{faces.min()}..{faces.max()}")
  return vertices, faces


def write_obj(path: str, vertices, faces, uv=None,
              texture_file: Optional[str] = None) -> None:
  """Wavefront OBJ (+ ``.mtl`` next to it when a texture is given).

  Args:
    path: the ``.obj`` to write.
    vertices: `[V, 3]` float.
    faces: `[F, 3]` int, 0-based vertex indices (written 1-based).
    uv: `[V, 2]` texture coordinates in [0, 1] (one per vertex), or None.
    texture_file: the texture image's file name, relative to the OBJ.
  """
  vertices, faces = _check(vertices, faces)
  lines = ["# tfface LiftedGAN mesh"]
  if texture_file:
    mtl = os.path.splitext(path)[0] + ".mtl"
    atomic_write(mtl, (f"newmtl face\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\n"
                       f"map_Kd {texture_file}\n").encode())
    lines += [f"mtllib {os.path.basename(mtl)}", "usemtl face"]
  lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
  if uv is not None:
    uv = np.asarray(uv, np.float32)
    if uv.shape != (len(vertices), 2):
      raise ValueError(f"uv must be [{len(vertices)}, 2], got {uv.shape}")
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in uv]
    lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in faces + 1]
  else:
    lines += [f"f {a} {b} {c}" for a, b, c in faces + 1]
  atomic_write(path, ("\n".join(lines) + "\n").encode())


def write_ply(path: str, vertices, faces, colors=None) -> None:
  """ASCII PLY with optional uchar vertex colours `[V, 3]`."""
  vertices, faces = _check(vertices, faces)
  header = ["ply", "format ascii 1.0", f"element vertex {len(vertices)}",
            "property float x", "property float y", "property float z"]
  if colors is not None:
    colors = np.asarray(colors, np.uint8)
    if colors.shape != (len(vertices), 3):
      raise ValueError(f"colors must be [{len(vertices)}, 3], got "
                       f"{colors.shape}")
    header += ["property uchar red", "property uchar green",
               "property uchar blue"]
  header += [f"element face {len(faces)}",
             "property list uchar int vertex_indices", "end_header"]
  body = []
  for i, (x, y, z) in enumerate(vertices):
    line = f"{x:.6f} {y:.6f} {z:.6f}"
    if colors is not None:
      line += " %d %d %d" % tuple(colors[i])
    body.append(line)
  body += [f"3 {a} {b} {c}" for a, b, c in faces]
  atomic_write(path, ("\n".join(header + body) + "\n").encode())


def read_obj(path: str) -> Dict[str, np.ndarray]:
  """``vertices`` `[V, 3]`, ``uv`` `[T, 2]`, ``faces`` `[F, 3]` (0-based)."""
  vertices, uv, faces = [], [], []
  with open(path) as f:
    for line in f:
      parts = line.split()
      if not parts:
        continue
      if parts[0] == "v":
        vertices.append([float(p) for p in parts[1:4]])
      elif parts[0] == "vt":
        uv.append([float(p) for p in parts[1:3]])
      elif parts[0] == "f":
        faces.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
  return {"vertices": np.array(vertices, np.float32).reshape(-1, 3),
          "uv": np.array(uv, np.float32).reshape(-1, 2),
          "faces": np.array(faces, np.int64).reshape(-1, 3)}


def read_ply(path: str) -> Dict[str, np.ndarray]:
  """``vertices`` `[V, 3]`, ``colors`` `[V, 3]` (if any), ``faces`` `[F, 3]`
  of an ASCII PLY written by :func:`write_ply`."""
  with open(path) as f:
    lines = f.read().splitlines()
  end = lines.index("end_header")
  header = lines[:end]
  num_vertices = int([l for l in header if l.startswith("element vertex")][0]
                     .split()[-1])
  num_faces = int([l for l in header if l.startswith("element face")][0]
                  .split()[-1])
  rows = [l.split() for l in lines[end + 1:end + 1 + num_vertices]]
  data = np.array(rows, np.float64).reshape(num_vertices, -1)
  faces = np.array([l.split()[1:4] for l in
                    lines[end + 1 + num_vertices:end + 1 + num_vertices +
                          num_faces]], np.int64).reshape(-1, 3)
  out = {"vertices": data[:, :3].astype(np.float32), "faces": faces}
  if data.shape[1] >= 6:
    out["colors"] = data[:, 3:6].astype(np.uint8)
  return out
