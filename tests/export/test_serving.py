"""TF Serving request formats (REST JSON, gRPC protos) and the local round trip."""

import http.server
import json
import threading

import numpy as np
import pytest
import tensorflow as tf

from tfface.export import serving
from tfface.export import serving_config


class _Scale(tf.Module):
  """A tiny servable: images * gain, and a sum over a latent."""

  def __init__(self):
    super().__init__()
    self.gain = tf.Variable(2.0)

  @tf.function(input_signature=[
      tf.TensorSpec([None, 4, 4, 3], tf.float32, name="images")])
  def scale(self, images):
    tf.debugging.assert_positive(tf.shape(images)[0],
                                 message="scale: batch must be >= 1")
    return {"image": images * self.gain}

  @tf.function(input_signature=[
      tf.TensorSpec([None, 5], tf.float32, name="z"),
      tf.TensorSpec([], tf.int32, name="n")])
  def total(self, z, n):
    return {"sum": tf.reduce_sum(z, axis=1) * tf.cast(n, tf.float32)}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("servable") / "1")
  module = _Scale()
  tf.saved_model.save(module, path, signatures={
      "serving_default": module.scale, "total": module.total})
  return path, tf.saved_model.load(path)


def test_rest_body_is_the_columnar_format():
  body = json.loads(serving.rest_predict_body(
      "total", {"z": np.ones([2, 5]), "n": 3}))
  assert body == {"signature_name": "total",
                  "inputs": {"z": [[1.0] * 5] * 2, "n": 3}}
  assert serving.rest_url("http://h:8501/", "m") == (
      "http://h:8501/v1/models/m:predict")
  assert serving.rest_url("http://h:8501", "m", 7) == (
      "http://h:8501/v1/models/m/versions/7:predict")


def test_rest_outputs_and_errors():
  out = serving.rest_outputs(b'{"outputs": {"image": [[1.5, 2.0]]}}')
  assert out["image"].dtype == np.float32 and out["image"].shape == (1, 2)
  assert list(serving.rest_outputs(b'{"outputs": [1, 2]}')) == ["output_0"]
  with pytest.raises(serving.ServingError, match="^bad input shape$"):
    serving.rest_outputs(b'{"error": "bad\\n  input shape"}')
  with pytest.raises(serving.ServingError, match="without outputs"):
    serving.rest_outputs(b'{"predictions": []}')
  with pytest.raises(serving.ServingError, match="non-JSON"):
    serving.rest_outputs(b"<html>")


def _serve_once(status, payload, seen):

  class Handler(http.server.BaseHTTPRequestHandler):

    def do_POST(self):  # pylint: disable=invalid-name
      seen["path"] = self.path
      seen["body"] = json.loads(self.rfile.read(
          int(self.headers["Content-Length"])))
      self.send_response(status)
      self.end_headers()
      self.wfile.write(json.dumps(payload).encode())

    def log_message(self, *args):
      pass

  server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
  thread = threading.Thread(target=server.handle_request, daemon=True)
  thread.start()
  return server, thread


def test_rest_predict_against_a_loopback_server():
  seen = {}
  server, thread = _serve_once(200, {"outputs": {"sum": [3.0]}}, seen)
  try:
    out = serving.rest_predict(f"http://127.0.0.1:{server.server_address[1]}",
                               "m", "total", {"z": [[1, 2, 0, 0, 0]], "n": 1},
                               timeout=10)
  finally:
    thread.join(timeout=10)
    server.server_close()
  assert seen["path"] == "/v1/models/m:predict"
  assert seen["body"]["signature_name"] == "total"
  np.testing.assert_allclose(out["sum"], [3.0])


def test_rest_refusal_is_one_line_with_the_servers_reason():
  seen = {}
  server, thread = _serve_once(400, {"error": "images must be\n[B, 4, 4, 3]"},
                               seen)
  try:
    with pytest.raises(serving.ServingError,
                       match=r"^HTTP 400: images must be \[B, 4, 4, 3\]$"):
      serving.rest_predict(f"http://127.0.0.1:{server.server_address[1]}",
                           "m", "serving_default", {"images": [[0.0]]},
                           timeout=10)
  finally:
    thread.join(timeout=10)
    server.server_close()
  with pytest.raises(serving.ServingError, match="cannot reach"):
    serving.rest_predict("http://127.0.0.1:9", "m", "s", {"a": 1}, timeout=2)


def test_grpc_request_holds_model_signature_and_tensors():
  request = serving.grpc_predict_request(
      "confignet", "total", {"z": np.arange(10.0).reshape(2, 5), "n": 2},
      version=3)
  assert request.model_spec.name == "confignet"
  assert request.model_spec.signature_name == "total"
  assert request.model_spec.version.value == 3
  inputs = serving.request_inputs(request)
  assert inputs["z"].dtype == np.float32 and inputs["z"].shape == (2, 5)
  assert inputs["n"].dtype == np.int32 and int(inputs["n"]) == 2
  # The wire format round-trips.
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  again = predict_pb2.PredictRequest.FromString(request.SerializeToString())
  np.testing.assert_array_equal(serving.request_inputs(again)["z"],
                                inputs["z"])


def test_local_prediction_equals_the_direct_call(saved):
  _, loaded = saved
  images = np.random.default_rng(0).uniform(-1, 1, [2, 4, 4, 3]).astype(
      np.float32)
  request = serving.grpc_predict_request("m", "serving_default",
                                         {"images": images})
  response = serving.predict_locally(loaded, request)
  direct = loaded.signatures["serving_default"](images=tf.constant(images))
  np.testing.assert_allclose(serving.grpc_outputs(response)["image"],
                             direct["image"].numpy())
  np.testing.assert_allclose(serving.grpc_outputs(response)["image"],
                             2 * images)
  # The REST body carries the same tensors.
  body = json.loads(serving.rest_predict_body("serving_default",
                                              {"images": images}))
  np.testing.assert_allclose(np.asarray(body["inputs"]["images"],
                                        np.float32), images)


