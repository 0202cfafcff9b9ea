"""Controlling a trained LiftedGAN: sample, render at any pose and light,
export the 3D components and a textured mesh, pose and lighting sweeps.

Angles are tfface's: radians (degrees where the name says so), Euler
(pitch, yaw, roll) applied as the renderer's rotation R = Rz·Ry·Rx about the
point (0, 0, 1) in front of the camera. Views shift the face sideways as the
reference's ``tools/generate_poses.py`` does (tx = 0.1 · sin(v_yaw),
ty = −0.2 · sin(v_pitch) in normalised units, the sine of the *normalised*
angle, its quirk kept so sweeps look the same), which keeps a turned head
near the image centre.

:func:`generate_from_run` is ``tools/generate.py liftedgan``.
"""

import json
import os
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfface.methods.liftedgan import mesh_io
from tfface.methods.liftedgan import model as model_lib
from tfface.rendering import depth_renderer as dr

# The reference's lighting sweep: raw l0 = 0.2, l1 = 0.8 (ambient 0.6,
# diffuse 0.9), dx = tan(angle), dy = 0.
SWEEP_AMBIENT, SWEEP_DIFFUSE = 0.2, 0.8


def make_view(model: model_lib.LiftedGAN, yaw, pitch, roll=0.0,
              recentre: bool = True) -> tf.Tensor:
  """Normalised view `[B, 6]` for angles `[B]` (radians).

  Args:
    model: the 3D generator (its rotation range, 60°).
    yaw, pitch, roll: `[B]` or scalars, radians.
    recentre: add the reference's sideways shift (see the module docstring).
  """
  yaw, pitch, roll = [tf.reshape(tf.cast(a, tf.float32), [-1])
                      for a in (yaw, pitch, roll)]
  batch = tf.reduce_max(tf.stack([tf.size(yaw), tf.size(pitch),
                                  tf.size(roll)]))
  yaw, pitch, roll = [tf.broadcast_to(a, [batch]) for a in (yaw, pitch, roll)]
  scale = 1.0 / model.renderer.rotation_range
  vp, vy, vr = pitch * scale, yaw * scale, roll * scale
  zeros = tf.zeros_like(vy)
  tx = 0.1 * tf.sin(vy) if recentre else zeros
  ty = -0.2 * tf.sin(vp) if recentre else zeros
  return tf.stack([vp, vy, vr, tx, ty, zeros], -1)


def make_light(ambient, diffuse, direction_x, direction_y) -> tf.Tensor:
  """Normalised light `[B, 4]` (l0, l1, dx, dy); ambient = l0 / 2 + 0.5,
  diffuse = l1 / 2 + 0.5, direction normalize(dx, dy, 1)."""
  parts = [tf.reshape(tf.cast(a, tf.float32), [-1])
           for a in (ambient, diffuse, direction_x, direction_y)]
  batch = tf.reduce_max(tf.stack([tf.size(p) for p in parts]))
  return tf.stack([tf.broadcast_to(p, [batch]) for p in parts], -1)


def sample_components(model: model_lib.LiftedGAN, z: tf.Tensor,
                      truncation: float = 0.7) -> Dict[str, tf.Tensor]:
  """z `[B, z_dim]` -> :meth:`LiftedGAN.estimate` of its truncated w."""
  return model.estimate(model.generator.mapping(z, truncation))


def render(model: model_lib.LiftedGAN, components: Dict[str, tf.Tensor],
           yaw=None, pitch=None, roll=0.0, light: Optional[tf.Tensor] = None
           ) -> tf.Tensor:
  """Images `[B, R, R, 3]` in [−1, 1] at a pose (radians; None = predicted
  view) and light (`[B, 4]`; None = predicted)."""
  view = None
  if yaw is not None or pitch is not None:
    view = make_view(model, 0.0 if yaw is None else yaw,
                     0.0 if pitch is None else pitch, roll)
    batch = tf.shape(components["depth"])[0]
    view = tf.broadcast_to(view, [batch, 6])
  if light is not None:
    light = tf.broadcast_to(tf.cast(light, tf.float32),
                            [tf.shape(components["depth"])[0], 4])
  image = model.render(components, view, light)["image"]
  return tf.clip_by_value(image, -1.0, 1.0)


def grid(rows: Sequence[Sequence[tf.Tensor]]) -> tf.Tensor:
  """Tiles `[B, H, W, 3]` images: rows[i][j] is column j of row block i.

  Returns `[1, B·len(rows)·H, len(rows[0])·W, 3]`.
  """
  blocks = []
  for row in rows:
    blocks.append(tf.concat(list(row), axis=2))  # [B, H, cols·W, 3]
  stacked = tf.concat(blocks, axis=0)
  shape = tf.shape(stacked)
  return tf.reshape(stacked, [1, shape[0] * shape[1], shape[2], 3])


