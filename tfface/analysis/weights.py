"""Weights files of the face-analysis networks, trained by tfface or converted.

One format for every frozen analysis network, whether tfface trained it on its
synthetic faces or ``tools/convert_weights.py`` converted a released one: an
``.npz`` archive (the StyleGAN2 weights container,
:func:`tfface.networks.stylegan2_weights.save_weights`) holding

* ``config``: JSON ``{"network": {"kind": ..., "config": {...},
  "metadata": {...}}}`` — the registered kind, its constructor arguments
  and free-form facts (input conventions, measured accuracy, source);
* ``network/<attribute path>``: one array per variable, keyed by the chain
  of Python attributes that reaches it from the model
  (``trunk/block_1/conv_1/kernel``; :func:`named_variables`). Keras'
  ``variable.path`` is not used: it holds auto-generated layer names that
  change with how many models a process has built (``dense_3``).

Network classes register a builder under a kind name with
:func:`register_kind`; :func:`load_network` rebuilds the model from the
config, calls it once on zeros of ``[1, input_size, input_size, 3]`` and
assigns every array (a missing, unexpected or mis-shaped array is a
:class:`~tfface.networks.stylegan2_weights.WeightsError` naming it).

Every analysis network takes images `[B, H, W, 3]` float32 RGB in [-1, 1] (the
tfface convention, any H, W) and does its own resizing and preprocessing, so
the caller never needs to know whether it was trained here (64 px, [-1, 1]) or
converted (e.g. R-Net: 224 px BGR 0-255).
"""

from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfface.networks import stylegan2_weights

WeightsError = stylegan2_weights.WeightsError
_PREFIX = "network/"
_BUILDERS: Dict[str, Callable[..., tf.keras.Model]] = {}


def register_kind(kind: str):
  """Class decorator: ``kind`` rebuilds as ``cls(**config)``."""
  def decorate(cls):
    if kind in _BUILDERS and _BUILDERS[kind] is not cls:
      raise ValueError(f"analysis network kind {kind!r} is registered twice")
    _BUILDERS[kind] = cls
    cls.network_kind = kind
    return cls
  return decorate


def registered_kinds() -> Tuple[str, ...]:
  _import_networks()
  return tuple(sorted(_BUILDERS))


def _import_networks() -> None:
  """Imports the modules that register kinds (kept lazy: no import cycles)."""
  import importlib  # pylint: disable=g-import-not-at-top
  for module in ("tfface.analysis.reconstruction", "tfface.analysis.landmarks",
                 "tfface.analysis.identity", "tfface.analysis.parser",
                 "tfface.analysis.public_nets", "tfface.analysis.facenet"):
    try:
      importlib.import_module(module)
    except ModuleNotFoundError as e:
      if e.name != module:  # a real import error inside the module
        raise


def build_network(kind: str, config: Mapping[str, Any]) -> tf.keras.Model:
  """A built (called once) network of a registered kind.

  Raises:
    WeightsError: ``kind`` is not registered, or the config does not fit.
  """
  _import_networks()
  if kind not in _BUILDERS:
    raise WeightsError(f"unknown analysis network kind {kind!r}; expected one "
                       f"of {sorted(_BUILDERS)}")
  try:
    model = _BUILDERS[kind](**dict(config))
  except TypeError as e:
    raise WeightsError(f"the config of a {kind!r} network does not fit its "
                       f"constructor: {e}") from e
  size = int(getattr(model, "input_size"))
  model(tf.zeros([1, size, size, 3]))
  return model


