"""Rig control: edit named face-model parameters of a W+ code through RigNet.

:class:`StyleRigControl` holds the frozen G, F and one RigNet per trained
mode. An edit names parameters and their new values (radians for angles):

==========================  ===================================================
key                         meaning
==========================  ===================================================
``pose``                    `[3]` (pitch, yaw, roll) radians
``pose.pitch`` / ``.yaw``   one angle, radians (yaw > 0 turns toward image
/ ``.roll``                 right, the subject's left)
``expression``              every blendshape weight (procedural: 24 in [0, 1])
``expression.<name>``       one blendshape by its model name, e.g.
                            ``expression.jawOpen``
``sh``                      `[27]` SH lighting γ
``light``                   `[3]` direction toward a white light (model
                            space: +x image right, +y up, +z toward the
                            camera), converted with
                            :func:`light_coefficients`
``<group>`` / ``<group>.i`` any layout group, whole or entry i
==========================  ===================================================

:meth:`StyleRigControl.rig` estimates p = F(w), overwrites the named entries,
and feeds each touched mode's RigNet its slice (untouched modes are not run:
their RigNet would be fed F(w), i.e. asked for w). Modes run in
pose, expression, illumination, identity order, each on the previous ŵ.
"""

import os
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from tfface.methods.stylerig import data as data_lib
from tfface.methods.stylerig import method as method_lib
from tfface.methods.stylerig import networks
from tfface.networks import stylegan2_weights

POSE_NAMES = ("pitch", "yaw", "roll")
Edit = Mapping[str, Union[float, Sequence[float]]]


def light_coefficients(direction: Sequence[float], intensity: float = 0.6,
                       ambient: float = 0.5) -> np.ndarray:
  """`[27]` SH γ of ambient light plus one white directional light.

  Args:
    direction: `[3]` toward the light (normalised here); ``(-1, 0, 0.5)``
      is light from the image left, slightly frontal.
    intensity: the directional light's RGB intensity.
    ambient: the ambient RGB irradiance.
  """
  from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
  d = np.asarray(direction, np.float64).reshape(3)
  norm = np.linalg.norm(d)
  if not norm > 0:
    raise ValueError(f"light direction must be a non-zero 3-vector, got {d}")
  return synthetic.sh_coefficients(np.full(3, ambient), (d / norm)[None],
                                   np.full([1, 3], intensity))


