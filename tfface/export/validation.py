"""Checking the inputs of exported signatures, inside the graph.

Every exported signature validates its inputs before any model op runs, so a
bad request gets one clear ``tf.errors.InvalidArgumentError`` naming the
signature, the input and what was expected::

    encode: image must be [B, 64, 64, 3] float32 RGB in [-1, 1] with B >= 1,
    got shape [64, 64, 3]

and never a process abort (the oneDNN convolution ``CHECK``-fails on a
rank-3 image and takes TF Serving down with it), a silent broadcast
(``rotation`` of shape ``[3]``) or a kernel error about gather indices (NaN
rotations). The checks are stock TensorFlow ops (``Rank``, ``Shape``,
``Assert``, ``StringJoin`` ...), so stock TF Serving runs them.

Usage, in a method's serving module::

    from tfface.export import validation as v

    @v.validated_function("generate", [
        v.Input("z", (v.BATCH, latent_dim), finite=True),
        v.Input("rotation", (v.BATCH, 3), meaning="(pitch, yaw, roll) radians",
                finite=True)])
    def generate(z, rotation):   # z, rotation are checked, with static shapes
      return {"image": generator(z, rotation)}

:func:`validated_function` is ``tf.function(input_signature=...)`` plus a call
to :func:`validate` at the top of the body; :func:`validate` is the primitive
for hand-written signatures.

Why the graph placeholders have no static shape
-----------------------------------------------
A loaded SavedModel's ``signatures[name](...)`` (and TF Serving's session)
checks only the dtype of an input, not its shape, yet Grappler trusts the
placeholder's shape: with ``TensorSpec([None, 64, 64, 3])`` it folds
``Rank(image)`` to 4, and it also infers ranks backwards from consumers (a
``Conv2D`` needs rank 4). A rank check written in the graph is then
constant-folded to "true" and the bad tensor reaches the kernel. So each
:class:`Input` declares ``TensorSpec(shape=None, dtype)`` (the SignatureDef
shows an unknown shape; :meth:`Input.describe` gives the real one for
metadata), and :func:`validate` hands the body ``Reshape``\\ d copies with
the static shape — a ``Reshape`` does not let a consumer's shape requirement
flow back to its input, so nothing in the checks can be folded away.

Dtypes are enforced by the signature itself (a float64 tensor for a float32
input is refused with ``InvalidArgumentError`` before the graph runs).
"""

import dataclasses
import functools
import inspect
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

# The symbol for the batch dimension in :attr:`Input.shape`.
BATCH = "B"

# One entry of an input's shape: a fixed size (int), a named size shared by
# every input that uses the same name and >= 1 (str, e.g. BATCH), or any
# size >= 0 (None).
Dim = Union[int, str, None]


def _number(value: float) -> str:
  return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclasses.dataclass(frozen=True)
