"""The morphable-face-model interface shared by every face model.

A :class:`FaceModel` maps named parameter groups (identity, expression,
albedo, ...) to a triangle mesh with per-vertex albedo. The BFM loader
(:mod:`tfface.rendering.bfm`) and the procedural model
(:mod:`tfface.rendering.procedural_model`) implement it; the face renderer
(:mod:`tfface.rendering.face_renderer`) draws any of them.

Conventions (every implementation follows them):

* Model space is right-handed: the head is centred near the origin, the face
  looks toward +z (the camera sits on +z looking at the origin), +y is up and
  +x toward the image right. Units are Deep3DFaceRecon's centred BFM
  (decimetres), so the Deep3DFaceRecon camera (focal 1015 px at 224 px,
  camera at z = 10) frames the face like the aligned 224 px crops.
* `triangles` are 0-based and counter-clockwise seen from outside, so
  `(v1 - v0) x (v2 - v0)` points outward.
* `vertices(params)` and `albedo(params)` are differentiable w.r.t. every
  float parameter.

Also here: helpers every model uses — face and vertex normals from a triangle
list, and :class:`CoefficientLayout` to pack/unpack a flat coefficient vector
by named slices.
"""

import abc
import collections
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

Params = Mapping[str, tf.Tensor]


class FaceModel(abc.ABC):
  """Abstract morphable face model (contract 2 of the rendering package).

  Subclasses implement the abstract members; `default_parameters` and
  `validate` have generic implementations driven by `parameter_sizes`, and
  `vertex_normals` a generic one driven by `triangles`.
  """

  @property
  @abc.abstractmethod
  def triangles(self) -> np.ndarray:
    """`[T, 3]` int32, 0-based, counter-clockwise seen from outside."""

  @property
  @abc.abstractmethod
  def num_vertices(self) -> int:
    """Number of mesh vertices V."""

  @property
  @abc.abstractmethod
  def landmark_indices(self) -> np.ndarray:
    """`[68]` int32 vertex ids of the iBUG-68 landmarks, in iBUG order."""

  @property
  @abc.abstractmethod
  def parameter_sizes(self) -> "collections.OrderedDict[str, int]":
    """Ordered dict `name -> size` of the model's own parameter groups."""

  @property
  @abc.abstractmethod
  def expression_names(self) -> Tuple[str, ...]:
    """Names of the entries of the `expression` group, in order."""

  @abc.abstractmethod
  def region_weights(self) -> Dict[str, np.ndarray]:
    """Per-vertex region memberships: name -> `[V]` float32 in [0, 1]."""

  @abc.abstractmethod
  def vertices(self, params: Params) -> tf.Tensor:
    """Mesh vertices in model space.

    Args:
      params: dict name -> `[B, n]` float32 for every group of
        `parameter_sizes` (extra keys such as `pose` are ignored).

    Returns:
      `[B, V, 3]` float32 model-space positions (decimetres).
    """

  @abc.abstractmethod
  def albedo(self, params: Params) -> tf.Tensor:
    """Per-vertex diffuse albedo.

    Args:
      params: as for `vertices`.

    Returns:
      `[B, V, 3]` float32 RGB in [0, 1].
    """

  # ---------------------------------------------------------------------------
  # Generic implementations.

  def default_parameters(self, batch_size: int) -> Dict[str, tf.Tensor]:
    """The neutral face: zeros for every group unless a subclass overrides.

    Args:
      batch_size: B, a Python int.

    Returns:
      dict name -> `[B, n]` float32 for every group of `parameter_sizes`.
    """
    return {name: tf.zeros([batch_size, size], tf.float32)
            for name, size in self.parameter_sizes.items()}

  def validate(self, params: Params) -> None:
    """Checks that `params` holds every group with shape `[B, n]`.

    Extra keys (e.g. `pose`, `sh`) are allowed; every group must share one
    batch size.

    Args:
      params: dict name -> tensor.

    Raises:
      ValueError: naming the missing or mis-shaped group and what was
        expected.
    """
    validate_groups(params, self.parameter_sizes, type(self).__name__)

  def parametric_region_weights(self, params: Params) -> Dict[str, tf.Tensor]:
    """Region memberships for given parameters: name -> `[B, V]` float32.

    Models whose regions move with their parameters (the procedural model's
    hair and beard follow `hair_style`/`beard_style`) override this; by
    default every face gets the static :meth:`region_weights`.
    """
    first = next(iter(params.values()))
    batch = tf.shape(first)[0]
    return {name: tf.tile(tf.constant(value, tf.float32)[None], [batch, 1])
            for name, value in self.region_weights().items()}

  def vertex_normals(self, vertices: tf.Tensor) -> tf.Tensor:
    """Unit vertex normals of this model's mesh.

    Args:
      vertices: `[B, V, 3]` float32.

    Returns:
      `[B, V, 3]` float32 unit normals (outward).
    """
    return vertex_normals(vertices, self.triangles)