def yaw_sweep_grid(model, z, yaws_degrees=(-45.0, -30.0, -15.0, 0.0, 15.0,
                                            30.0, 45.0),
                   truncation: float = 0.7) -> tf.Tensor:
  """One row per z, one column per yaw: `[1, B·R, len(yaws)·R, 3]`."""
  comps = sample_components(model, z, truncation)
  return grid([[render(model, comps, yaw=np.deg2rad(y), pitch=0.0)
                for y in yaws_degrees]])


def pitch_sweep_grid(model, z, pitches_degrees=(-15.0, -7.5, 0.0, 7.5, 15.0),
                     truncation: float = 0.7) -> tf.Tensor:
  """One row per z, one column per pitch."""
  comps = sample_components(model, z, truncation)
  return grid([[render(model, comps, yaw=0.0, pitch=np.deg2rad(p))
                for p in pitches_degrees]])


def light_sweep_grid(model, z, angles_degrees=(-60.0, -30.0, 0.0, 30.0, 60.0),
                     truncation: float = 0.7) -> tf.Tensor:
  """One row per z, one column per horizontal light angle (the reference's
  ``generate_lighting.py``: dx = tan(angle), frontal view)."""
  comps = sample_components(model, z, truncation)
  return grid([[render(model, comps, yaw=0.0, pitch=0.0,
                       light=make_light(SWEEP_AMBIENT, SWEEP_DIFFUSE,
                                        np.tan(np.deg2rad(a)), 0.0))
                for a in angles_degrees]])


