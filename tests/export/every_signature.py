"""Runs every signature of an export, from its metadata alone, without tfface.

The check a user's serving stack makes: a fresh process that imports only
TensorFlow loads the SavedModel, reads the ``metadata`` signature, builds a
valid input for every signature from the described shapes (``B`` = 2) and
ranges, and calls it. Tests may add calls of their own with real inputs
(``calls``), whose outputs, or error messages, come back too.
"""

import json
import os
import subprocess
import sys

import numpy as np

RUN_ALL = r"""
import json, sys
import numpy as np
import tensorflow as tf
assert not any(m.startswith("tfface") for m in sys.modules)
loaded = tf.saved_model.load(sys.argv[1])
meta = json.loads(loaded.signatures["metadata"]()["json"].numpy().decode())
out = {"keys": sorted(loaded.signatures.keys()), "meta": meta, "ran": {},
       "dtypes": {}, "calls": {}}
for name, sig in meta["signatures"].items():
  inputs = {}
  for spec in sig["inputs"]:
    shape = [2 if isinstance(d, str) else d for d in spec["shape"]]
    value = max(0.0, spec.get("minimum", 0.0))
    inputs[spec["name"]] = tf.constant(np.full(shape, value, spec["dtype"]))
  result = loaded.signatures[name](**inputs)
  out["ran"][name] = {k: list(v.shape) for k, v in result.items()}
  out["dtypes"][name] = {k: v.dtype.name for k, v in result.items()}
  if name in ("serving_default", "generate") and "image" in result:
    out[name] = result["image"].numpy().tolist()
if len(sys.argv) > 2:
  with open(sys.argv[2]) as f:
    plan = json.load(f)
  arrays = np.load(sys.argv[3])
  for label, (signature, names) in plan.items():
    inputs = {n: tf.constant(arrays[f"{label}/{n}"]) for n in names}
    try:
      result = loaded.signatures[signature](**inputs)
      out["calls"][label] = {k: v.numpy().tolist() for k, v in result.items()}
    except tf.errors.InvalidArgumentError as e:
      out["calls"][label] = {"error": e.message}
print(json.dumps(out))
"""


def run_from_metadata(version_dir, tmp_path, calls=None):
  """The fresh process's report: keys, metadata, output shapes and dtypes per
  signature, and the ``serving_default`` and ``generate`` images (when they
  return one: analysis nets return landmarks, embeddings, ...).

  Args:
    version_dir: the export's version directory.
    tmp_path: a scratch directory.
    calls: optional ``{label: (signature, {input name: array})}``; the
      report's ``"calls"[label]`` holds that call's outputs as lists, or
      ``{"error": message}`` when the signature rejected the input.
  """
  script = os.path.join(str(tmp_path), "run_all.py")
  with open(script, "w") as f:
    f.write(RUN_ALL)
  argv = [sys.executable, script, version_dir]
  if calls:
    plan = {label: (signature, sorted(inputs))
            for label, (signature, inputs) in calls.items()}
    plan_path = os.path.join(str(tmp_path), "calls.json")
    with open(plan_path, "w") as f:
      json.dump(plan, f)
    arrays_path = os.path.join(str(tmp_path), "calls.npz")
    np.savez(arrays_path, **{f"{label}/{name}": np.asarray(value)
                             for label, (_, inputs) in calls.items()
                             for name, value in inputs.items()})
    argv += [plan_path, arrays_path]
  env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run(argv, capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=120, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  return json.loads(result.stdout.strip().splitlines()[-1])
