"""Editing faces with an exported ConfigNet (``tools/edit.py``).

Works on the SavedModel alone (:mod:`tfface.methods.confignet.export`): embed
an aligned face with ``encode``, change named factors with
``set_factor_<name>``, change the head pose, render with ``generate``.
Changing one entry of a factor (e.g. the ``jawOpen`` blendshape) first
recovers θ_i from the face's z_i by projected gradient descent through the
exported E_S,i (box [0, 1] for blendshapes), as ConfigNet's fine-grained
control does, then sets the entry and re-encodes.

The input is checked first: a flat image (no variation, so no face) is a
:class:`NoFaceError`, and an image much larger than the model's resolution
(more than ``large_factor`` times, default 4) or not square is resized with a
one-line warning saying from what to what. There is no face detector here:
the image is expected to be an aligned face crop.
"""

import json
import math
import os
from typing import Dict, Mapping, Optional, Sequence, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

# An image over this many times the model's resolution is resized with a
# warning (it is most likely a whole photo, not an aligned crop).
LARGE_IMAGE_FACTOR = 4
# Pixel standard deviation (in [-1, 1] units) below which an image is flat:
# under half a grey level of 8-bit variation over the whole image.
FLAT_STD = 0.5 / 127.5


class NoFaceError(ValueError):
  """The image cannot hold a face (e.g. it is flat); the message names it."""


def read_image(path: str) -> np.ndarray:
  """The image file at ``path`` as `[H, W, 3]` float32 in [-1, 1].

  Raises:
    ValueError: the file is missing or not a PNG/JPEG/BMP/GIF image.
  """
  try:
    data = tf.io.read_file(path)
    image = tf.image.decode_image(data, channels=3, expand_animations=False)
  except (tf.errors.OpError, ValueError) as e:
    reason = " ".join(str(getattr(e, "message", e)).split())
    raise ValueError(f"cannot read image {path!r}: {reason}") from None
  return image.numpy().astype(np.float32) / 127.5 - 1.0


def check_face_image(image: np.ndarray, source: str = "the image") -> None:
  """Raises :class:`NoFaceError` when ``image`` `[H, W, 3]` cannot be a face.

  The honest check this module can make without a face detector: an image
  without variation (a flat colour, all black) holds no face.
  """
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] != 3 or min(image.shape[:2]) < 1:
    raise ValueError(f"{source} has shape {image.shape}; expected [H, W, 3]")
  if not np.all(np.isfinite(image)):
    raise ValueError(f"{source} holds NaN or Inf values")
  if float(image.std()) < FLAT_STD:
    level = int(round((float(image.mean()) + 1.0) * 127.5))
    raise NoFaceError(
        f"no face found in {source}: the image is flat (every pixel is about "
        f"{level}/255); expected an aligned face photo")


def fit_to_resolution(image: np.ndarray, resolution: int,
                      source: str = "the image",
                      large_factor: float = LARGE_IMAGE_FACTOR) -> np.ndarray:
  """``image`` `[H, W, 3]` resized to `[R, R, 3]` (antialiased when shrinking).

  Logs one warning line first when the image is more than ``large_factor``
  times the resolution on a side or not square: both mean it is probably not
  the aligned face crop the model expects.
  """
  height, width = int(image.shape[0]), int(image.shape[1])
  if (height, width) == (resolution, resolution):
    return image
  large = max(height, width) > large_factor * resolution
  if large or height != width:
    why = []
    if large:
      why.append(f"more than {large_factor:g}x the model's resolution")
    if height != width:
      why.append("not square, so the aspect ratio changes")
    logging.warning("resizing %s from %dx%d to %dx%d (%s); an aligned face "
                    "crop works better", source, width, height, resolution,
                    resolution, "; ".join(why))
  return tf.image.resize(image, [resolution, resolution],
                         antialias=True).numpy()


