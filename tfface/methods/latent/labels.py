"""Conditions for the conditional latent models, made from labelled factors.

The reference conditions its latent GANs on CelebA attributes (``Black_Hair``
/ ``Blond_Hair``, gender). On tfface's labeled synthetic faces every factor θ
is known, so a condition is a function of the factors. A condition is either

* **discrete**: ``K`` named classes; each face gets a class id (or -1 when it
  belongs to none, e.g. a hair colour outside both classes of a two-class
  condition; those faces are left out of training), fed to the networks as a
  one-hot `[K]` vector;
* **continuous**: a `[C]` float vector (any factor slice).

Conditions are named by a spec string (:func:`make_condition`):

==========================  ====================================================
``hair_color``              5 classes black / brown / red / blond / grey: the
                            nearest :data:`tfface.data.synthetic.HAIR_PALETTE`
                            colour, grouped (black, dark brown | brown, light
                            brown | auburn, ginger | dark blond, blond,
                            platinum | grey).
``hair_dark_blond``         2 classes dark / blond (black, dark brown, brown vs
                            dark blond, blond, platinum; others -1): the
                            reference's Black_Hair / Blond_Hair experiment.
``beard``                   2 classes none / beard: beard_style coverage > 0.
``smile``                   2 classes: mean(mouthSmileLeft, mouthSmileRight)
                            > ``threshold`` (0.3), else off.
``jaw_open``                2 classes: jawOpen > ``threshold`` (0.3).
``yaw``                     3 classes left / frontal / right: yaw below −15°,
                            within ±15°, above 15° (``yaw:<degrees>`` changes
                            the bin edge).
``factor:<name>[a:b]``      continuous: entries a..b−1 of factor θ_name, e.g.
                            ``factor:pose[1:2]`` (yaw in radians) or
                            ``factor:hair_color`` (all of it).
``attribute:A,B``           discrete, for user tables with ``attributes`` `[N,
                            n]` 0/1 and ``attribute_names``: class k when only
                            attribute k is set, -1 when none or several are
                            (the reference drops "both").
==========================  ====================================================

``smile:0.5`` / ``jaw_open:0.5`` override the threshold.
"""

import dataclasses
import re
from typing import Callable, Dict, Mapping, Optional, Tuple

import numpy as np

from tfface.data import synthetic

# HAIR_PALETTE rows (black, dark brown, brown, light brown, auburn, ginger,
# dark blond, blond, platinum, grey) -> hair_color class.
HAIR_CLASSES = ("black", "brown", "red", "blond", "grey")
_HAIR_GROUP = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3, 4])
_DARK_BLOND = np.array([0, 0, 0, -1, -1, -1, 1, 1, 1, -1])
# The expression entries (tfface.rendering.procedural_model's names).
_SMILE = ("mouthSmileLeft", "mouthSmileRight")
_JAW_OPEN = ("jawOpen",)
DEFAULT_THRESHOLD = 0.3
DEFAULT_YAW_DEGREES = 15.0


@dataclasses.dataclass(frozen=True)
class Condition:
  """A condition made of factors.

  Attributes:
    spec: the spec string it was made from.
    classes: class names of a discrete condition; () for a continuous one.
    size: C, the size of the network input (K for discrete conditions).
    compute: ``table -> [N]`` int class ids (discrete, -1 = none) or ``[N,
      C]`` float32 (continuous), from a codes table
      (:mod:`tfface.methods.latent.codes`) or any mapping with
      ``factor/<name>`` arrays.
  """
  spec: str
  classes: Tuple[str, ...]
  size: int
  compute: Callable[[Mapping[str, np.ndarray]], np.ndarray]

  @property
  def discrete(self) -> bool:
    return bool(self.classes)

  def values(self, table: Mapping[str, np.ndarray]) -> np.ndarray:
    """Class ids `[N]` int32 or vectors `[N, C]` float32 of ``table``."""
    out = np.asarray(self.compute(table))
    if self.discrete:
      return out.astype(np.int32).reshape(-1)
    return out.astype(np.float32).reshape(len(out), self.size)

  def vectors(self, values: np.ndarray) -> np.ndarray:
    """Network inputs `[N, C]` float32: one-hot of class ids, or as given."""
    values = np.asarray(values)
    if self.discrete:
      return np.eye(self.size, dtype=np.float32)[values.astype(np.int64)]
    return values.astype(np.float32).reshape(len(values), self.size)

  def describe(self) -> Dict[str, object]:
    """JSON-able description (export metadata, evaluation output)."""
    out = {"spec": self.spec, "kind": "discrete" if self.discrete else
           "continuous", "size": self.size}
    if self.discrete:
      out["classes"] = list(self.classes)
    return out


def _factor(table, name: str) -> np.ndarray:
  key = f"factor/{name}"
  if key not in table:
    have = sorted(k[len("factor/"):] for k in table if k.startswith("factor/"))
    raise ValueError(f"the codes table has no factor {name!r} (has {have}); "
                     "expected a table of labeled synthetic faces")
  return np.asarray(table[key], np.float32)


