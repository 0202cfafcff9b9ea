"""Writing SavedModels that stock TensorFlow Serving loads.

``export_module`` saves a ``tf.Module`` with named ``@tf.function`` signatures
into a new numbered version directory (``<base_dir>/<version>/``, the layout TF
Serving watches), atomically: the SavedModel is written under a temporary name
and renamed into place, and an existing version is never overwritten. Before
the rename it checks that the graph uses only stock TensorFlow ops (no custom
kernels such as the TF Graphics rasterizer), so a stock ``tensorflow_model_server``
can run it.
"""

import os
import shutil
import uuid
from typing import Callable, Dict, Iterable, Mapping, Optional, Set, Union

import tensorflow as tf

Signature = Union[tf.types.experimental.GenericFunction,
                  tf.types.experimental.ConcreteFunction]


class ExportError(ValueError):
  """The module or its signatures cannot be exported as asked."""


def stock_op_names() -> Set[str]:
  """Names of the ops that ship with TensorFlow (``tf.raw_ops``)."""
  return {name for name in dir(tf.raw_ops) if not name.startswith("_")}


def graph_op_names(saved_model_dir: str) -> Set[str]:
  """Every op type in a SavedModel's graph and function library."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  proto = saved_model_pb2.SavedModel()
  with tf.io.gfile.GFile(os.path.join(saved_model_dir, "saved_model.pb"),
                         "rb") as f:
    proto.ParseFromString(f.read())
  ops = set()
  for meta_graph in proto.meta_graphs:
    ops.update(node.op for node in meta_graph.graph_def.node)
    for function in meta_graph.graph_def.library.function:
      ops.update(node.op for node in function.node_def)
  return ops


def _concrete(name: str, fn: Signature) -> tf.types.experimental.ConcreteFunction:
  if isinstance(fn, tf.types.experimental.ConcreteFunction):
    return fn
  if getattr(fn, "input_signature", None) is None:
    raise ExportError(f"signature {name!r} needs a tf.function with an "
                      "input_signature (fixed dtypes, batch dimension None)")
  return fn.get_concrete_function()


def _check_inputs(name: str, concrete, batch_inputs: Optional[Iterable[str]]):
  specs = concrete.structured_input_signature
  flat = tf.nest.flatten(specs)
  for spec in flat:
    if not isinstance(spec, tf.TensorSpec):
      raise ExportError(f"signature {name!r} input {spec!r} is not a TensorSpec")
    wants_batch = (batch_inputs is None and spec.shape.rank) or (
        batch_inputs is not None and spec.name in batch_inputs)
    if wants_batch and spec.shape.rank and spec.shape[0] is not None:
      raise ExportError(
          f"signature {name!r} input {spec.name!r} has fixed batch size "
          f"{spec.shape[0]}; expected the batch dimension to be None")


def next_version(base_dir: str) -> int:
  """1 + the largest numeric version directory under ``base_dir`` (1 if none)."""
  if not tf.io.gfile.isdir(base_dir):
    return 1
  versions = [int(n) for n in tf.io.gfile.listdir(base_dir)
              if n.rstrip("/").isdigit()]
  return max(versions, default=0) + 1


def export_module(module: tf.Module,
                  base_dir: str,
                  signatures: Mapping[str, Signature],
                  version: Optional[int] = None,
                  batch_inputs: Optional[Iterable[str]] = None,
                  before_publish: Optional[Callable[[str], None]] = None
                  ) -> str:
  """Saves ``module`` with named signatures as ``<base_dir>/<version>``.

  Args:
    module: holds the variables the signatures use.
    base_dir: the model's base path (TF Serving's ``base_path``).
    signatures: name -> ``tf.function`` with an ``input_signature`` (or a
      concrete function). Names become the SavedModel signature keys.
    version: version number; default the next free one.
    batch_inputs: names of the inputs that must have a ``None`` batch
      dimension; default every input of rank >= 1.
    before_publish: called with the temporary directory after the SavedModel
      is written and checked, before it is renamed into place (writes
      ``assets.extra/`` files, so a server never sees a version without them).

  Returns:
    The path of the written version directory.

  Raises:
    ExportError: no signatures, a signature without input_signature or with a
      fixed batch dimension, an existing version, or non-stock ops.
  """
  if not signatures:
    raise ExportError("export needs at least one signature")
  concrete: Dict[str, tf.types.experimental.ConcreteFunction] = {}
  for name, fn in signatures.items():
    concrete[name] = _concrete(name, fn)
    _check_inputs(name, concrete[name], batch_inputs)
  version = next_version(base_dir) if version is None else int(version)
  final = os.path.join(base_dir, str(version))
  if tf.io.gfile.exists(final):
    raise ExportError(f"{final} already exists; exports never overwrite a "
                      "version, choose another")
  tf.io.gfile.makedirs(base_dir)
  tmp = os.path.join(base_dir, f".tmp-{version}-{uuid.uuid4().hex[:8]}")
  try:
    tf.saved_model.save(module, tmp, signatures=concrete)
    custom = graph_op_names(tmp) - stock_op_names()
    if custom:
      raise ExportError(f"the exported graph uses non-stock ops {sorted(custom)};"
                        " TF Serving cannot run them (use backend='tf' for "
                        "rendering inside exports)")
    if before_publish is not None:
      before_publish(tmp)
    tf.io.gfile.rename(tmp, final)
  finally:
    if tf.io.gfile.exists(tmp):
      shutil.rmtree(tmp, ignore_errors=True)
  return final