class Input:
  """One input of an exported signature and what it must hold.

  Attributes:
    name: the input's name (the SignatureDef key).
    shape: the expected shape; each entry an int (that size), a str (a named
      size >= 1 shared by every input using the name, e.g. :data:`BATCH`) or
      None (any size).
    dtype: the input's dtype.
    meaning: units and range for messages and docs, e.g. ``"RGB in [-1, 1]"``
      or ``"(pitch, yaw, roll) radians"``.
    finite: refuse NaN and Inf (floating dtypes only).
    minimum: refuse values below this.
    maximum: refuse values above this.
  """
  name: str
  shape: Tuple[Dim, ...]
  dtype: tf.DType = tf.float32
  meaning: str = ""
  finite: bool = False
  minimum: Optional[float] = None
  maximum: Optional[float] = None

  def __post_init__(self):
    object.__setattr__(self, "shape", tuple(self.shape))
    object.__setattr__(self, "dtype", tf.as_dtype(self.dtype))
    if not self.name or not self.name.replace("_", "a").isalnum():
      raise ValueError(f"input name {self.name!r} must be a non-empty "
                       "[A-Za-z0-9_] name")
    for dim in self.shape:
      ok = (dim is None or (isinstance(dim, str) and dim.isidentifier()) or
            (isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0))
      if not ok:
        raise ValueError(f"input {self.name!r}: shape entries must be sizes "
                         f">= 0, size names or None, got {self.shape}")
    if self.finite and not self.dtype.is_floating:
      raise ValueError(f"input {self.name!r}: finite=True needs a floating "
                       f"dtype, got {self.dtype.name}")
    if (self.minimum is not None and self.maximum is not None and
        self.minimum > self.maximum):
      raise ValueError(f"input {self.name!r}: minimum {self.minimum} > "
                       f"maximum {self.maximum}")

  @property
  def rank(self) -> int:
    return len(self.shape)

  @property
  def spec(self) -> tf.TensorSpec:
    """The graph placeholder's spec: this dtype, no static shape (see the
    module docstring for why)."""
    return tf.TensorSpec(None, self.dtype, name=self.name)

  @property
  def static_shape(self) -> tf.TensorShape:
    """The shape the signature body sees: named sizes and None unknown."""
    return tf.TensorShape([d if isinstance(d, int) else None
                           for d in self.shape])

  def shape_text(self) -> str:
    """``[B, 64, 64, 3]`` (``?`` for any size); ``a scalar`` for rank 0."""
    if not self.shape:
      return "a scalar"
    return "[" + ", ".join("?" if d is None else str(d)
                           for d in self.shape) + "]"

  def range_text(self) -> str:
    """``>= 1``, ``<= 2``, ``in [-1, 1]`` or ``""``."""
    low, high = self.minimum, self.maximum
    if low is not None and high is not None:
      return f"in [{_number(low)}, {_number(high)}]"
    if low is not None:
      return f">= {_number(low)}"
    if high is not None:
      return f"<= {_number(high)}"
    return ""

  def expected(self) -> str:
    """``[B, 64, 64, 3] float32 RGB in [-1, 1] with B >= 1``."""
    text = f"{self.shape_text()} {self.dtype.name}"
    for part in (self.meaning, self.range_text()):
      if part:
        text += f" {part}"
    names = list(dict.fromkeys(d for d in self.shape if isinstance(d, str)))
    if names:
      text += " with " + " and ".join(f"{n} >= 1" for n in names)
    return text

  def describe(self) -> Dict[str, object]:
    """A JSON-able description (for export metadata and docs)."""
    out = {"name": self.name, "shape": list(self.shape),
           "dtype": self.dtype.name, "expected": self.expected()}
    if self.meaning:
      out["meaning"] = self.meaning
    if self.finite:
      out["finite"] = True
    if self.minimum is not None:
      out["minimum"] = self.minimum
    if self.maximum is not None:
      out["maximum"] = self.maximum
    return out


def input_signature(inputs: Sequence[Input]) -> List[tf.TensorSpec]:
  """``[input.spec ...]`` for ``tf.function(input_signature=...)``."""
  return [i.spec for i in inputs]


def describe(inputs: Sequence[Input]) -> List[Dict[str, object]]:
  """:meth:`Input.describe` of each input."""
  return [i.describe() for i in inputs]


# -- the in-graph checks ------------------------------------------------------

def _as_text(values: tf.Tensor) -> tf.Tensor:
  if values.dtype.is_floating:
    return tf.strings.as_string(values, shortest=True)
  return tf.strings.as_string(values)


def _shape_text(shape: tf.Tensor) -> tf.Tensor:
  """``"[64, 64, 3]"`` for a runtime shape vector."""
  inner = tf.strings.reduce_join(_as_text(shape), separator=", ")
  return tf.strings.join(["[", inner, "]"])


class _Checks:
  """Builds asserts that run one after another (the first failure reports)."""

  def __init__(self):
    self.last = None

  def add(self, condition: tf.Tensor, message: Callable[[], List[tf.Tensor]]):
    deps = [self.last] if self.last is not None else []
    with tf.control_dependencies(deps):
      parts = message()
      text = tf.strings.join([tf.convert_to_tensor(p) for p in parts])
      self.last = tf.debugging.Assert(condition, [text], summarize=1)

  def gate(self, x: tf.Tensor, target, static: tf.TensorShape) -> tf.Tensor:
    deps = [self.last] if self.last is not None else []
    with tf.control_dependencies(deps):
      out = tf.reshape(x, target)
    out.set_shape(static)
    return out