def test_local_prediction_refusals_are_clear(saved):
  _, loaded = saved
  with pytest.raises(serving.ServingError, match="signature 'nope' not found"):
    serving.predict_locally(loaded, serving.grpc_predict_request(
        "m", "nope", {"images": np.zeros([1, 4, 4, 3])}))
  with pytest.raises(serving.ServingError, match="missing .*'n'"):
    serving.predict_locally(loaded, serving.grpc_predict_request(
        "m", "total", {"z": np.zeros([1, 5])}))
  with pytest.raises(serving.ServingError,
                     match=r"serving_default: input 'images' must have shape "
                     r"\[None, 4, 4, 3\], got \[1, 3, 3, 3\]"):
    serving.predict_locally(loaded, serving.grpc_predict_request(
        "m", "serving_default", {"images": np.zeros([1, 3, 3, 3])}))
  with pytest.raises(serving.ServingError, match="must be int32, got float32"):
    serving.predict_locally(loaded, serving.grpc_predict_request(
        "m", "total", {"z": np.zeros([1, 5]), "n": np.float32(1)}))
  # The graph's own checks surface as one line too (batch 0 here).
  with pytest.raises(serving.ServingError, match="batch must be >= 1"):
    serving.predict_locally(loaded, serving.grpc_predict_request(
        "m", "serving_default", {"images": np.zeros([0, 4, 4, 3],
                                                    np.float32)}))


def test_warmup_file_round_trips_and_answers_locally(saved, tmp_path):
  path, loaded = saved
  version_dir = str(tmp_path / "1")
  requests = [("serving_default", {"images": np.zeros([1, 4, 4, 3])}),
              ("total", {"z": np.ones([2, 5]), "n": 1})]
  written = serving_config.write_warmup_requests(version_dir, "m", requests)
  assert written.endswith("assets.extra/tf_serving_warmup_requests")
  back = serving_config.read_warmup_requests(version_dir)
  assert [r.model_spec.signature_name for r in back] == [
      "serving_default", "total"]
  for request in back:
    assert serving.grpc_outputs(serving.predict_locally(loaded, request))
  with pytest.raises(ValueError, match="1..1000"):
    serving_config.warmup_records("m", [])
  del path


def test_models_config_and_batching_parameters(tmp_path):
  from tensorflow_serving.config import model_server_config_pb2  # pylint: disable=g-import-not-at-top
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  path = serving_config.write_models_config(
      str(tmp_path / "models.config"),
      {"confignet": "/srv/confignet", "stylegan2": "/srv/sg2"})
  text = open(path).read()
  assert text.startswith("# TF Serving model config")
  config = text_format.Parse(
      "\n".join(l for l in text.splitlines() if not l.startswith("#")),
      model_server_config_pb2.ModelServerConfig())
  entries = config.model_config_list.config
  assert [(e.name, e.base_path, e.model_platform) for e in entries] == [
      ("confignet", "/srv/confignet", "tensorflow"),
      ("stylegan2", "/srv/sg2", "tensorflow")]
  with pytest.raises(ValueError, match="at least one model"):
    serving_config.models_config_text({})
  text = serving_config.batching_parameters_text(max_batch_size=8,
                                                 allowed_batch_sizes=(1, 8))
  assert "max_batch_size { value: 8 }" in text
  assert text.count("allowed_batch_sizes") == 2
  with pytest.raises(ValueError, match="end at max_batch_size"):
    serving_config.batching_parameters_text(max_batch_size=32,
                                            allowed_batch_sizes=(1, 8))


def test_image_outputs_become_png_grids(tmp_path):
  outputs = {"image": np.zeros([2, 4, 4, 3], np.float32),
             "depth": np.ones([2, 4, 4, 3], np.float32),
             "sum": np.ones([2], np.float32)}
  written = serving.write_image_outputs(outputs, str(tmp_path / "out.png"))
  assert written == {"image": str(tmp_path / "out.png"),
                     "depth": str(tmp_path / "out_depth.png")}
  png = tf.io.decode_png(open(written["depth"], "rb").read()).numpy()
  assert png.shape[-1] == 3 and png.max() == 255


def test_grpc_predict_against_a_loopback_prediction_service(saved):
  import grpc  # pylint: disable=g-import-not-at-top
  from concurrent import futures  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_service_pb2_grpc  # pylint: disable=g-import-not-at-top
  _, loaded = saved

  class Service(prediction_service_pb2_grpc.PredictionServiceServicer):

    def Predict(self, request, context):  # pylint: disable=invalid-name
      try:
        return serving.predict_locally(loaded, request)
      except serving.ServingError as e:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))

  server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
  prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
      Service(), server)
  port = server.add_insecure_port("127.0.0.1:0")
  server.start()
  try:
    out = serving.grpc_predict(f"127.0.0.1:{port}", "m", "total",
                               {"z": np.ones([3, 5]), "n": 2}, timeout=10)
    np.testing.assert_allclose(out["sum"], [10.0, 10.0, 10.0])
    with pytest.raises(serving.ServingError,
                       match=r"^INVALID_ARGUMENT: serving_default: input "
                       r"'images' must have shape"):
      serving.grpc_predict(f"127.0.0.1:{port}", "m", "serving_default",
                           {"images": np.zeros([1, 2, 2, 3])}, timeout=10)
  finally:
    server.stop(0)
