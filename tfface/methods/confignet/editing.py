"""Editing faces with an exported ConfigNet (``tools/edit.py``).

Works on the SavedModel alone (:mod:`tfface.methods.confignet.export`): embed
an aligned face with ``encode``, change named factors with
``set_factor_<name>``, change the head pose, render with ``generate``.
Changing one entry of a factor (e.g. the ``jawOpen`` blendshape) first
recovers θ_i from the face's z_i by projected gradient descent through the
exported E_S,i (box [0, 1] for blendshapes), as ConfigNet's fine-grained
control does, then sets the entry and re-encodes.
"""

import json
import math
import os
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf


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
               entry_names: Optional[Mapping[str, Sequence[str]]] = None
               ) -> Dict[str, np.ndarray]:
  """Embeds ``image`` `[R, R, 3]` in [-1, 1] and applies edits.

  Returns:
    ``reconstruction`` and ``edited`` `[R, R, 3]` in [-1, 1].
  """
  model = ExportedConfigNet(export_dir)
  if image.shape[:2] != (model.resolution, model.resolution):
    image = tf.image.resize(image, [model.resolution] * 2).numpy()
  z, rotation = model.embed(image[None])
  recon = model.generate(z, rotation)[0]
  z_new = apply_edits(model, z, parse_edits(edits), entry_names)
  rot = rotation.numpy().copy()
  if yaw_degrees is not None:
    rot[:, 1] = math.radians(yaw_degrees)
  if pitch_degrees is not None:
    rot[:, 0] = math.radians(pitch_degrees)
  return {"reconstruction": recon, "edited": model.generate(z_new, rot)[0]}