def _padded_shape(shape: tf.Tensor, rank: int) -> tf.Tensor:
  """The first ``rank`` entries of ``shape``, padded with -1 (any rank in)."""
  return tf.concat([shape, tf.fill([rank], -1)], axis=0)[:rank]


def _place(inputs: Sequence[Input], name: str, place: Tuple[int, int]) -> str:
  """``z``, or ``m axis 2`` when the size name occurs twice in ``m``."""
  index, axis = place
  spec = inputs[index]
  if sum(1 for d in spec.shape if d == name) > 1:
    return f"{spec.name} axis {axis}"
  return spec.name


def _validate_graph(signature: str, inputs: Sequence[Input],
                    tensors: Sequence[tf.Tensor]) -> Tuple[tf.Tensor, ...]:
  checks = _Checks()
  shapes, padded = [], []
  # 1. Each input's rank and fixed sizes; named sizes >= 1.
  for spec, x in zip(inputs, tensors):
    shape = tf.raw_ops.Shape(input=x, out_type=tf.int32)
    rank = tf.raw_ops.Rank(input=x)
    dims = _padded_shape(shape, spec.rank)
    ok = tf.equal(rank, spec.rank)
    for axis, dim in enumerate(spec.shape):
      if isinstance(dim, int):
        ok = tf.logical_and(ok, tf.equal(dims[axis], dim))
      elif isinstance(dim, str):
        ok = tf.logical_and(ok, tf.greater_equal(dims[axis], 1))
    prefix = f"{signature}: {spec.name} must be {spec.expected()}, got shape "
    checks.add(ok, lambda p=prefix, s=shape: [p, _shape_text(s)])
    shapes.append(shape)
    padded.append(dims)
  # 2. Named sizes agree across (and within) inputs.
  seen: Dict[str, List[Tuple[int, int]]] = {}
  for index, spec in enumerate(inputs):
    for axis, dim in enumerate(spec.shape):
      if isinstance(dim, str):
        seen.setdefault(dim, []).append((index, axis))
  for name, places in seen.items():
    what = "batch size B" if name == BATCH else f"size {name}"
    first = places[0]
    for other in places[1:]:
      a = padded[first[0]][first[1]]
      b = padded[other[0]][other[1]]
      prefix = (f"{signature}: {_place(inputs, name, first)} and "
                f"{_place(inputs, name, other)} must have the same {what}, "
                "got ")
      checks.add(tf.equal(a, b),
                 lambda p=prefix, a=a, b=b: [p, _as_text(a), " and ",
                                             _as_text(b)])
  # 3. Values: finite, in range.
  for spec, x, shape in zip(inputs, tensors, shapes):
    if spec.finite:
      bad = tf.reduce_sum(tf.cast(tf.logical_not(tf.math.is_finite(x)),
                                  tf.int32))
      prefix = f"{signature}: {spec.name} must be finite, got "
      checks.add(tf.equal(bad, 0),
                 lambda p=prefix, bad=bad, s=shape: [
                     p, _as_text(bad), " NaN or Inf values in shape ",
                     _shape_text(s)])
    if spec.minimum is not None or spec.maximum is not None:
      flat = tf.reshape(x, [-1])
      ok = tf.constant(True)
      if spec.minimum is not None:
        ok = tf.logical_and(ok, tf.reduce_all(
            flat >= tf.cast(spec.minimum, spec.dtype)))
      if spec.maximum is not None:
        ok = tf.logical_and(ok, tf.reduce_all(
            flat <= tf.cast(spec.maximum, spec.dtype)))
      prefix = f"{signature}: {spec.name} must be {spec.range_text()}, got "
      if spec.rank == 0:
        message = lambda p=prefix, f=flat: [p, tf.strings.reduce_join(
            _as_text(f))]
      else:
        message = lambda p=prefix, f=flat: [
            p, "values in [", _as_text(tf.reduce_min(f)), ", ",
            _as_text(tf.reduce_max(f)), "]"]
      checks.add(ok, message)
  # 4. The body gets the checked tensors, with static shapes.
  out = []
  for spec, x, dims in zip(inputs, tensors, padded):
    if all(isinstance(d, int) for d in spec.shape):
      target = tf.constant(list(spec.shape), tf.int32)
    else:
      target = tf.stack([tf.constant(d, tf.int32) if isinstance(d, int)
                         else dims[axis] for axis, d in enumerate(spec.shape)])
    out.append(checks.gate(x, target, spec.static_shape))
  return tuple(out)