def named_variables(model: tf.keras.layers.Layer) -> Dict[str, Any]:
  """Every variable of a built layer under its attribute path.

  Walks the layer's attributes in sorted order: a sub-layer is entered (once),
  a variable is named ``<attribute path>/<attribute>`` at its first
  occurrence; lists are skipped (list-held layers are attributes too, see
  :func:`tfface.layers.tracking.track`). Private attributes count (Keras'
  ``Dense`` keeps ``_kernel``), except Keras' own bookkeeping.

  Raises:
    WeightsError: a variable of ``model.weights`` is not reachable by
      attributes (it would not be saved).
  """
  out: Dict[str, Any] = {}
  seen_layers, seen_variables = set(), set()

  def visit(layer, prefix):
    seen_layers.add(id(layer))
    for name in sorted(vars(layer)):
      if name in _BOOKKEEPING:
        continue
      value = vars(layer)[name]
      if isinstance(value, tf.keras.layers.Layer):
        if id(value) not in seen_layers:
          visit(value, f"{prefix}{name.lstrip('_')}/")
      elif isinstance(value, (tf.keras.Variable, tf.Variable)):
        if id(value) not in seen_variables:
          seen_variables.add(id(value))
          out[f"{prefix}{name.lstrip('_')}"] = value

  visit(model, "")
  unreachable = [v.path for v in model.weights if id(v) not in seen_variables]
  if unreachable:
    raise WeightsError(f"{type(model).__name__} has variables no attribute "
                       f"holds: {unreachable[:3]}")
  return out


_BOOKKEEPING = frozenset({"_tracker", "_layers", "_trainable_variables",
                          "_non_trainable_variables", "_seed_generators",
                          "_metrics", "_loss_ids", "_losses", "_parent_path",
                          "_inbound_nodes", "_outbound_nodes"})


def network_arrays(model: tf.keras.Model) -> Dict[str, np.ndarray]:
  """``attribute path -> array`` of every variable of a built model."""
  return {k: np.asarray(v.numpy()) for k, v in named_variables(model).items()}


def assign_arrays(model: tf.keras.Model, arrays: Mapping[str, np.ndarray],
                  what: str = "network") -> None:
  """Assigns ``arrays`` (keyed as :func:`network_arrays`) to a built model."""
  stylegan2_weights.assign_named(named_variables(model), arrays, what)


def save_network(path: str, model: tf.keras.Model,
                 config: Mapping[str, Any],
                 metadata: Optional[Mapping[str, Any]] = None) -> None:
  """Writes a built network of a registered kind, atomically.

  Args:
    path: the ``.npz`` to write (its directory is created).
    model: a built network whose class was registered with
      :func:`register_kind`.
    config: its constructor arguments (JSON-serializable).
    metadata: free-form facts to keep with it (conventions, accuracy, source).
  """
  kind = getattr(type(model), "network_kind", None)
  if kind is None:
    raise WeightsError(f"{type(model).__name__} is not a registered analysis "
                       "network (use @weights.register_kind)")
  header = {"network": {"kind": kind, "config": dict(config),
                        "metadata": dict(metadata or {})}}
  arrays = {_PREFIX + k: v for k, v in network_arrays(model).items()}
  stylegan2_weights.save_weights(path, header, arrays)


def read_header(path: str) -> Dict[str, Any]:
  """``{"kind", "config", "metadata"}`` of a weights file, without building."""
  header, _ = stylegan2_weights.load_weights(path)
  if "network" not in header:
    raise WeightsError(f"{path} is not an analysis network weights file (its "
                       "config has no 'network' entry; StyleGAN2 weights load "
                       "with tfface.networks.load_stylegan2_generator)")
  return header["network"]


def load_network(path: str, trainable: bool = False) -> tf.keras.Model:
  """Rebuilds and fills a network from its weights file.

  Args:
    path: a file written by :func:`save_network` or a converter.
    trainable: leave the weights trainable (default frozen).

  Returns:
    The built network; ``model.weights_metadata`` holds the file's metadata.
  """
  header, arrays = stylegan2_weights.load_weights(path)
  if "network" not in header:
    raise WeightsError(f"{path} is not an analysis network weights file (its "
                       "config has no 'network' entry)")
  entry = header["network"]
  model = build_network(entry["kind"], entry.get("config", {}))
  arrays = {k[len(_PREFIX):]: v for k, v in arrays.items()
            if k.startswith(_PREFIX)}
  assign_arrays(model, arrays, f"{path} ({entry['kind']})")
  model.trainable = trainable
  model.weights_metadata = dict(entry.get("metadata", {}))
  return model
