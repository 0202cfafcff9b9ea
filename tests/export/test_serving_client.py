"""The TF Serving REST client against a loopback stand-in server."""

import http.server
import json
import threading

import numpy as np
import pytest

from export import serving_client


def test_parse_inputs():
  assert serving_client.parse_inputs(["n=4", "z=[[0.5, 1]]"]) == {
      "n": 4, "z": [[0.5, 1]]}
  with pytest.raises(ValueError, match="name=JSON"):
    serving_client.parse_inputs(["n4"])
  with pytest.raises(ValueError, match="not JSON"):
    serving_client.parse_inputs(["n=[1,"])


def test_predict_posts_columnar_request_and_reads_outputs():
  seen = {}

  class Handler(http.server.BaseHTTPRequestHandler):

    def do_POST(self):  # pylint: disable=invalid-name
      seen["path"] = self.path
      seen["body"] = json.loads(self.rfile.read(
          int(self.headers["Content-Length"])))
      payload = json.dumps({"outputs": {"image": [[[[0.0, 0.0, 0.0]]]]}})
      self.send_response(200)
      self.end_headers()
      self.wfile.write(payload.encode())

    def log_message(self, *args):
      pass

  server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
  thread = threading.Thread(target=server.handle_request, daemon=True)
  thread.start()
  try:
    host = f"http://127.0.0.1:{server.server_address[1]}"
    outputs = serving_client.predict(host, "confignet", "sample",
                                     {"n": 1}, timeout=10)
  finally:
    thread.join(timeout=10)
    server.server_close()
  assert seen["path"] == "/v1/models/confignet:predict"
  assert seen["body"] == {"signature_name": "sample", "inputs": {"n": 1}}
  assert list(outputs) == ["image"]
  np.testing.assert_array_equal(outputs["image"], [[[[0.0, 0.0, 0.0]]]])
