"""Runs every signature of an export, from its metadata alone, without tfface.

The check a user's serving stack makes: a fresh process that imports only
TensorFlow loads the SavedModel, reads the ``metadata`` signature, builds a
valid input for every signature from the described shapes (``B`` = 2) and
ranges, and calls it.
"""

import json
import os
import subprocess
import sys

RUN_ALL = r"""
import json, sys
import numpy as np
import tensorflow as tf
assert not any(m.startswith("tfface") for m in sys.modules)
loaded = tf.saved_model.load(sys.argv[1])
meta = json.loads(loaded.signatures["metadata"]()["json"].numpy().decode())
out = {"keys": sorted(loaded.signatures.keys()), "meta": meta, "ran": {}}
for name, sig in meta["signatures"].items():
  inputs = {}
  for spec in sig["inputs"]:
    shape = [2 if isinstance(d, str) else d for d in spec["shape"]]
    value = max(0.0, spec.get("minimum", 0.0))
    inputs[spec["name"]] = tf.constant(np.full(shape, value, spec["dtype"]))
  result = loaded.signatures[name](**inputs)
  out["ran"][name] = {k: list(v.shape) for k, v in result.items()}
  if name in ("serving_default", "generate") and "image" in result:
    out[name] = result["image"].numpy().tolist()
print(json.dumps(out))
"""


def run_from_metadata(version_dir, tmp_path):
  """The fresh process's report: keys, metadata, output shapes per signature,
  and the ``serving_default`` and ``generate`` images (when they return
  one: analysis nets return landmarks, embeddings, ...)."""
  script = os.path.join(str(tmp_path), "run_all.py")
  with open(script, "w") as f:
    f.write(RUN_ALL)
  env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run([sys.executable, script, version_dir],
                          capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=120, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  return json.loads(result.stdout.strip().splitlines()[-1])
