"""Editing faces with exported latent models (behind ``tools/edit.py latent``).

Works on the SavedModels alone (:mod:`tfface.methods.latent.export`):

* **attribute edits** with a conditional latent GAN export: each face is
  encoded, its code edited to every class of the condition (or to the given
  classes / values) with ``condition``, and decoded;
* **keypoint transfer** with a keypoint-mapper export: the keypoints of a
  target face (detected with a landmark detector weights file, or given as
  an array, e.g. the true landmarks of a labeled face) are put on the source
  face with ``map_keypoints``.

Both return the images and write one PNG grid: a row per input face, the
columns input | reconstruction | edits (attributes) or source | target |
reconstruction | transfer (keypoints).
"""

import os
from typing import Dict, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from tfface.methods.confignet import editing as confignet_editing
from tfface.methods.latent import export as export_lib

Labels = Union[None, Sequence[Union[int, str]], np.ndarray]


class LatentExport:
  """A loaded latent-model SavedModel with NumPy conveniences.

  Args:
    export_dir: the SavedModel version directory.

  Attributes:
    meta: its ``tfface.json``; ``size`` R, ``code_size`` Z, ``method``.
  """

  def __init__(self, export_dir: str):
    if not tf.io.gfile.exists(os.path.join(export_dir, "saved_model.pb")):
      raise ValueError(f"{export_dir!r} is not a SavedModel directory; "
                       "expected an export version directory such as "
                       "exports/cgan/1")
    self.export_dir = export_dir
    self.loaded, self.meta = export_lib.load_export(export_dir)
    self.size = int(self.meta["resolution"])
    self.code_size = int(self.meta["code_size"])
    self.method = str(self.meta["method"])

  def has(self, signature: str) -> bool:
    return signature in self.loaded.signatures

  def _batched(self, name: str, key: str, batch_size: int = 64, **inputs):
    count = len(next(iter(inputs.values())))
    out = []
    for i in range(0, count, batch_size):
      part = {k: v[i:i + batch_size] for k, v in inputs.items()}
      out.append(export_lib.call_signature(self.loaded, name, **part)[
          key].numpy())
    return np.concatenate(out) if out else np.zeros([0])

  def encode(self, images: np.ndarray) -> np.ndarray:
    """`[N, R, R, 3]` in [-1, 1] -> `[N, Z]`."""
    return self._batched("encode", "z", image=np.asarray(images, np.float32))

  def decode(self, z: np.ndarray) -> np.ndarray:
    """`[N, Z]` -> `[N, R, R, 3]` in [-1, 1]."""
    return self._batched("decode", "image", z=np.asarray(z, np.float32))

  def condition(self, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Codes edited to ``labels`` (class ids `[N]` or values `[N, C]`)."""
    c = self.meta["condition"]
    labels = np.asarray(labels, np.int32 if c["kind"] == "discrete"
                        else np.float32)
    return self._batched("condition", "z", z=np.asarray(z, np.float32),
                         label=labels)

  def map_keypoints(self, z: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """Codes with ``keypoints`` `[N, 68, 2]` pixels (the mapper)."""
    return self._batched("map_keypoints", "z", z=np.asarray(z, np.float32),
                         keypoints=np.asarray(keypoints, np.float32))

  def landmarks(self, z: np.ndarray) -> np.ndarray:
    """The baseline head's `[N, 68, 2]` pixels."""
    return self._batched("landmarks", "keypoints", z=np.asarray(z, np.float32))


def class_ids(meta: Dict[str, object], labels: Labels) -> np.ndarray:
  """Class ids from names or ids; every class when ``labels`` is None.

  Raises:
    ValueError: an unknown class name or an id out of range.
  """
  classes = list(meta["condition"]["classes"])
  if labels is None:
    return np.arange(len(classes))
  out = []
  for label in labels:
    if isinstance(label, str) and not label.lstrip("-").isdigit():
      if label not in classes:
        raise ValueError(f"unknown class {label!r}; the model's condition "
                         f"{meta['condition']['spec']!r} has {classes}")
      out.append(classes.index(label))
    else:
      k = int(label)
      if not 0 <= k < len(classes):
        raise ValueError(f"class id {k} is out of range; the model's "
                         f"condition has {len(classes)} classes {classes}")
      out.append(k)
  return np.asarray(out, np.int32)


def edit_attributes(model: Union[str, LatentExport], images: np.ndarray,
                    labels: Labels = None) -> Dict[str, np.ndarray]:
  """Every face edited to each target condition.

  Args:
    model: a conditional latent GAN export (or its directory).
    images: `[N, R, R, 3]` float32 in [-1, 1].
    labels: target classes (names or ids; default all) of a discrete
      condition, or values `[T, C]` of a continuous one.

  Returns:
    ``input``, ``reconstruction`` `[N, R, R, 3]`; ``edits`` `[T, N, R, R, 3]`;
    ``targets``: the T class names (or values as text).
  """
  model = model if isinstance(model, LatentExport) else LatentExport(model)
  if not model.has("condition"):
    raise ValueError(f"{model.export_dir!r} is a {model.method} export "
                     "without a 'condition' signature; expected a conditional "
                     "latent GAN export")
  images = np.asarray(images, np.float32)
  z = model.encode(images)
  n = len(images)
  condition = model.meta["condition"]
  edits, names = [], []
  if condition["kind"] == "discrete":
    for k in class_ids(model.meta, labels):
      edits.append(model.decode(model.condition(z, np.full([n], k))))
      names.append(condition["classes"][int(k)])
  else:
    if labels is None:
      raise ValueError(f"condition {condition['spec']!r} is continuous: give "
                       "the target values")
    for value in np.asarray(labels, np.float32).reshape(-1, condition["size"]):
      edits.append(model.decode(model.condition(z, np.tile(value, [n, 1]))))
      names.append(",".join(f"{x:g}" for x in value))
  return {"input": images, "reconstruction": model.decode(z),
          "edits": np.stack(edits), "targets": names}


def detect_keypoints(images: np.ndarray, landmarks_weights,
                     batch_size: int = 64) -> np.ndarray:
  """Landmarks `[N, 68, 2]` pixels from a detector weights file or model.

  ``landmarks_weights``: a path (:func:`tfface.analysis.weights.load_network`)
  or a model taking `[B, H, W, 3]` in [-1, 1] to `[B, 68, 2]` pixels.
  """
  detector = landmarks_weights
  if isinstance(landmarks_weights, (str, os.PathLike)):
    from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
    detector = analysis_weights.load_network(os.fspath(landmarks_weights))
  images = np.asarray(images, np.float32)
  out = [np.asarray(detector(images[i:i + batch_size]))
         for i in range(0, len(images), batch_size)]
  return np.concatenate(out).astype(np.float32)


def transfer_keypoints(model: Union[str, LatentExport],
                       source_images: np.ndarray,
                       target_images: Optional[np.ndarray] = None,
                       target_keypoints: Optional[np.ndarray] = None,
                       landmarks_weights=None) -> Dict[str, np.ndarray]:
  """The target faces' keypoints on the source faces (pairwise).

  Args:
    model: a keypoint-mapper export (or its directory).
    source_images: `[N, R, R, 3]` in [-1, 1].
    target_images: `[N, R, R, 3]` (for the grid, and for the detector).
    target_keypoints: `[N, 68, 2]` pixels; default detected on the targets
      with ``landmarks_weights``.
    landmarks_weights: detector weights file or model.

  Returns:
    ``source``, ``reconstruction``, ``transferred`` `[N, R, R, 3]`,
    ``target`` (or None), ``keypoints`` `[N, 68, 2]`.
  """
  model = model if isinstance(model, LatentExport) else LatentExport(model)
  if not model.has("map_keypoints"):
    raise ValueError(f"{model.export_dir!r} is a {model.method} export "
                     "without a 'map_keypoints' signature; expected a keypoint "
                     "mapper export")
  if target_keypoints is None:
    if target_images is None or landmarks_weights is None:
      raise ValueError("keypoint transfer needs target_keypoints, or target "
                       "images and a landmark detector (landmarks_weights)")
    target_keypoints = detect_keypoints(target_images, landmarks_weights)
  source_images = np.asarray(source_images, np.float32)
  keypoints = np.asarray(target_keypoints, np.float32).reshape(-1, 68, 2)
  if len(keypoints) == 1 and len(source_images) > 1:
    keypoints = np.repeat(keypoints, len(source_images), axis=0)
  if len(keypoints) != len(source_images):
    raise ValueError(f"{len(source_images)} source faces but "
                     f"{len(keypoints)} target keypoint sets")
  z = model.encode(source_images)
  return {"source": source_images, "reconstruction": model.decode(z),
          "transferred": model.decode(model.map_keypoints(z, keypoints)),
          "target": target_images, "keypoints": keypoints}


def image_grid(columns: Sequence[np.ndarray], pad: int = 2) -> np.ndarray:
  """A uint8 grid: ``columns`` of `[N, R, R, 3]` images in [-1, 1], one row
  per face, ``pad`` white pixels between cells."""
  columns = [np.asarray(c, np.float32) for c in columns if c is not None]
  n, r = columns[0].shape[0], columns[0].shape[1]
  grid = np.full([n * (r + pad) + pad, len(columns) * (r + pad) + pad, 3], 255,
                 np.uint8)
  for j, column in enumerate(columns):
    pixels = np.clip((column + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    for i in range(n):
      y, x = pad + i * (r + pad), pad + j * (r + pad)
      grid[y:y + r, x:x + r] = pixels[i]
  return grid


def write_png(path: str, grid: np.ndarray) -> str:
  """Writes a uint8 `[H, W, 3]` image atomically; returns ``path``."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tf.io.write_file(path + ".tmp", tf.io.encode_png(grid))
  os.replace(path + ".tmp", path)
  return path


def read_faces(paths: Sequence[str], size: int) -> np.ndarray:
  """Image files as `[N, size, size, 3]` in [-1, 1] (aligned crops expected:
  other sizes are resized with a warning, flat images refused)."""
  faces = []
  for path in paths:
    image = confignet_editing.read_image(path)
    confignet_editing.check_face_image(image, path)
    faces.append(confignet_editing.fit_to_resolution(image, size, path))
  return np.stack(faces).astype(np.float32)


def edit_latent(export_dir: str, image_paths: Sequence[str], output_png: str,
                labels: Labels = None,
                target_paths: Sequence[str] = (),
                target_keypoints: Optional[Union[str, np.ndarray]] = None,
                landmarks_weights: Optional[str] = None) -> Dict[str, object]:
  """``tools/edit.py latent``: one call from files to a PNG grid.

  A conditional GAN export edits attributes (``labels``: class names/ids,
  default every class); a keypoint-mapper export transfers the keypoints of
  ``target_paths`` (detected with ``landmarks_weights``) or of
  ``target_keypoints`` (an ``.npy`` path or array `[N or 1, 68, 2]` pixels)
  onto the faces of ``image_paths``.

  Returns:
    ``{"png": path, "rows": N, "columns": [...]}``.
  """
  model = LatentExport(export_dir)
  faces = read_faces(image_paths, model.size)
  if model.has("condition"):
    out = edit_attributes(model, faces, labels)
    grid = image_grid([out["input"], out["reconstruction"]] +
                      list(out["edits"]))
    columns = ["input", "reconstruction"] + list(out["targets"])
  elif model.has("map_keypoints"):
    targets = read_faces(target_paths, model.size) if target_paths else None
    if isinstance(target_keypoints, (str, os.PathLike)):
      target_keypoints = np.load(os.fspath(target_keypoints))
    out = transfer_keypoints(model, faces, targets, target_keypoints,
                             landmarks_weights)
    grid = image_grid([out["source"], out["target"], out["reconstruction"],
                       out["transferred"]])
    columns = ["source"] + (["target"] if targets is not None else []) + [
        "reconstruction", "transferred"]
  else:
    raise ValueError(f"{export_dir!r} is a {model.method} export; expected a "
                     "conditional latent GAN or a keypoint mapper export")
  return {"png": write_png(output_png, grid), "rows": len(faces),
          "columns": columns}
