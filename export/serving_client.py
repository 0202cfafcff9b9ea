r"""Calls a tfface model served by TensorFlow Serving's REST API.

Start a stock server on an exported model (the layout export_savedmodel.py
writes, ``<base>/<version>/saved_model.pb``):

  tensorflow_model_server --rest_api_port=8501 \
      --model_config_file=export/models.config

then, for example:

  python export/serving_client.py --model=confignet --signature=sample \
      --input='n=4' --input='seed=0' --input='truncation=0.7' --png=out.png

Inputs are ``name=value`` with a JSON value (number or nested list). Image
outputs (``[N, H, W, 3]`` floats in [-1, 1]) are written as one PNG grid.
"""

import json
import sys
import urllib.request
from typing import Dict, List

from absl import app
from absl import flags

flags.DEFINE_string("host", "http://127.0.0.1:8501", "TF Serving REST address.")
flags.DEFINE_string("model", None, "Model name in the server's config.")
flags.DEFINE_string("signature", "serving_default", "Signature to call.")
flags.DEFINE_multi_string("input", [], "name=JSON value, one per input.")
flags.DEFINE_string("png", None, "Write the 'image' output here as a PNG grid.")
flags.DEFINE_float("timeout", 60.0, "Seconds to wait for the server.")
FLAGS = flags.FLAGS


def parse_inputs(pairs: List[str]) -> Dict[str, object]:
  """``["n=4", "z=[[0.1, 0.2]]"]`` -> ``{"n": 4, "z": [[0.1, 0.2]]}``."""
  inputs = {}
  for pair in pairs:
    name, sep, value = pair.partition("=")
    if not sep or not name:
      raise ValueError(f"--input {pair!r} must look like name=JSON")
    try:
      inputs[name.strip()] = json.loads(value)
    except json.JSONDecodeError as e:
      raise ValueError(f"--input {pair!r}: value is not JSON ({e.msg})") from e
  return inputs


def predict_request(signature: str, inputs: Dict[str, object]) -> bytes:
  """The body of a ``:predict`` call in TF Serving's columnar format."""
  return json.dumps({"signature_name": signature, "inputs": inputs}).encode()


def predict(host: str, model: str, signature: str, inputs: Dict[str, object],
            timeout: float = 60.0) -> Dict[str, object]:
  """POSTs to ``<host>/v1/models/<model>:predict``; returns the outputs dict."""
  request = urllib.request.Request(
      f"{host.rstrip('/')}/v1/models/{model}:predict",
      data=predict_request(signature, inputs),
      headers={"Content-Type": "application/json"})
  with urllib.request.urlopen(request, timeout=timeout) as response:
    body = json.loads(response.read())
  outputs = body.get("outputs")
  if outputs is None:
    raise ValueError(f"server answered without outputs: {body}")
  return outputs if isinstance(outputs, dict) else {"output_0": outputs}


def main(argv):
  del argv
  if not FLAGS.model:
    print("error: --model is required", file=sys.stderr)
    return 1
  try:
    outputs = predict(FLAGS.host, FLAGS.model, FLAGS.signature,
                      parse_inputs(FLAGS.input), FLAGS.timeout)
  except (ValueError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  if FLAGS.png and "image" in outputs:
    import numpy as np  # pylint: disable=g-import-not-at-top
    from tfface.training import summaries  # pylint: disable=g-import-not-at-top
    with open(FLAGS.png, "wb") as f:
      f.write(summaries.encode_png(np.asarray(outputs["image"], np.float32)))
    print(f"wrote {FLAGS.png}")
  else:
    print(json.dumps(outputs)[:2000])
  return 0


if __name__ == "__main__":
  app.run(main)
