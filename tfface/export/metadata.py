"""The export conventions every tfface method follows, written by one function.

:func:`export_servable` saves a serving module as ``<base_dir>/<version>``
with:

* the method's named signatures, each validated at its boundary
  (:mod:`tfface.export.validation`);
* ``serving_default``: the method's main use (generate an image from a
  latent or from controls), the signature clients get without naming one;
* ``metadata``: a signature with no inputs returning ``{"json": string}``,
  the same JSON as ``assets.extra/tfface.json``;
* ``assets.extra/tfface.json``: method, tfface version, resolution, the image
  convention (float32 NHWC RGB in [-1, 1]), every signature's inputs with
  shape, dtype, units and range (the SignatureDef itself shows them as
  unknown-rank: see the validation module), its outputs, and the method's
  own tables (ConfigNet: every factor with its θ entry names and latent
  slice);
* ``assets.extra/tf_serving_warmup_requests``: one valid request per
  signature (batch 1), which TF Serving replays on load.

The extra files are written before the version directory is renamed into
place, so a server never sees a version without them.
"""

import json
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

import tfface
from tfface.export import savedmodel
from tfface.export import serving_config
from tfface.export import validation as v

METADATA_FILE = "assets.extra/tfface.json"
IMAGE_CONVENTION = {"dtype": "float32", "layout": "NHWC", "channels": "RGB",
                    "range": [-1.0, 1.0]}


def example_inputs(inputs: Sequence[v.Input], batch: int = 1
                   ) -> Dict[str, np.ndarray]:
  """Valid inputs for a signature (for warm-up and smoke checks).

  Named sizes become ``batch``, free sizes 1; values are zeros clipped into
  the input's range (so ``n >= 1`` gets 1).
  """
  out = {}
  for spec in inputs:
    shape = [batch if isinstance(d, str) else (1 if d is None else d)
             for d in spec.shape]
    value = 0.0
    if spec.minimum is not None:
      value = max(value, spec.minimum)
    if spec.maximum is not None:
      value = min(value, spec.maximum)
    out[spec.name] = np.full(shape, value, spec.dtype.as_numpy_dtype)
  return out


def build_metadata(method: str, resolution: int, main_signature: str,
                   signature_inputs: Mapping[str, Sequence[v.Input]],
                   outputs: Mapping[str, Mapping[str, str]],
                   extra: Optional[Mapping[str, object]] = None
                   ) -> Dict[str, object]:
  """The ``tfface.json`` content (see the module docstring).

  Args:
    method: e.g. ``"confignet"``.
    resolution: image size R of the model's images.
    main_signature: the signature ``serving_default`` aliases.
    signature_inputs: signature -> its :class:`validation.Input`s.
    outputs: signature -> output name -> description.
    extra: the method's own entries (factor tables, parameter names).
  """
  if main_signature not in signature_inputs:
    raise ValueError(f"serving_default must alias one of "
                     f"{sorted(signature_inputs)}, got {main_signature!r}")
  signatures = {}
  for name, inputs in signature_inputs.items():
    signatures[name] = {"inputs": v.describe(inputs),
                        "outputs": dict(outputs.get(name, {}))}
  signatures["serving_default"] = dict(signatures[main_signature],
                                       alias_of=main_signature)
  signatures["metadata"] = {"inputs": [],
                            "outputs": {"json": "this metadata as JSON"}}
  return {"method": method, "tfface_version": tfface.__version__,
          "resolution": int(resolution), "image": IMAGE_CONVENTION,
          "serving_default": main_signature, "signatures": signatures,
          **dict(extra or {})}


def export_servable(module: tf.Module, base_dir: str,
                    signatures: Mapping[str, object],
                    metadata: Mapping[str, object],
                    signature_inputs: Mapping[str, Sequence[v.Input]],
                    model_name: Optional[str] = None,
                    version: Optional[int] = None) -> str:
  """Exports with the conventions above; returns the version directory.

  Args:
    module: holds the networks.
    base_dir: the model's base path.
    signatures: name -> validated ``tf.function`` (not ``serving_default``
      or ``metadata``: they are added here).
    metadata: from :func:`build_metadata`.
    signature_inputs: signature -> inputs, for the warm-up requests.
    model_name: the name TF Serving serves it under (the warm-up requests
      carry it); default ``metadata["method"]``.
    version: default the next free one.
  """
  reserved = {"serving_default", "metadata"} & set(signatures)
  if reserved:
    raise ValueError(f"signatures {sorted(reserved)} are added by the export; "
                     "do not define them")
  main = metadata["serving_default"]
  text = json.dumps(metadata, indent=2, sort_keys=True)

  @tf.function(input_signature=[])
  def metadata_signature():
    return {"json": tf.constant(text)}

  all_signatures = dict(signatures)
  all_signatures["serving_default"] = signatures[main]
  all_signatures["metadata"] = metadata_signature
  name = model_name or str(metadata["method"])
  warmup: Tuple[Tuple[str, Dict[str, np.ndarray]], ...] = tuple(
      (sig, example_inputs(inputs)) for sig, inputs in
      signature_inputs.items()) + (("serving_default", example_inputs(
          signature_inputs[main])),)

  def write_assets(directory: str) -> None:
    path = f"{directory}/{METADATA_FILE}"
    tf.io.gfile.makedirs(f"{directory}/assets.extra")
    with tf.io.gfile.GFile(path, "w") as f:
      f.write(text + "\n")
    serving_config.write_warmup_requests(directory, name, warmup)

  return savedmodel.export_module(module, base_dir, all_signatures,
                                  version=version,
                                  before_publish=write_assets)


def read_metadata(version_dir: str) -> Dict[str, object]:
  """``assets.extra/tfface.json`` of an export."""
  with tf.io.gfile.GFile(f"{version_dir}/{METADATA_FILE}") as f:
    return json.load(f)
