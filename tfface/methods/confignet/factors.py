"""Factor tables: which θ_i feeds which latent slice z_i (configuration).

A :class:`FactorTable` lists the factors by name with their input size
(dim θ_i) and latent size (dim z_i). The latent vector z is the concatenation
of the z_i in **sorted name order**, as in the reference implementation.

Presets:
  * :func:`paper_factor_table`: the 12 SynthFace factors of the paper / the
    reference code (n = 145).
  * :func:`synthetic_factor_table`: tfface's procedural synthetic dataset
    (``tfface.data.synthetic.synthetic_factor_sizes()``), with ``pose`` fed to
    G as its rotation input instead of being a factor.
"""

import collections
import dataclasses
import math
from typing import Dict, Iterable, Mapping, Optional, Tuple

# Factors of the synthetic dataset that are not latent factors: the head pose
# is G's separate rotation input (as in the paper).
POSE_FACTOR = "pose"
NON_LATENT_FACTORS = (POSE_FACTOR,)


@dataclasses.dataclass(frozen=True)
class Factor:
  """One factor. ``theta_dim`` = dim θ_i, ``z_dim`` = dim z_i."""
  name: str
  theta_dim: int
  z_dim: int


class FactorTable:
  """An ordered set of factors and their latent slices.

  Args:
    factors: mapping name -> (theta_dim, z_dim); stored in sorted name order.
  """

  def __init__(self, factors: Mapping[str, Tuple[int, int]]):
    if not factors:
      raise ValueError("a factor table needs at least one factor")
    items = []
    for name in sorted(factors):
      theta_dim, z_dim = factors[name]
      if int(theta_dim) < 1 or int(z_dim) < 1:
        raise ValueError(f"factor {name!r} needs positive θ and z sizes, got "
                         f"({theta_dim}, {z_dim})")
      items.append(Factor(name, int(theta_dim), int(z_dim)))
    self.factors: Tuple[Factor, ...] = tuple(items)
    self._slices: Dict[str, Tuple[int, int]] = {}
    start = 0
    for f in self.factors:
      self._slices[f.name] = (start, start + f.z_dim)
      start += f.z_dim
    self.latent_dim = start
    self.theta_dim = sum(f.theta_dim for f in self.factors)

  @property
  def names(self) -> Tuple[str, ...]:
    return tuple(f.name for f in self.factors)

  def __len__(self) -> int:
    return len(self.factors)

  def __getitem__(self, name: str) -> Factor:
    for f in self.factors:
      if f.name == name:
        return f
    raise KeyError(f"unknown factor {name!r}; the table has {self.names}")

  def latent_slice(self, name: str) -> Tuple[int, int]:
    """``(start, stop)`` of z_i in the latent vector."""
    if name not in self._slices:
      raise KeyError(f"unknown factor {name!r}; the table has {self.names}")
    return self._slices[name]

  def as_dict(self) -> "collections.OrderedDict[str, Tuple[int, int]]":
    return collections.OrderedDict(
        (f.name, (f.theta_dim, f.z_dim)) for f in self.factors)

  def __repr__(self) -> str:
    return f"FactorTable({dict(self.as_dict())}, n={self.latent_dim})"


# (θ dim, z dim) per factor: reference DEFAULT_CONFIG["facemodel_inputs"] and
# the θ sizes of its dataset processing. The three one-hot factors' θ sizes are
# data-dependent in the reference; the paper's m = 304 implies they total 12,
# so 4 each here (the split is not published).
PAPER_FACTORS = {
    "beard_style_embedding": (9, 7),
    "blendshape_values": (62, 30),
    "bone_rotations:left_eye": (3, 2),
    "eye_color": (4, 3),
    "eyebrow_style_embedding": (44, 7),
    "geometry_identity_params": (53, 30),
    "hdri_embedding": (50, 20),
    "head_hair_color": (3, 3),
    "head_hair_style_embedding": (18, 9),
    "lower_eyelash_style": (4, 2),
    "texture_embedding": (50, 30),
    "upper_eyelash_style": (4, 2),
}


def paper_factor_table() -> FactorTable:
  """The paper's 12 factors: m = 304 θ dims, n = 145 latent dims."""
  return FactorTable(PAPER_FACTORS)


def default_z_dim(theta_dim: int) -> int:
  """Latent size for a factor of ``theta_dim`` inputs when none is given.

  Follows the reference's ratios (62 -> 30, 53 -> 30, 18 -> 9, 3 -> 3):
  half the input size, at most 30; a factor of up to 3 inputs keeps them all
  (a colour needs its 3 channels: the reference's hair colour is 3 -> 3).
  """
  if theta_dim <= 3:
    return max(1, int(theta_dim))
  return int(min(30, math.ceil(theta_dim / 2)))


def table_from_sizes(sizes: Mapping[str, int],
                     z_dims: Optional[Mapping[str, int]] = None,
                     exclude: Iterable[str] = NON_LATENT_FACTORS) -> FactorTable:
  """A table from θ sizes (e.g. ``synthetic_factor_sizes()``).

  Args:
    sizes: name -> dim θ_i.
    z_dims: optional name -> dim z_i overrides; others use
      :func:`default_z_dim`.
    exclude: names that are not latent factors (``pose`` by default).
  """
  z_dims = dict(z_dims or {})
  exclude = set(exclude)
  unknown = set(z_dims) - set(sizes)
  if unknown:
    raise ValueError(f"z_dims names unknown factors {sorted(unknown)}; the "
                     f"sizes have {sorted(sizes)}")
  return FactorTable({
      name: (int(n), int(z_dims.get(name, default_z_dim(int(n)))))
      for name, n in sizes.items() if name not in exclude})


def synthetic_factor_table(
    z_dims: Optional[Mapping[str, int]] = None) -> FactorTable:
  """The table of tfface's procedural synthetic dataset (contract 4).

  ``pose`` is excluded: it is G's rotation input, not a latent factor.
  """
  from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
  return table_from_sizes(synthetic.synthetic_factor_sizes(), z_dims)


def make_factor_table(preset: str = "synthetic",
                      factors: Optional[Mapping[str, Tuple[int, int]]] = None,
                      z_dims: Optional[Mapping[str, int]] = None
                     ) -> FactorTable:
  """A table by preset name (``paper``, ``synthetic``) or explicit ``factors``."""
  if factors:
    return FactorTable({k: tuple(v) for k, v in factors.items()})
  if preset == "paper":
    return paper_factor_table()
  if preset == "synthetic":
    return synthetic_factor_table(z_dims)
  raise ValueError(f"unknown factor table preset {preset!r}; expected "
                   "'paper' or 'synthetic' (or explicit factors)")
