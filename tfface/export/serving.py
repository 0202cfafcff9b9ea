"""TF Serving's request formats: REST JSON and gRPC PredictRequest, both ways.

tfface exports are served by stock TensorFlow Serving. This module builds the
two documented request formats and reads their responses, so the client
(``export/serving_client.py``), the warm-up file the export tool writes
(:mod:`tfface.export.serving_config`) and the tests share one conversion:

* REST (``POST /v1/models/<name>[/versions/<v>]:predict``): the columnar
  body ``{"signature_name": ..., "inputs": {name: nested list}}``; the answer
  is ``{"outputs": {name: nested list}}`` (or a bare list for one output), or
  ``{"error": "..."}`` with an HTTP error status.
* gRPC (``tensorflow.serving.PredictionService/Predict``): a
  ``PredictRequest`` with ``model_spec`` and ``inputs`` as ``TensorProto``s;
  the answer is a ``PredictResponse`` with ``outputs``.

:func:`predict_locally` answers a ``PredictRequest`` from a SavedModel loaded
in this process through the same conversion, so a request can be checked
without a server.
"""

import json
from typing import Dict, Mapping, Optional
import urllib.error
import urllib.request

import numpy as np
import tensorflow as tf

Arrays = Dict[str, np.ndarray]


class ServingError(RuntimeError):
  """The server refused a request; the message is its reason, on one line."""


def _one_line(text: str) -> str:
  return " ".join(str(text).split())


def _as_arrays(inputs: Mapping[str, object]) -> Arrays:
  """Inputs as numpy arrays (float64 lists become float32, ints int32)."""
  out = {}
  for name, value in inputs.items():
    array = np.asarray(value)
    if array.dtype == np.float64:
      array = array.astype(np.float32)
    elif array.dtype == np.int64 and not isinstance(value, np.ndarray):
      array = array.astype(np.int32)
    out[name] = array
  return out


# -- REST ---------------------------------------------------------------------

def rest_url(host: str, model: str, version: Optional[int] = None) -> str:
  """``<host>/v1/models/<model>[/versions/<version>]:predict``."""
  path = f"/v1/models/{model}"
  if version is not None:
    path += f"/versions/{int(version)}"
  return host.rstrip("/") + path + ":predict"


def rest_predict_body(signature: str, inputs: Mapping[str, object]) -> bytes:
  """The JSON body of a ``:predict`` call in the columnar ("inputs") format.

  Args:
    signature: the signature name (``serving_default`` if the server should
      pick the default).
    inputs: input name -> array-like (numpy arrays, nested lists, numbers).
  """
  return json.dumps({
      "signature_name": signature,
      "inputs": {k: v.tolist() for k, v in _as_arrays(inputs).items()},
  }).encode()


def rest_outputs(body: bytes) -> Arrays:
  """The outputs of a REST ``:predict`` answer as float32/int arrays.

  Raises:
    ServingError: the body holds an ``error`` or no ``outputs``.
  """
  try:
    answer = json.loads(body)
  except json.JSONDecodeError as e:
    raise ServingError(f"the server answered with non-JSON: {e.msg}") from e
  if "error" in answer:
    raise ServingError(_one_line(answer["error"]))
  outputs = answer.get("outputs")
  if outputs is None:
    raise ServingError(f"the server answered without outputs: "
                       f"{_one_line(json.dumps(answer))[:200]}")
  if not isinstance(outputs, dict):
    outputs = {"output_0": outputs}
  return {k: _from_json(v) for k, v in outputs.items()}


def _from_json(value) -> np.ndarray:
  array = np.asarray(value)
  return array.astype(np.float32) if array.dtype == np.float64 else array


def rest_predict(host: str, model: str, signature: str,
                 inputs: Mapping[str, object], version: Optional[int] = None,
                 timeout: float = 60.0) -> Arrays:
  """POSTs one REST predict call; returns the outputs.

  Raises:
    ServingError: the server refused the request (its message), or could not
      be reached.
  """
  request = urllib.request.Request(
      rest_url(host, model, version),
      data=rest_predict_body(signature, inputs),
      headers={"Content-Type": "application/json"})
  try:
    with urllib.request.urlopen(request, timeout=timeout) as response:
      return rest_outputs(response.read())
  except urllib.error.HTTPError as e:
    body = e.read()
    try:
      reason = json.loads(body).get("error", body.decode(errors="replace"))
    except (json.JSONDecodeError, AttributeError):
      reason = body.decode(errors="replace")
    raise ServingError(f"HTTP {e.code}: {_one_line(reason)}") from e
  except urllib.error.URLError as e:
    raise ServingError(f"cannot reach {host}: {_one_line(e.reason)}") from e


# -- gRPC ---------------------------------------------------------------------

