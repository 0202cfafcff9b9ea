"""Every latent export round-trips in a fresh process that never imports
tfface: each signature runs from the metadata, outputs match the in-process
models, bad inputs are one clear error."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.latent import keypoints

PROBE = r"""
import json, sys
import numpy as np
import tensorflow as tf
assert not any(m.startswith("tfface") for m in sys.modules)
paths = json.loads(sys.argv[1])
data = {k: tf.constant(v) for k, v in np.load(sys.argv[2]).items()}
out = {}
for name, path in paths.items():
  loaded = tf.saved_model.load(path)
  s = loaded.signatures
  meta = json.loads(s["metadata"]()["json"].numpy().decode())
  ran = {}
  for sig, spec in meta["signatures"].items():
    inputs = {}
    for i in spec["inputs"]:
      shape = [2 if isinstance(d, str) else d for d in i["shape"]]
      inputs[i["name"]] = tf.constant(np.full(shape, max(0.0, i.get(
          "minimum", 0.0)), i["dtype"]))
    ran[sig] = {k: list(v.shape) for k, v in s[sig](**inputs).items()}
  record = {"keys": sorted(s.keys()), "ran": ran, "meta": meta}
  z = data["z"]
  if "condition" in s:
    record["condition"] = s["condition"](z=z, label=data["label"])["z"].numpy().tolist()
    try:
      s["condition"](z=z, label=data["label"] + 5)
    except tf.errors.InvalidArgumentError as e:
      record["bad_label"] = e.message
  if "map_keypoints" in s:
    record["map_keypoints"] = s["map_keypoints"](
        z=z, keypoints=data["keypoints"])["z"].numpy().tolist()
    try:
      s["map_keypoints"](z=z, keypoints=data["keypoints"][:, 0])
    except tf.errors.InvalidArgumentError as e:
      record["bad_keypoints"] = e.message
  if "landmarks" in s:
    record["landmarks"] = s["landmarks"](z=data["zb"])["keypoints"].numpy().tolist()
  record["decode"] = s["decode"](z=data["zb"] if name == "baseline" else z)[
      "image"].numpy().tolist()
  out[name] = record
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def probed(exports, tmp_path_factory):
  tmp = tmp_path_factory.mktemp("latent_probe")
  rng = np.random.default_rng(0)
  inputs = {"z": rng.standard_normal([2, 8]).astype(np.float32),
            "zb": rng.standard_normal([2, 64]).astype(np.float32),
            "label": np.array([0, 1], np.int32),
            "keypoints": rng.uniform(0, 16, [2, 68, 2]).astype(np.float32)}
  np.savez(tmp / "inputs.npz", **inputs)
  env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="3",
             CUDA_VISIBLE_DEVICES="")
  paths = json.dumps({k: v[0] for k, v in exports.items()})
  result = subprocess.run([sys.executable, "-c", PROBE, paths,
                           str(tmp / "inputs.npz")], capture_output=True,
                          text=True, env=env, cwd=str(tmp), timeout=300,
                          check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  line = [l for l in result.stdout.splitlines() if l.startswith("RESULT")][-1]
  return json.loads(line[len("RESULT"):]), inputs


def test_every_signature_runs_from_its_metadata(probed):
  records, _ = probed
  expected = {
      "acai": ["decode", "encode"],
      "baseline": ["decode", "encode", "landmarks"],
      "cgan": ["condition", "decode", "edit", "encode"],
      "mapper": ["decode", "encode", "map_keypoints", "transfer"]}
  for name, signatures in expected.items():
    record = records[name]
    assert record["keys"] == sorted(signatures + ["metadata",
                                                  "serving_default"])
    assert set(record["ran"]) == set(record["keys"])
  assert records["cgan"]["meta"]["serving_default"] == "edit"
  assert records["cgan"]["meta"]["condition"]["classes"] == ["none", "beard"]
  assert records["mapper"]["meta"]["serving_default"] == "transfer"
  assert records["acai"]["meta"]["autoencoder"] == "acai"
  assert records["acai"]["meta"]["code_size"] == 8
  assert records["cgan"]["ran"]["edit"]["image"] == [2, 16, 16, 3]
  assert records["baseline"]["ran"]["landmarks"]["keypoints"] == [2, 68, 2]


def test_outputs_match_the_models_in_process(probed, exports):
  records, inputs = probed
  z = tf.constant(inputs["z"])
  cgan = exports["cgan"][1]
  want = cgan.generator(z, tf.one_hot(inputs["label"], 2), training=False)
  np.testing.assert_allclose(records["cgan"]["condition"], want, atol=1e-5)
  module = exports["mapper"][1]
  c = keypoints.normalize_keypoints(inputs["keypoints"], 16)
  np.testing.assert_allclose(records["mapper"]["map_keypoints"],
                             module.mapper(z, c, training=False), atol=1e-5)
  small = exports["baseline"][1].autoencoder
  np.testing.assert_allclose(records["baseline"]["landmarks"],
                             small.landmarks(inputs["zb"]), atol=1e-4)
  ae = exports["acai"][1].autoencoder
  np.testing.assert_allclose(records["acai"]["decode"],
                             np.clip(ae.decode(z), -1, 1), atol=1e-5)


def test_bad_inputs_are_one_clear_error(probed):
  records, _ = probed
  assert ("condition: label must be in [0, 1], got values in [5, 6]"
          in records["cgan"]["bad_label"])
  assert ("map_keypoints: keypoints must be [B, 68, 2] float32 (x, y) pixels "
          "of a 16x16 image" in records["mapper"]["bad_keypoints"])