class StyleRigControl:
  """G, F and RigNets ``{mode: (rignet, condition_on)}`` for editing.

  Args:
    generator: built StyleGAN2 generator.
    estimator: F.
    rignets: mode -> ``(RigNet, "mode" | "full")``.
    layout: F's layout name.
    expression_names: names of the ``expression`` entries (default the
      procedural model's).
  """

  def __init__(self, generator, estimator, rignets: Mapping[str, Tuple],
               layout: str, expression_names: Optional[Sequence[str]] = None,
               truncation_psi: float = 0.7):
    self.generator = generator
    self.estimator = estimator
    self.rignets = dict(rignets)
    self.layout_name = layout
    self.layout = networks.ParameterLayout.named(layout)
    if expression_names is None and layout == "procedural":
      from tfface.rendering import procedural_model  # pylint: disable=g-import-not-at-top
      expression_names = procedural_model.EXPRESSION_NAMES
    self.expression_names = tuple(expression_names or ())
    self.truncation_psi = float(truncation_psi)
    self.modes = tuple(m for m in networks.MODES if m in self.rignets)

  @classmethod
  def from_runs(cls, rignet_paths: Sequence[str],
                generator_path: Optional[str] = None) -> "StyleRigControl":
    """From RigNet runs (or ``rignet.npz`` files) of one F."""
    rignets, estimator_path = {}, None
    for path in rignet_paths:
      rignet, meta = method_lib.load_rignet(path)
      if meta["mode"] in rignets:
        raise ValueError(f"two RigNets for mode {meta['mode']!r} "
                         f"({path!r})")
      if estimator_path not in (None, meta["estimator"]):
        raise ValueError(f"{path!r} was trained over another F "
                         f"({meta['estimator']} vs {estimator_path})")
      estimator_path = meta["estimator"]
      rignets[meta["mode"]] = (rignet, meta["condition_on"])
    if estimator_path is None:
      raise ValueError("StyleRigControl needs at least one RigNet run")
    estimator, f_meta = method_lib.load_estimator(estimator_path)
    generator = stylegan2_weights.load_stylegan2_generator(
        generator_path or f_meta["generator"])
    return cls(generator, estimator, rignets, f_meta["layout"],
               truncation_psi=f_meta.get("truncation_psi", 0.7))

  # ---------------------------------------------------------------------------

  def resolve(self, edits: Edit) -> Tuple[np.ndarray, np.ndarray]:
    """``(mask [N] bool, values [N] float32)`` of an edit (module table)."""
    mask = np.zeros(self.layout.size, bool)
    values = np.zeros(self.layout.size, np.float32)
    for key, value in edits.items():
      if key == "light":
        key, value = "sh", light_coefficients(value)
      group, _, entry = key.partition(".")
      if group not in self.layout.slices:
        raise ValueError(f"unknown edit {key!r}; expected a group of "
                         f"{list(self.layout.names)} (or 'light'), optionally "
                         "'.entry'")
      start, stop = self.layout.slices[group]
      if entry:
        if group == "pose" and entry in POSE_NAMES:
          index = POSE_NAMES.index(entry)
        elif group == "expression" and entry in self.expression_names:
          index = self.expression_names.index(entry)
        elif entry.isdigit() and int(entry) < stop - start:
          index = int(entry)
        else:
          names = (POSE_NAMES if group == "pose" else self.expression_names
                   if group == "expression" else ())
          raise ValueError(f"unknown entry {entry!r} of {group!r}; expected "
                           f"an index < {stop - start}"
                           + (f" or one of {list(names)}" if names else ""))
        slots = np.array([start + index])
      else:
        slots = np.arange(start, stop)
      value = np.asarray(value, np.float32).reshape(-1)
      if value.size not in (1, slots.size):
        raise ValueError(f"edit {key!r} takes {slots.size} values, got "
                         f"{value.size}")
      mask[slots] = True
      values[slots] = value
    return mask, values

  def modes_of(self, mask: np.ndarray) -> Tuple[str, ...]:
    """The modes whose index sets the edit touches (RigNet order)."""
    touched = []
    covered = np.zeros_like(mask)
    for mode in networks.MODES:
      try:
        k = self.layout.mode_indices(mode)
      except ValueError:
        continue
      if mask[k].any():
        touched.append(mode)
        covered[k] = True
    loose = np.flatnonzero(mask & ~covered)
    if loose.size:
      names = [n for n, (a, b) in self.layout.slices.items()
               if any(a <= i < b for i in loose)]
      raise ValueError(f"edited groups {names} belong to no control mode "
                       f"(modes: {list(networks.MODE_GROUPS.items())})")
    missing = [m for m in touched if m not in self.rignets]
    if missing:
      raise ValueError(f"the edit needs RigNets for modes {missing}; loaded: "
                       f"{list(self.modes)}")
    return tuple(touched)

  def rig_inputs(self, w: tf.Tensor, edits: Edit) -> Dict[str, tf.Tensor]:
    """What each touched mode's RigNet is fed: F(w) with the edit written in,
    sliced for the mode (or whole, for ``condition_on="full"``)."""
    mask, values = self.resolve(edits)
    p = self.estimator(w)
    edited = tf.where(mask[None], values[None], p)
    out = {}
    for mode in self.modes_of(mask):
      _, condition = self.rignets[mode]
      out[mode] = (tf.gather(edited, self.layout.mode_indices(mode), axis=-1)
                   if condition == "mode" else edited)
    return out

  def rig(self, w: tf.Tensor, edits: Edit) -> Dict[str, tf.Tensor]:
    """Rigs W+ codes `[B, L, D]`: ``{"w_plus", "image", "requested"}`` where
    ``requested`` `[B, N]` is F(w) with the edit written in."""
    w = tf.convert_to_tensor(w, tf.float32)
    w_hat = w
    for mode, fed in self.rig_inputs(w, edits).items():
      w_hat = self.rignets[mode][0](w_hat, fed)
    mask, values = self.resolve(edits)
    requested = tf.where(mask[None], values[None], self.estimator(w))
    return {"w_plus": w_hat, "image": self.generate(w_hat),
            "requested": requested}

  def transfer(self, w: tf.Tensor, source_w: tf.Tensor, mode: str
               ) -> Dict[str, tf.Tensor]:
    """Gives ``w`` the ``mode`` parameters of ``source_w`` (same batch)."""
    self.layout.mode_indices(mode)  # a ValueError for an unknown mode
    p_source = self.estimator(source_w).numpy()
    rows = []
    for i in range(p_source.shape[0]):
      rows.append(self.rig(w[i:i + 1], {
          f"{g}": p_source[i, slice(*self.layout.slices[g])]
          for g in networks.mode_groups(mode)}))
    return {key: tf.concat([r[key] for r in rows], 0) for key in rows[0]}

  def sample(self, batch_size: int, seed: int = 0) -> tf.Tensor:
    """W+ codes as the training data drew them (ψ of F's data)."""
    return data_lib.sample_w_plus(self.generator, batch_size,
                                  self.truncation_psi, [seed, 99])

  def conditional(self, batch_size: int, edits: Edit, seed: int = 0
                  ) -> Dict[str, tf.Tensor]:
    """Conditional generation: sample w, then set the edited parameters."""
    return self.rig(self.sample(batch_size, seed), edits)

  def generate(self, w: tf.Tensor) -> tf.Tensor:
    return tf.clip_by_value(self.generator.synthesis(w, noise_mode="const"),
                            -1.0, 1.0)