def validate_groups(params: Params, sizes: Mapping[str, int],
                    owner: str = "params") -> Optional[int]:
  """Checks named `[B, n]` groups; returns the static batch size (or None).

  Args:
    params: dict name -> tensor.
    sizes: dict name -> expected last dimension n.
    owner: what the groups belong to, for error messages.

  Returns:
    The common static batch size, or None when unknown.

  Raises:
    ValueError: on a missing group, a wrong rank or last dimension, or
      mismatched batch sizes.
  """
  if not isinstance(params, Mapping):
    raise ValueError(
        f"{owner}: parameters must be a dict of name -> [B, n] tensors, got "
        f"{type(params).__name__}.")
  batch = None
  for name, size in sizes.items():
    if name not in params:
      raise ValueError(
          f"{owner}: missing parameter group {name!r}; expected a [B, {size}] "
          f"float32 tensor (groups: {list(sizes)}).")
    value = params[name]
    shape = tf.TensorShape(value.shape if hasattr(value, "shape") else
                           np.shape(value))
    if shape.rank != 2 or (shape[1] is not None and shape[1] != size):
      raise ValueError(
          f"{owner}: parameter group {name!r} has shape {shape}; expected "
          f"[B, {size}].")
    if shape[0] is not None:
      if batch is not None and shape[0] != batch:
        raise ValueError(
            f"{owner}: parameter group {name!r} has batch size {shape[0]}, "
            f"but other groups have {batch}.")
      batch = shape[0]
  return batch


# -----------------------------------------------------------------------------
# Normals.


def face_normals(vertices: tf.Tensor, triangles, normalize: bool = True
                 ) -> tf.Tensor:
  """Per-triangle normals `(v1 - v0) x (v2 - v0)`.

  Args:
    vertices: `[B, V, 3]` float32.
    triangles: `[T, 3]` int32, counter-clockwise seen from outside.
    normalize: return unit normals (else area-weighted, length = 2 * area).

  Returns:
    `[B, T, 3]` float32.
  """
  vertices = tf.convert_to_tensor(vertices, tf.float32)
  corners = tf.gather(vertices, tf.convert_to_tensor(triangles, tf.int32),
                      axis=1)  # [B, T, 3, 3]
  v0, v1, v2 = tf.unstack(corners, axis=-2)
  normals = tf.linalg.cross(v1 - v0, v2 - v0)
  if normalize:
    normals = safe_normalize(normals)
  return normals


def vertex_normals(vertices: tf.Tensor, triangles,
                   area_weighted: bool = False) -> tf.Tensor:
  """Unit vertex normals: the normalized sum of adjacent face normals.

  Like Deep3DFaceRecon, the default sums *unit* face normals (every adjacent
  triangle counts equally); `area_weighted=True` weights them by area.
  Vertices used by no triangle get a zero normal.

  Args:
    vertices: `[B, V, 3]` float32.
    triangles: `[T, 3]` int32, counter-clockwise seen from outside.
    area_weighted: weight face normals by triangle area.

  Returns:
    `[B, V, 3]` float32 unit normals.
  """
  vertices = tf.convert_to_tensor(vertices, tf.float32)
  triangles = tf.convert_to_tensor(triangles, tf.int32)
  normals = face_normals(vertices, triangles, normalize=not area_weighted)
  num_vertices = tf.shape(vertices)[1]
  # Scatter each face normal onto its three corners: [T*3] segment ids.
  segment_ids = tf.reshape(triangles, [-1])
  per_corner = tf.repeat(normals, 3, axis=1)  # [B, T*3, 3], corner-major.
  summed = _batched_segment_sum(per_corner, segment_ids, num_vertices)
  return safe_normalize(summed)