def component_images(model: model_lib.LiftedGAN,
                     components: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  """Viewable `[B, R, R, 3]` images in [−1, 1] of the 3D components:
  ``depth`` (near = bright), ``albedo``, ``normal`` ((n + 1) / 2 as RGB),
  ``shading`` (frontal light) and ``transformation`` (T)."""
  depth = components["depth"]
  span = model.max_depth - model.min_depth
  near = 1.0 - 2.0 * (depth - model.min_depth) / span
  normal = components["normals"] * tf.constant([1.0, -1.0, -1.0])
  shading = model.renderer.shade(depth, components["albedo"],
                                 components["light"])["shading"]
  as_rgb = lambda x: tf.tile(tf.clip_by_value(x, -1.0, 1.0), [1, 1, 1, 3])
  return {"depth": as_rgb(near),
          "albedo": tf.clip_by_value(components["albedo"], -1.0, 1.0),
          "normal": tf.clip_by_value(normal, -1.0, 1.0),
          "shading": as_rgb(shading - 1.0),
          "transformation": as_rgb(components["transformation"] * 2.0 - 1.0)}


def write_png(path: str, image) -> None:
  """Writes `[H, W, 3]` or `[1, H, W, 3]` in [−1, 1] as an 8-bit PNG,
  atomically."""
  image = tf.convert_to_tensor(image, tf.float32)
  if image.shape.rank == 4:
    image = image[0]
  pixels = tf.cast(tf.round((tf.clip_by_value(image, -1.0, 1.0) + 1.0) *
                            127.5), tf.uint8)
  mesh_io.atomic_write(path, tf.io.encode_png(pixels).numpy())


def export_components(model: model_lib.LiftedGAN,
                      components: Dict[str, tf.Tensor], output_dir: str,
                      index: int = 0, prefix: str = "face",
                      face_only: bool = False) -> Dict[str, str]:
  """Writes one sample's 3D components and textured mesh.

  Files (``<prefix>`` = ``face_<index>``): ``_depth.png``, ``_albedo.png``,
  ``_normal.png``, ``_depth.npy`` (float32 `[R, R]`), ``.obj`` + ``.mtl``
  + ``_texture.png`` (UV-textured with the albedo), ``.ply`` (vertex colours:
  the albedo).

  Returns:
    kind -> path.
  """
  os.makedirs(output_dir, exist_ok=True)
  name = f"{prefix}_{index}"
  images = component_images(model, {k: v[index:index + 1]
                                    for k, v in components.items()})
  paths = {}
  for kind in ("depth", "albedo", "normal"):
    paths[kind] = os.path.join(output_dir, f"{name}_{kind}.png")
    write_png(paths[kind], images[kind])
  depth = components["depth"][index, :, :, 0].numpy()
  paths["depth_npy"] = os.path.join(output_dir, f"{name}_depth.npy")
  mesh_io.atomic_save_npy(paths["depth_npy"], depth.astype(np.float32))
  mesh = mesh_from_components(model, components, index, face_only)
  paths["texture"] = os.path.join(output_dir, f"{name}_texture.png")
  write_png(paths["texture"], components["albedo"][index])
  paths["obj"] = os.path.join(output_dir, f"{name}.obj")
  mesh_io.write_obj(paths["obj"], mesh["vertices"], mesh["faces"],
                    mesh["uv"], os.path.basename(paths["texture"]))
  paths["ply"] = os.path.join(output_dir, f"{name}.ply")
  mesh_io.write_ply(paths["ply"], mesh["vertices"], mesh["faces"],
                    mesh["colors"])
  return paths


def mesh_from_components(model: model_lib.LiftedGAN,
                         components: Dict[str, tf.Tensor], index: int = 0,
                         face_only: bool = False) -> Dict[str, np.ndarray]:
  """The canonical grid mesh of one sample.

  Vertices are the unprojected depth map in a y-up, z-toward-the-viewer frame
  ((x, −y, −z) of the camera frame, recentred on the rotation centre), one
  per pixel; two triangles per pixel quad
  (:func:`~tfface.rendering.depth_renderer.grid_triangles`, winding flipped
  so faces point toward the viewer); ``face_only`` keeps the triangles whose
  three vertices lie on the face (depth <= border − 0.01).

  Returns:
    ``vertices`` `[R², 3]` float32, ``faces`` `[F, 3]` int32, ``uv``
    `[R², 2]` float32 in [0, 1], ``colors`` `[R², 3]` uint8 (albedo).
  """
  depth = components["depth"][index:index + 1]
  points = model.renderer.unproject(depth)[0].numpy().reshape(-1, 3)
  points = points - np.array([0.0, 0.0, model.renderer.rot_center_depth])
  vertices = (points * np.array([1.0, -1.0, -1.0])).astype(np.float32)
  height, width = model.renderer.image_size
  faces = dr.grid_triangles(height, width)[:, ::-1].copy()
  if face_only:
    face = (depth[0, :, :, 0].numpy() <=
            model.border_depth - 0.01).reshape(-1)
    faces = faces[face[faces].all(axis=1)]
  v, u = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  uv = np.stack([u.ravel() / max(width - 1, 1),
                 1.0 - v.ravel() / max(height - 1, 1)], -1).astype(np.float32)
  albedo = np.clip(components["albedo"][index].numpy(), -1.0, 1.0)
  colors = np.round((albedo.reshape(-1, 3) + 1.0) * 127.5).astype(np.uint8)
  return {"vertices": vertices, "faces": faces.astype(np.int32), "uv": uv,
          "colors": colors}


def generate_from_run(run_dir: str, output_dir: str, num_samples: int = 4,
                      truncation: float = 0.7, seed: int = 0,
                      num_meshes: int = 1, face_only: bool = False
                      ) -> Dict[str, object]:
  """``tools/generate.py liftedgan``: :func:`generate` on a restored run."""
  from tfface.training import restore  # pylint: disable=g-import-not-at-top
  if int(num_samples) < 1:
    raise ValueError(f"--num_samples must be >= 1, got {num_samples!r}")
  model = restore.restore_run(run_dir).model
  summary = generate(model, output_dir, num_samples, truncation, seed,
                     num_meshes, face_only)
  summary["run_dir"] = run_dir
  mesh_io.atomic_write(os.path.join(output_dir, "generate.json"),
                       json.dumps(summary, indent=1).encode())
  return summary


def generate(model: model_lib.LiftedGAN, output_dir: str,
             num_samples: int = 4, truncation: float = 0.7, seed: int = 0,
             num_meshes: int = 1, face_only: bool = False
             ) -> Dict[str, object]:
  """Sweeps and components of a 3D generator.

  Writes ``yaw_sweep.png`` (−45°..45°), ``pitch_sweep.png`` (−15°..15°),
  ``light_sweep.png`` (−60°..60°), ``samples.png`` (each StyleGAN2 face above
  its 3D re-render at the predicted view and light), and
  :func:`export_components` for the first ``num_meshes`` samples.

  Returns:
    ``{"num_samples", "truncation", "seed", "files": {name: path}}``.
  """
  if int(num_samples) < 1:
    raise ValueError(f"--num_samples must be >= 1, got {num_samples!r}")
  z = tf.random.stateless_normal([int(num_samples), model.z_dim], [seed, 11])
  os.makedirs(output_dir, exist_ok=True)
  files = {}
  sweeps = {"yaw_sweep": yaw_sweep_grid, "pitch_sweep": pitch_sweep_grid,
            "light_sweep": light_sweep_grid}
  for name, fn in sweeps.items():
    files[name] = os.path.join(output_dir, f"{name}.png")
    write_png(files[name], fn(model, z, truncation=truncation))
  comps = sample_components(model, z, truncation)
  w = model.generator.mapping(z, truncation)
  original = tf.clip_by_value(model.generator(w), -1.0, 1.0)
  files["samples"] = os.path.join(output_dir, "samples.png")
  write_png(files["samples"], grid([[original, render(model, comps)]]))
  for i in range(min(int(num_meshes), int(num_samples))):
    for kind, path in export_components(model, comps, output_dir, i,
                                        face_only=face_only).items():
      files[f"{kind}_{i}"] = path
  return {"num_samples": int(num_samples), "truncation": float(truncation),
          "seed": int(seed), "files": files}