class ExportedConfigNet:
  """A loaded ConfigNet SavedModel with convenience methods.

  Args:
    export_dir: the SavedModel version directory.
  """

  def __init__(self, export_dir: str):
    if not tf.io.gfile.exists(os.path.join(export_dir, "saved_model.pb")):
      raise ValueError(f"{export_dir!r} is not a SavedModel directory; "
                       "expected e.g. demo_out/export/1")
    self.loaded = tf.saved_model.load(export_dir)
    self.signatures = self.loaded.signatures
    self.table = json.loads(self.signatures["factor_table"]()["json"].numpy())
    self.factors = {f["name"]: f for f in self.table["factors"]}
    self.resolution = int(self.table["resolution"])

  def embed(self, image: np.ndarray) -> Tuple[tf.Tensor, tf.Tensor]:
    """`[B, R, R, 3]` in [-1, 1] -> (z `[B, Z]`, rotation `[B, 3]`)."""
    if "encode" not in self.signatures:
      raise ValueError("this export has no encode signature (stage-1 model)")
    out = self.signatures["encode"](image=tf.constant(image, tf.float32))
    return out["z"], out["rotation"]

  def generate(self, z, rotation) -> np.ndarray:
    return self.signatures["generate"](
        z=tf.constant(z, tf.float32),
        rotation=tf.constant(rotation, tf.float32))["image"].numpy()

  def _factor(self, name: str):
    if name not in self.factors:
      raise ValueError(f"unknown factor {name!r}; the model has "
                       f"{sorted(self.factors)}")
    return self.factors[name]

  def set_factor(self, z, name: str, values) -> tf.Tensor:
    """z with factor ``name`` set to E_S(values `[B, dim θ]`)."""
    factor = self._factor(name)
    values = tf.constant(values, tf.float32)
    if values.shape.rank != 2 or values.shape[-1] != factor["theta_dim"]:
      raise ValueError(f"factor {name!r} takes {factor['theta_dim']} values, "
                       f"got shape {values.shape}")
    return self.signatures[factor["signature"]](
        z=tf.constant(z, tf.float32), factor_values=values)["z"]

  def fit_factor(self, z, name: str, lower: float = 0.0, upper: float = 1.0,
                 steps: int = 500, learning_rate: float = 0.05) -> np.ndarray:
    """θ_name in the box whose E_S,name(θ) best matches z's slice (PGD)."""
    factor = self._factor(name)
    start, stop = factor["latent_slice"]
    target = tf.constant(z, tf.float32)[:, start:stop]
    batch = int(target.shape[0])
    zeros = tf.zeros([batch, self.table["latent_dim"]])
    theta = tf.Variable(tf.zeros([batch, factor["theta_dim"]]))
    fn = self.signatures[factor["signature"]]
    for _ in range(int(steps)):
      with tf.GradientTape() as tape:
        pred = fn(z=zeros, factor_values=tf.convert_to_tensor(theta))["z"]
        loss = tf.reduce_mean(tf.square(pred[:, start:stop] - target))
      grad = tape.gradient(loss, theta)
      theta.assign(tf.clip_by_value(theta - learning_rate * grad, lower,
                                    upper))
    return theta.numpy()


def parse_edits(specs: Sequence[str]) -> Dict[str, object]:
  """``["hair_color=0.8,0.6,0.4", "expression:jawOpen=0.9"]`` -> dict.

  Whole factors map to lists of floats; ``factor:entry`` keys (an expression
  name or an index) map to one float.
  """
  edits = {}
  for spec in specs:
    if "=" not in spec:
      raise ValueError(f"edit {spec!r} must look like 'factor=v1,v2,...' or "
                       "'factor:entry=value'")
    key, value = spec.split("=", 1)
    try:
      numbers = [float(v) for v in value.split(",")]
    except ValueError as e:
      raise ValueError(f"edit {spec!r} has a non-numeric value") from e
    edits[key.strip()] = numbers[0] if ":" in key else numbers
  return edits


def apply_edits(model: ExportedConfigNet, z, edits: Mapping[str, object],
                entry_names: Optional[Mapping[str, Sequence[str]]] = None,
                pgd_steps: int = 500) -> tf.Tensor:
  """Applies :func:`parse_edits` output to latents ``z`` `[B, Z]`.

  Args:
    entry_names: factor -> names of its entries (e.g. the face model's
      expression names), for ``factor:name`` edits.
  """
  z = tf.constant(z, tf.float32)
  batch = int(z.shape[0])
  entry_edits: Dict[str, Dict[int, float]] = {}
  for key, value in edits.items():
    if ":" in key:
      name, entry = key.split(":", 1)
      factor = model._factor(name)  # pylint: disable=protected-access
      names = list((entry_names or {}).get(name, ()))
      if entry in names:
        index = names.index(entry)
      elif entry.isdigit() and int(entry) < factor["theta_dim"]:
        index = int(entry)
      else:
        raise ValueError(f"factor {name!r} has no entry {entry!r}; expected "
                         f"one of {names or list(range(factor['theta_dim']))}")
      entry_edits.setdefault(name, {})[index] = float(value)
    else:
      z = model.set_factor(z, key, np.tile(np.asarray(value, np.float32),
                                            [batch, 1]))
  for name, entries in entry_edits.items():
    theta = model.fit_factor(z, name, steps=pgd_steps)
    for index, value in entries.items():
      theta[:, index] = value
    z = model.set_factor(z, name, theta)
  return z


def edit_image(export_dir: str, image: np.ndarray, edits: Sequence[str],
               yaw_degrees: Optional[float] = None,
               pitch_degrees: Optional[float] = None,
               entry_names: Optional[Mapping[str, Sequence[str]]] = None,
               source: str = "the image",
               large_factor: float = LARGE_IMAGE_FACTOR
               ) -> Dict[str, np.ndarray]:
  """Embeds ``image`` `[H, W, 3]` in [-1, 1] and applies edits.

  Args:
    source: how messages name the image (its path).
    large_factor: see :func:`fit_to_resolution`.

  Returns:
    ``input`` (the image at the model's resolution), ``reconstruction`` and
    ``edited``, each `[R, R, 3]` in [-1, 1].

  Raises:
    NoFaceError: the image is flat (checked before the model is loaded).
    ValueError: the export or an edit is invalid.
  """
  check_face_image(image, source)
  model = ExportedConfigNet(export_dir)
  image = fit_to_resolution(image, model.resolution, source, large_factor)
  z, rotation = model.embed(image[None])
  recon = model.generate(z, rotation)[0]
  z_new = apply_edits(model, z, parse_edits(edits), entry_names)
  rot = rotation.numpy().copy()
  if yaw_degrees is not None:
    rot[:, 1] = math.radians(yaw_degrees)
  if pitch_degrees is not None:
    rot[:, 0] = math.radians(pitch_degrees)
  return {"input": image, "reconstruction": recon,
          "edited": model.generate(z_new, rot)[0]}