def grpc_predict_request(model: str, signature: str,
                         inputs: Mapping[str, object],
                         version: Optional[int] = None):
  """A ``tensorflow.serving.PredictRequest`` for ``signature`` of ``model``."""
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model
  request.model_spec.signature_name = signature
  if version is not None:
    request.model_spec.version.value = int(version)
  for name, array in _as_arrays(inputs).items():
    request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
  return request


def request_inputs(request) -> Arrays:
  """The inputs of a ``PredictRequest`` as numpy arrays."""
  return {k: tf.make_ndarray(v) for k, v in request.inputs.items()}


def grpc_outputs(response) -> Arrays:
  """The outputs of a ``PredictResponse`` as numpy arrays."""
  return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


def grpc_predict(target: str, model: str, signature: str,
                 inputs: Mapping[str, object], version: Optional[int] = None,
                 timeout: float = 60.0) -> Arrays:
  """One gRPC Predict call to ``target`` (``host:port``); returns the outputs.

  Raises:
    ServingError: the server refused the request (its status and details),
      or could not be reached.
  """
  import grpc  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_service_pb2_grpc  # pylint: disable=g-import-not-at-top
  request = grpc_predict_request(model, signature, inputs, version)
  with grpc.insecure_channel(target) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
      response = stub.Predict(request, timeout=timeout)
    except grpc.RpcError as e:
      raise ServingError(f"{e.code().name}: {_one_line(e.details())}") from e
  return grpc_outputs(response)


# -- local --------------------------------------------------------------------

def predict_locally(loaded, request):
  """Answers a ``PredictRequest`` with a SavedModel loaded in this process.

  Converts the request's tensors as TF Serving does, calls the named
  signature and packs its outputs into a ``PredictResponse``.

  Args:
    loaded: ``tf.saved_model.load(<version dir>)``.
    request: a ``PredictRequest`` (:func:`grpc_predict_request`).

  Returns:
    a ``tensorflow.serving.PredictResponse``.

  Raises:
    ServingError: an unknown signature or input, or the signature refused the
      inputs (its validation message).
  """
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  name = request.model_spec.signature_name or "serving_default"
  if name not in loaded.signatures:
    raise ServingError(f"signature {name!r} not found; the model has "
                       f"{sorted(loaded.signatures)}")
  fn = loaded.signatures[name]
  expected = fn.structured_input_signature[1]
  inputs = request_inputs(request)
  unknown = sorted(set(inputs) - set(expected))
  missing = sorted(set(expected) - set(inputs))
  if unknown or missing:
    raise ServingError(f"{name}: inputs {sorted(inputs)} do not match "
                       f"{sorted(expected)} (missing {missing}, unknown "
                       f"{unknown})")
  for key, value in inputs.items():
    # TF Serving feeds the signature's placeholders, which check shape and
    # dtype; a loaded ConcreteFunction alone does not check shapes.
    spec = expected[key]
    if not spec.shape.is_compatible_with(value.shape):
      raise ServingError(f"{name}: input {key!r} must have shape "
                         f"{spec.shape.as_list()}, got {list(value.shape)}")
    if tf.as_dtype(value.dtype) != spec.dtype:
      raise ServingError(f"{name}: input {key!r} must be {spec.dtype.name}, "
                         f"got {tf.as_dtype(value.dtype).name}")
  try:
    outputs = fn(**{k: tf.constant(v) for k, v in inputs.items()})
  except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
    raise ServingError(f"{name}: {_one_line(getattr(e, 'message', e))}") from e
  response = predict_pb2.PredictResponse()
  response.model_spec.CopyFrom(request.model_spec)
  for key, value in outputs.items():
    response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
  return response


def is_image_batch(array: np.ndarray) -> bool:
  """Whether an output looks like tfface images: float `[N, H, W, 3]`."""
  return (array.ndim == 4 and array.shape[-1] == 3 and
          np.issubdtype(array.dtype, np.floating))


def write_image_outputs(outputs: Mapping[str, np.ndarray],
                        png_path: str) -> Dict[str, str]:
  """Writes every image output as a PNG grid; returns name -> path.

  An output named ``image`` goes to ``png_path``; any other image output
  ``<name>`` to ``<png_path without .png>_<name>.png``. Images are in
  [-1, 1]; each file is written atomically.
  """
  import os  # pylint: disable=g-import-not-at-top
  from tfface.training import summaries  # pylint: disable=g-import-not-at-top
  stem = png_path[:-4] if png_path.endswith(".png") else png_path
  written = {}
  for name, value in outputs.items():
    array = np.asarray(value)
    if not is_image_batch(array):
      continue
    path = png_path if name == "image" else f"{stem}_{name}.png"
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
      f.write(summaries.encode_png(array.astype(np.float32)))
    os.replace(tmp, path)
    written[name] = path
  return written
