r"""Calls a tfface model served by stock TensorFlow Serving, over REST or gRPC.

Serve an export (the layout ``tools/export`` writes: ``<base>/<version>/``
plus ``models.config`` beside it):

  tensorflow_model_server --rest_api_port=8501 --port=8500 \
      --model_config_file=<export_dir>/models.config

then, for example:

  python export/serving_client.py --model=confignet --signature=sample \
      --input='n=4' --input='seed=0' --input='truncation=0.7' --png=out.png
  python export/serving_client.py --protocol=grpc --target=127.0.0.1:8500 ...

Inputs are ``name=value`` with a JSON value (number or nested list). Each
image output (``[N, H, W, 3]`` floats in [-1, 1]) is written as a PNG grid
(``out.png`` for an output named ``image``, else ``out_<name>.png``); other
outputs are printed as JSON. A refused request is one ``error:`` line with
the server's reason, exit code 1.
"""

import json
from typing import Dict, List

from absl import app
from absl import flags

flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "TF Serving API.")
flags.DEFINE_string("host", "http://127.0.0.1:8501",
                    "REST address (--protocol=rest).")
flags.DEFINE_string("target", "127.0.0.1:8500",
                    "gRPC host:port (--protocol=grpc).")
flags.DEFINE_string("model", None, "Model name in the server's config.")
flags.DEFINE_integer("version", None, "Model version (default: the newest).")
flags.DEFINE_string("signature", "serving_default", "Signature to call.")
flags.DEFINE_multi_string("input", [], "name=JSON value, one per input.")
flags.DEFINE_string("png", None, "Write image outputs as PNG grids here.")
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


def predict(host: str, model: str, signature: str, inputs: Dict[str, object],
            timeout: float = 60.0, protocol: str = "rest", version=None):
  """One predict call; returns the outputs as numpy arrays."""
  from tfface.export import serving  # pylint: disable=g-import-not-at-top
  if protocol == "grpc":
    return serving.grpc_predict(host, model, signature, inputs, version,
                                timeout)
  return serving.rest_predict(host, model, signature, inputs, version, timeout)


def main(argv):
  del argv
  from tfface.export import serving  # pylint: disable=g-import-not-at-top
  if not FLAGS.model:
    raise ValueError("--model is required: the model name in the server's "
                     "models.config")
  address = FLAGS.target if FLAGS.protocol == "grpc" else FLAGS.host
  outputs = predict(address, FLAGS.model, FLAGS.signature,
                    parse_inputs(FLAGS.input), FLAGS.timeout,
                    FLAGS.protocol, FLAGS.version)
  written = serving.write_image_outputs(outputs, FLAGS.png) if FLAGS.png else {}
  for name, path in written.items():
    print(f"wrote {name} -> {path}")
  rest = {k: v.tolist() for k, v in outputs.items() if k not in written}
  if rest:
    print(json.dumps(rest)[:2000])
  return 0


def run():
  """Console-script entry point (``tfface-serving-client``)."""
  from tfface import cli  # pylint: disable=g-import-not-at-top
  from tfface.export import serving  # pylint: disable=g-import-not-at-top
  app.run(cli.guard(main, expected=(serving.ServingError,)))


if __name__ == "__main__":
  run()