@functools.lru_cache(maxsize=64)
def _eager_checks(signature: str, inputs: Tuple[Input, ...]):
  """The checks as a tf.function, for eager callers (same graph, same text)."""
  return tf.function(lambda *xs: _validate_graph(signature, inputs, xs),
                     input_signature=input_signature(inputs),
                     autograph=False)


def validate(signature: str, inputs: Sequence[Input],
             *tensors: tf.Tensor) -> Tuple[tf.Tensor, ...]:
  """Checks ``tensors`` against ``inputs``; returns them with static shapes.

  Call it first thing in a signature's ``tf.function`` (declared with
  :func:`input_signature`) and use only the returned tensors: they depend on
  every check, so no model op runs on a bad input. Checks, in this order
  (the first failure raises):

  1. each input's rank and fixed sizes, named sizes >= 1:
     ``"<signature>: <name> must be <Input.expected()>, got shape [...]"``;
  2. named sizes agree: ``"<signature>: z and rotation must have the same
     batch size B, got 2 and 3"``;
  3. values: ``"<signature>: <name> must be finite, got 3 NaN or Inf values
     in shape [1, 3]"``, ``"<signature>: n must be >= 1, got 0"``.

  Args:
    signature: the signature's name, for messages.
    inputs: what each input must hold.
    *tensors: the signature's inputs, in the order of ``inputs``. In a graph
      they must have no static shape (:attr:`Input.spec`); eagerly anything
      goes (the checks then run as a small ``tf.function``).

  Returns:
    The inputs, each depending on every check, with static shapes
    :attr:`Input.static_shape`.

  Raises:
    tf.errors.InvalidArgumentError: when run on a bad input.
    TypeError: a tensor's dtype is not its input's, or (in a graph) a tensor
      has a static shape, so Grappler could fold the checks away.
    ValueError: the numbers of inputs and tensors differ.
  """
  inputs = tuple(inputs)
  if len(tensors) != len(inputs):
    raise ValueError(f"{signature}: validate got {len(tensors)} tensors for "
                     f"{len(inputs)} inputs {[i.name for i in inputs]}")
  names = [i.name for i in inputs]
  if len(set(names)) != len(names):
    raise ValueError(f"{signature}: input names {names} repeat")
  converted = []
  for spec, x in zip(inputs, tensors):
    if isinstance(x, (tf.Tensor, tf.Variable, np.ndarray, np.generic)):
      x = tf.convert_to_tensor(x)
    else:  # Python numbers and lists take the input's dtype if they can.
      x = tf.convert_to_tensor(x, dtype_hint=spec.dtype)
    if x.dtype != spec.dtype:
      raise TypeError(f"{signature}: {spec.name} must be {spec.expected()}, "
                      f"got dtype {x.dtype.name}")
    converted.append(x)
  if tf.executing_eagerly():
    return tuple(_eager_checks(signature, inputs)(*converted))
  for spec, x in zip(inputs, converted):
    if x.shape.rank is not None:
      raise TypeError(
          f"{signature}: input {spec.name!r} has the static shape {x.shape}; "
          "declare it with Input.spec (no static shape) so the checks cannot "
          "be optimized away")
  return _validate_graph(signature, inputs, converted)


def validated_function(signature: str, inputs: Sequence[Input]):
  """Decorator: a signature ``tf.function`` whose body gets checked inputs.

  ``fn``'s parameters must be the inputs' names, in order. The result is
  ``tf.function(input_signature=input_signature(inputs))`` of a body that
  calls :func:`validate` first; it carries ``inputs`` as ``.inputs``.
  """
  inputs = tuple(inputs)

  def decorate(fn):
    params = list(inspect.signature(fn).parameters)
    if params != [i.name for i in inputs]:
      raise ValueError(f"{signature}: the function's parameters {params} must "
                       f"be the inputs {[i.name for i in inputs]}")

    @functools.wraps(fn)
    def body(*args):
      return fn(*validate(signature, inputs, *args))

    function = tf.function(body, input_signature=input_signature(inputs))
    function.inputs = inputs
    return function

  return decorate