def _batched_segment_sum(data, segment_ids, num_segments):
  """`unsorted_segment_sum` over axis 1 of `[B, N, K]` data."""
  data_t = tf.transpose(data, [1, 0, 2])  # [N, B, K]
  summed = tf.math.unsorted_segment_sum(data_t, segment_ids, num_segments)
  return tf.transpose(summed, [1, 0, 2])


def safe_normalize(vectors: tf.Tensor, axis: int = -1,
                   eps: float = 1e-12) -> tf.Tensor:
  """Normalizes to unit length; zero vectors stay zero with finite gradients.

  Args:
    vectors: `[..., K]` float32.
    axis: the vector axis.
    eps: squared-norm floor.

  Returns:
    Same shape, unit length (or zero).
  """
  squared = tf.reduce_sum(tf.square(vectors), axis=axis, keepdims=True)
  return vectors * tf.math.rsqrt(tf.maximum(squared, eps))


# -----------------------------------------------------------------------------
# Flat coefficient vectors.


class CoefficientLayout:
  """Named contiguous slices of a flat `[B, N]` coefficient vector.

  Example: `CoefficientLayout([("identity", 80), ("expression", 64)])`
  splits a `[B, 144]` tensor into `{"identity": [B, 80], "expression":
  [B, 64]}` and joins it back.
  """

  def __init__(self, groups: Sequence[Tuple[str, int]]):
    """Creates a layout.

    Args:
      groups: sequence of `(name, size)` in storage order; names unique,
        sizes positive ints.

    Raises:
      ValueError: on duplicate names or non-positive sizes.
    """
    self._sizes = collections.OrderedDict()
    for name, size in groups:
      if name in self._sizes:
        raise ValueError(f"CoefficientLayout: duplicate group name {name!r}.")
      if int(size) <= 0:
        raise ValueError(
            f"CoefficientLayout: group {name!r} has size {size}; expected a "
            "positive int.")
      self._sizes[name] = int(size)
    offsets, start = collections.OrderedDict(), 0
    for name, size in self._sizes.items():
      offsets[name] = (start, start + size)
      start += size
    self._offsets = offsets
    self._total = start

  @property
  def sizes(self) -> "collections.OrderedDict[str, int]":
    """Ordered dict name -> size."""
    return collections.OrderedDict(self._sizes)

  @property
  def slices(self) -> "collections.OrderedDict[str, Tuple[int, int]]":
    """Ordered dict name -> `(start, stop)` in the flat vector."""
    return collections.OrderedDict(self._offsets)

  @property
  def size(self) -> int:
    """Total length N of the flat vector."""
    return self._total

  def split(self, coefficients) -> Dict[str, tf.Tensor]:
    """Splits `[..., N]` coefficients into a dict of `[..., n]` groups.

    Raises:
      ValueError: if the last dimension is not N.
    """
    coefficients = tf.convert_to_tensor(coefficients, tf.float32)
    if coefficients.shape.rank is None or coefficients.shape.rank < 1 or (
        coefficients.shape[-1] is not None and
        coefficients.shape[-1] != self._total):
      raise ValueError(
          f"coefficients have shape {coefficients.shape}; expected [..., "
          f"{self._total}] ({self.describe()}).")
    return {name: coefficients[..., start:stop]
            for name, (start, stop) in self._offsets.items()}

  def join(self, groups: Params) -> tf.Tensor:
    """Concatenates a dict of `[..., n]` groups into `[..., N]`.

    Raises:
      ValueError: naming a missing or mis-sized group.
    """
    parts = []
    for name, size in self._sizes.items():
      if name not in groups:
        raise ValueError(
            f"missing coefficient group {name!r}; expected [..., {size}] "
            f"({self.describe()}).")
      part = tf.convert_to_tensor(groups[name], tf.float32)
      if part.shape.rank is None or part.shape.rank < 1 or (
          part.shape[-1] is not None and part.shape[-1] != size):
        raise ValueError(
            f"coefficient group {name!r} has shape {part.shape}; expected "
            f"[..., {size}].")
      parts.append(part)
    return tf.concat(parts, axis=-1)

  def describe(self) -> str:
    """`'identity 0:80 | expression 80:144 | ...'`."""
    return " | ".join(f"{name} {start}:{stop}"
                      for name, (start, stop) in self._offsets.items())

  def __repr__(self):
    return f"CoefficientLayout({self.describe()})"