# Per mode: (column label, edit) for the grids.
def grid_edits(mode: str, control: StyleRigControl):
  """The columns of a mode's PNG grid: ``[(label, edit or None)]``."""
  if mode == "pose":
    return [(f"yaw {d:+d}", {"pose.yaw": np.radians(d)})
            for d in (-30, -15, 0, 15, 30)]
  if mode == "expression":
    name = ("jawOpen" if "jawOpen" in control.expression_names else "0")
    return [(f"{name} {a:.2f}", {f"expression.{name}": a})
            for a in (0.0, 0.25, 0.5, 0.75, 1.0)]
  if mode == "illumination":
    return [(f"light {x:+.1f}", {"light": (x, 0.2, 0.6)})
            for x in (-1.0, -0.5, 0.0, 0.5, 1.0)]
  return []


def _to_png(images: np.ndarray) -> bytes:
  pixels = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
  return tf.io.encode_png(pixels).numpy()


def write_edit_grids(rignet_paths: Sequence[str], output_dir: str,
                     codes: str = "random:4", seed: int = 0,
                     generator_path: Optional[str] = None,
                     scale: int = 2) -> Dict[str, str]:
  """One PNG per mode: rows = faces; columns = the input, then the edits of
  :func:`grid_edits` (identity: transfer from the other faces).

  Args:
    rignet_paths: RigNet runs / files of one F.
    output_dir: where ``stylerig_<mode>.png`` go.
    codes: ``"random:N"`` (N codes as the data drew them) or a ``.npy`` of
      W+ codes `[N, L, D]`.
    seed: for ``random:N``.
    generator_path: default F's generator.
    scale: nearest-neighbour upscaling of the (small) images.

  Returns:
    mode -> written path.
  """
  control = StyleRigControl.from_runs(rignet_paths, generator_path)
  if codes.startswith("random:"):
    w = control.sample(int(codes.split(":", 1)[1]), seed)
  elif codes.endswith(".npy") and os.path.isfile(codes):
    w = tf.constant(np.load(codes).astype(np.float32))
  else:
    raise ValueError(f"codes must be 'random:N' or a .npy of W+ codes, got "
                     f"{codes!r}")
  os.makedirs(output_dir, exist_ok=True)
  written = {}
  for mode in control.modes:
    columns = [control.generate(w)]
    if mode == "identity":
      for shift in range(1, int(w.shape[0])):
        columns.append(control.transfer(w, tf.roll(w, shift, 0),
                                        mode)["image"])
    for _, edit in grid_edits(mode, control):
      columns.append(control.rig(w, edit)["image"])
    grid = tf.concat([tf.concat(tf.unstack(c, axis=0), axis=0)
                      for c in columns], axis=1).numpy()
    if scale > 1:
      grid = np.repeat(np.repeat(grid, scale, 0), scale, 1)
    path = os.path.join(output_dir, f"stylerig_{mode}.png")
    with open(path + ".tmp", "wb") as f:
      f.write(_to_png(grid))
    os.replace(path + ".tmp", path)
    written[mode] = path
  return written