def _expression(table, names) -> np.ndarray:
  from tfface.rendering import procedural_model  # pylint: disable=g-import-not-at-top
  all_names = list(procedural_model.ProceduralFaceModel().expression_names)
  weights = _factor(table, "expression")
  return np.mean(weights[:, [all_names.index(n) for n in names]], axis=1)


def nearest_palette_index(colors: np.ndarray) -> np.ndarray:
  """Index of the nearest :data:`~tfface.data.synthetic.HAIR_PALETTE` colour.

  Args:
    colors: `[N, 3]` RGB in [0, 1].

  Returns:
    `[N]` int in [0, 10).
  """
  colors = np.asarray(colors, np.float32).reshape(-1, 3)
  distance = np.sum((colors[:, None] - synthetic.HAIR_PALETTE[None]) ** 2, -1)
  return np.argmin(distance, axis=1)


def _float(text: str, default: float, spec: str) -> float:
  if not text:
    return default
  try:
    return float(text)
  except ValueError:
    raise ValueError(f"condition {spec!r}: {text!r} is not a number") from None


_FACTOR_SPEC = re.compile(r"^factor:(\w+)(?:\[(\d*):(\d*)\])?$")


def make_condition(spec: str, factor_sizes: Optional[Mapping[str, int]] = None
                   ) -> Condition:
  """The :class:`Condition` a spec string names (see the module table).

  Args:
    spec: e.g. ``"hair_color"``, ``"smile:0.4"``, ``"factor:pose[1:2]"``.
    factor_sizes: factor name -> size; needed for ``factor:<name>`` without
      a slice (default: the synthetic dataset's table).

  Raises:
    ValueError: an unknown spec, naming the known ones.
  """
  if not isinstance(spec, str) or not spec:
    raise ValueError(f"condition must be a spec string, got {spec!r}")
  head, _, arg = spec.partition(":")
  if head == "hair_color" and not arg:
    return Condition(spec, HAIR_CLASSES, len(HAIR_CLASSES), lambda t: _HAIR_GROUP[
        nearest_palette_index(_factor(t, "hair_color"))])
  if head == "hair_dark_blond" and not arg:
    return Condition(spec, ("dark", "blond"), 2, lambda t: _DARK_BLOND[
        nearest_palette_index(_factor(t, "hair_color"))])
  if head == "beard" and not arg:
    return Condition(spec, ("none", "beard"), 2,
                     lambda t: (_factor(t, "beard_style")[:, 0] > 0))
  if head in ("smile", "jaw_open"):
    threshold = _float(arg, DEFAULT_THRESHOLD, spec)
    names = _SMILE if head == "smile" else _JAW_OPEN
    return Condition(spec, ("off", "on"), 2,
                     lambda t: _expression(t, names) > threshold)
  if head == "yaw":
    edge = np.radians(_float(arg, DEFAULT_YAW_DEGREES, spec))
    return Condition(spec, ("left", "frontal", "right"), 3,
                     lambda t: np.digitize(_factor(t, "pose")[:, 1],
                                           [-edge, edge]))
  if head == "attribute" and arg:
    wanted = [a.strip() for a in arg.split(",") if a.strip()]

    def attributes(table):
      if "attributes" not in table or "attribute_names" not in table:
        raise ValueError(f"condition {spec!r} needs a codes table with "
                         "'attributes' [N, n] and 'attribute_names'")
      names = [str(n) for n in table["attribute_names"]]
      missing = [a for a in wanted if a not in names]
      if missing:
        raise ValueError(f"condition {spec!r}: the table has no attributes "
                         f"{missing} (has {names})")
      values = np.asarray(table["attributes"])[:, [names.index(a)
                                                    for a in wanted]] > 0
      return np.where(values.sum(1) == 1, np.argmax(values, 1), -1)

    return Condition(spec, tuple(wanted), len(wanted), attributes)
  match = _FACTOR_SPEC.match(spec)
  if match:
    name, start, stop = match.groups()
    sizes = dict(factor_sizes or synthetic.synthetic_factor_sizes())
    sizes.setdefault("translation", 3)
    if name not in sizes:
      raise ValueError(f"condition {spec!r}: unknown factor {name!r}; "
                       f"expected one of {sorted(sizes)}")
    lo = int(start) if start else 0
    hi = int(stop) if stop else sizes[name]
    if not 0 <= lo < hi <= sizes[name]:
      raise ValueError(f"condition {spec!r}: slice [{lo}:{hi}] is outside "
                       f"factor {name!r} of size {sizes[name]}")
    return Condition(spec, (), hi - lo,
                     lambda t: _factor(t, name)[:, lo:hi])
  raise ValueError(
      f"unknown condition {spec!r}; expected hair_color, hair_dark_blond, "
      "beard, smile[:threshold], jaw_open[:threshold], yaw[:degrees], "
      "factor:<name>[a:b] or attribute:<A>,<B>")
