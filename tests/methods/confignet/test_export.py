"""The exported SavedModel loads and runs in a process without tfface."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.export import every_signature
from tfface.methods.confignet import export
from tfface.methods.confignet import factors
from tfface.methods.confignet import model

TABLE = factors.FactorTable({"expression": (3, 3), "bone:eye": (2, 2)})

CHECK = r"""
import json, sys
import numpy as np
import tensorflow as tf
assert not any(m.startswith("tfface") for m in sys.modules)
loaded = tf.saved_model.load(sys.argv[1])
keys = sorted(loaded.signatures.keys())
z = np.load(sys.argv[2])
out = {"keys": keys}
out["generate"] = loaded.signatures["generate"](
    z=tf.constant(z), rotation=tf.zeros([2, 3]))["image"].numpy().tolist()
s = loaded.signatures["sample"](n=tf.constant(3), seed=tf.constant(7),
                                truncation=tf.constant(0.5))
out["sample_shape"] = list(s["image"].shape)
e = loaded.signatures["encode"](image=tf.zeros([2, 32, 32, 3]))
out["encode_shapes"] = [list(e["z"].shape), list(e["rotation"].shape)]
f = loaded.signatures["set_factor_bone_eye"](
    z=tf.constant(z), factor_values=tf.ones([2, 2]))["z"].numpy()
out["set_factor"] = f.tolist()
out["table"] = json.loads(
    loaded.signatures["factor_table"]()["json"].numpy().decode())
out["tfface_loaded"] = any(m.startswith("tfface") for m in sys.modules)
print(json.dumps(out))
"""


def _build_and_export(directory):
  g = model.Generator(TABLE.latent_dim, 32, const_channels=8,
                      channels_3d=(4, 4), channels_3d_post=(4, 4),
                      projection_channels=8, channels_2d=(4,), mlp_units=8)
  e_s = model.SyntheticEncoder(TABLE)
  e_r = model.RealEncoder(TABLE.latent_dim, 32, "small", small_widths=(4,))
  g_lat = model.LatentGenerator(TABLE.latent_dim, 8)
  model.build_networks({"g": g, "e_s": e_s, "e_r": e_r, "g_lat": g_lat},
                       TABLE, 32)
  module = export.ConfigNetServing(g, e_s, TABLE, e_r, g_lat)
  from tfface.export import savedmodel
  path = savedmodel.export_module(module, str(directory / "export"),
                                  module.signatures())
  return path, {"g": g, "e_s": e_s, "e_r": e_r, "g_lat": g_lat}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """One tiny random-weight ConfigNet export: (version dir, networks)."""
  return _build_and_export(tmp_path_factory.mktemp("confignet"))


def test_export_round_trip_in_a_fresh_process(tmp_path, exported):
  path, nets = exported
  g, e_s = nets["g"], nets["e_s"]
  assert path.endswith(os.path.join("export", "1"))
  z = np.random.default_rng(0).normal(size=(2, TABLE.latent_dim)).astype(
      np.float32)
  np.save(tmp_path / "z.npy", z)
  script = tmp_path / "check.py"
  script.write_text(CHECK)
  env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run([sys.executable, str(script), path,
                           str(tmp_path / "z.npy")], capture_output=True,
                          text=True, env=env, cwd=str(tmp_path), timeout=120,
                          check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert not out["tfface_loaded"]
  assert out["keys"] == sorted(["sample", "generate", "encode", "factor_table",
                                "set_factor_bone_eye",
                                "set_factor_expression"])
  np.testing.assert_allclose(out["generate"], g(z, tf.zeros([2, 3])).numpy(),
                             atol=1e-5)
  assert out["sample_shape"] == [3, 32, 32, 3]
  assert out["encode_shapes"] == [[2, TABLE.latent_dim], [2, 3]]
  start, stop = TABLE.latent_slice("bone:eye")
  expected = e_s.encode_factor("bone:eye", tf.ones([2, 2])).numpy()
  np.testing.assert_allclose(np.array(out["set_factor"])[:, start:stop],
                             expected, atol=1e-6)
  np.testing.assert_array_equal(np.array(out["set_factor"])[:, stop:],
                                z[:, stop:])
  assert [f["name"] for f in out["table"]["factors"]] == ["bone:eye",
                                                           "expression"]


# -- bad input: one clear InvalidArgumentError, never an abort ---------------

# Runs the named cases against the export in a process without tfface; one
# JSON line per case ({"error": message} or {"outputs": ...}), flushed, so a
# process abort shows as a missing line and a non-zero exit code.
PROBE = r"""
import json, sys
import numpy as np
import tensorflow as tf
assert not any(m.startswith("tfface") for m in sys.modules)
loaded = tf.saved_model.load(sys.argv[1])
data = dict(np.load(sys.argv[2]))
s = loaded.signatures
nan_rot = data["rotation"].copy()
nan_rot[1, 0] = np.nan
nan_rot = tf.constant(nan_rot)
# Tensors, not numpy arrays: for a tensor whose shape does not match the
# TensorSpec, a loaded signature falls back to its flat signature, which
# checks only dtypes (numpy arrays get a TypeError from the binding instead).
z, rot, img, theta = (tf.constant(data[k])
                      for k in ("z", "rotation", "image", "theta"))
CASES = {
    "encode_rank3": lambda: s["encode"](image=img[0]),
    "encode_rank3_numpy": lambda: s["encode"](image=data["image"][0]),
    "encode_non_square": lambda: s["encode"](image=img[:, :, :16]),
    "encode_wrong_size": lambda: s["encode"](
        image=tf.image.resize(img, [64, 64])),
    "encode_batch0": lambda: s["encode"](image=img[:0]),
    "encode_ok": lambda: s["encode"](image=img),
    "set_factor_wrong_latent": lambda: s["set_factor_bone_eye"](
        z=tf.concat([z, z], 1), factor_values=theta),
    "set_factor_wrong_theta": lambda: s["set_factor_bone_eye"](
        z=z, factor_values=tf.concat([theta, theta], 1)),
    "set_factor_batch_mismatch": lambda: s["set_factor_bone_eye"](
        z=z, factor_values=theta[:1]),
    "set_factor_ok": lambda: s["set_factor_bone_eye"](z=z, factor_values=theta),
    "generate_rotation_3": lambda: s["generate"](z=z, rotation=rot[0]),
    "generate_batch0": lambda: s["generate"](z=z[:0], rotation=rot[:0]),
    "generate_nan_rotation": lambda: s["generate"](z=z, rotation=nan_rot),
    "generate_batch_mismatch": lambda: s["generate"](z=z, rotation=rot[:1]),
    "generate_float64": lambda: s["generate"](
        z=tf.cast(z, tf.float64), rotation=rot),
    "generate_ok": lambda: s["generate"](z=z, rotation=rot),
    "sample_n0": lambda: s["sample"](n=tf.constant(0), seed=tf.constant(1),
                                     truncation=tf.constant(1.0)),
    "sample_ok": lambda: s["sample"](n=tf.constant(2), seed=tf.constant(1),
                                     truncation=tf.constant(1.0)),
}
for name in sys.argv[3].split(","):
  try:
    out = CASES[name]()
    record = {"outputs": {k: v.numpy().tolist() for k, v in out.items()}}
  except tf.errors.InvalidArgumentError as e:
    record = {"error": e.message}
  except TypeError as e:
    record = {"type_error": str(e)}
  print(json.dumps({"case": name, **record}), flush=True)
"""

BAD = {
    "encode_non_square":
        "encode: image must be [B, 32, 32, 3] float32 RGB in [-1, 1] with "
        "B >= 1, got shape [2, 32, 16, 3]",
    "encode_wrong_size":
        "encode: image must be [B, 32, 32, 3] float32 RGB in [-1, 1] with "
        "B >= 1, got shape [2, 64, 64, 3]",
    "encode_batch0":
        "encode: image must be [B, 32, 32, 3] float32 RGB in [-1, 1] with "
        "B >= 1, got shape [0, 32, 32, 3]",
    "set_factor_wrong_latent":
        "set_factor_bone_eye: z must be [B, 5] float32 with B >= 1, got shape "
        "[2, 10]",
    "set_factor_wrong_theta":
        "set_factor_bone_eye: factor_values must be [B, 2] float32 θ of factor"
        " bone:eye with B >= 1, got shape [2, 4]",
    "set_factor_batch_mismatch":
        "set_factor_bone_eye: z and factor_values must have the same batch "
        "size B, got 2 and 1",
    "generate_rotation_3":
        "generate: rotation must be [B, 3] float32 (pitch, yaw, roll) in "
        "radians with B >= 1, got shape [3]",
    "generate_batch0":
        "generate: z must be [B, 5] float32 with B >= 1, got shape [0, 5]",
    "generate_nan_rotation":
        "generate: rotation must be finite, got 1 NaN or Inf values in shape "
        "[2, 3]",
    "generate_batch_mismatch":
        "generate: z and rotation must have the same batch size B, got 2 "
        "and 1",
    "sample_n0": "sample: n must be >= 1, got 0",
}
# The signature whose correct call each bad case is compared with.
GOOD_CALL = {"encode": "encode_ok", "set_factor": "set_factor_ok",
             "generate": "generate_ok", "sample": "sample_ok"}


def _probe(tmp_path, path, cases):
  rng = np.random.default_rng(1)
  data = {"z": rng.normal(size=(2, TABLE.latent_dim)),
          "rotation": rng.uniform(-0.5, 0.5, size=(2, 3)),
          "image": rng.uniform(-1, 1, size=(2, 32, 32, 3)),
          "theta": rng.uniform(0, 1, size=(2, 2))}
  data = {k: v.astype(np.float32) for k, v in data.items()}
  np.savez(tmp_path / "data.npz", **data)
  script = tmp_path / "probe.py"
  script.write_text(PROBE)
  env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run([sys.executable, str(script), path,
                           str(tmp_path / "data.npz"), ",".join(cases)],
                          capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=120, check=False)
  records = {}
  for line in result.stdout.splitlines():
    if line.startswith("{"):
      record = json.loads(line)
      records[record.pop("case")] = record
  return result, records, data


@pytest.fixture(scope="module")
def probed(exported, tmp_path_factory):
  """Every case but the rank-3 image, in one fresh process."""
  path, nets = exported
  names = sorted(BAD) + sorted(GOOD_CALL.values()) + ["generate_float64"]
  result, records, data = _probe(tmp_path_factory.mktemp("probe"), path,
                                 names)
  assert result.returncode == 0, result.stderr[-2000:]
  return records, data, nets


def _expected_good(case, data, nets):
  """What the networks give for a correct call (the output before checks)."""
  if case == "encode_ok":
    z, rotation = nets["e_r"](data["image"], training=False)
    return {"z": z, "rotation": rotation}
  if case == "generate_ok":
    return {"image": nets["g"](data["z"], data["rotation"])}
  if case == "set_factor_ok":
    start, stop = TABLE.latent_slice("bone:eye")
    z = data["z"].copy()
    z[:, start:stop] = nets["e_s"].encode_factor("bone:eye", data["theta"])
    return {"z": z}
  return None


def _check_good(records, case, data, nets):
  record = records[case]
  assert "outputs" in record, record
  expected = _expected_good(case, data, nets)
  for key, value in (expected or {}).items():
    np.testing.assert_allclose(record["outputs"][key], np.asarray(value),
                               atol=1e-5)
  if case == "sample_ok":
    assert np.array(record["outputs"]["image"]).shape == (2, 32, 32, 3)


def test_rank3_image_is_an_error_not_a_process_abort(exported, tmp_path):
  """Formerly a oneDNN CHECK failure (exit 134) in the first convolution."""
  path, nets = exported
  result, records, data = _probe(
      tmp_path, path, ["encode_rank3", "encode_rank3_numpy", "encode_ok"])
  assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
  for case in ("encode_rank3", "encode_rank3_numpy"):
    assert ("assertion failed: [encode: image must be [B, 32, 32, 3] float32 "
            "RGB in [-1, 1] with B >= 1, got shape [32, 32, 3]]") in records[
                case].get("error", ""), records[case]
  _check_good(records, "encode_ok", data, nets)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_clear_error(probed, case):
  records, data, nets = probed
  assert f"assertion failed: [{BAD[case]}]" in records[case].get("error", ""), (
      records[case])
  good = GOOD_CALL["set_factor" if case.startswith("set_factor")
                   else case.split("_")[0]]
  _check_good(records, good, data, nets)


def test_wrong_dtype_is_refused_by_the_signature(probed):
  records, _, _ = probed
  # The signature itself refuses it (before the graph runs), by position.
  assert "expected to be a float tensor but is a double tensor" in records[
      "generate_float64"]["error"]


def test_signature_inputs_keep_their_names(exported):
  path, _ = exported
  loaded = tf.saved_model.load(path)
  names = {k: sorted(f.structured_input_signature[1])
           for k, f in loaded.signatures.items()}
  assert names == {"sample": ["n", "seed", "truncation"],
                   "generate": ["rotation", "z"], "encode": ["image"],
                   "set_factor_bone_eye": ["factor_values", "z"],
                   "set_factor_expression": ["factor_values", "z"],
                   "factor_table": []}


def test_signature_inputs_describe_every_signature(exported):
  _, nets = exported
  module = export.ConfigNetServing(nets["g"], nets["e_s"], TABLE, nets["e_r"])
  inputs = module.signature_inputs()
  assert sorted(inputs) == sorted(module.signatures())
  assert inputs["encode"][0].expected() == (
      "[B, 32, 32, 3] float32 RGB in [-1, 1] with B >= 1")
  assert [i.shape for i in inputs["set_factor_expression"]] == [
      ("B", TABLE.latent_dim), ("B", 3)]


# -- the export conventions: serving_default, metadata, warm-up --------------

def test_conventions_every_signature_runs_from_its_metadata(tmp_path):
  from tfface.export import metadata as metadata_lib  # pylint: disable=g-import-not-at-top
  from tfface.export import serving  # pylint: disable=g-import-not-at-top
  from tfface.export import serving_config  # pylint: disable=g-import-not-at-top
  from tfface.rendering import procedural_model  # pylint: disable=g-import-not-at-top
  table = factors.FactorTable({"expression": (24, 4), "gaze": (2, 2)})
  g = model.Generator(table.latent_dim, 32, const_channels=8,
                      channels_3d=(4, 4), channels_3d_post=(4, 4),
                      projection_channels=8, channels_2d=(4,), mlp_units=8)
  e_s = model.SyntheticEncoder(table)
  e_r = model.RealEncoder(table.latent_dim, 32, "small", small_widths=(4,))
  model.build_networks({"g": g, "e_s": e_s, "e_r": e_r}, table, 32)
  module = export.ConfigNetServing(g, e_s, table, e_r)
  path = metadata_lib.export_servable(
      module, str(tmp_path / "export"), module.signatures(),
      module.export_metadata(), module.signature_inputs())
  out = every_signature.run_from_metadata(path, tmp_path)
  meta = out["meta"]
  assert "serving_default" in out["keys"] and "metadata" in out["keys"]
  assert set(out["ran"]) == set(out["keys"])  # metadata lists them all
  assert meta["serving_default"] == "generate"
  np.testing.assert_array_equal(out["serving_default"], out["generate"])
  assert meta["image"] == {"dtype": "float32", "layout": "NHWC",
                           "channels": "RGB", "range": [-1.0, 1.0]}
  assert meta["resolution"] == 32 and meta["method"] == "confignet"
  rotation = meta["signatures"]["generate"]["inputs"][1]
  assert rotation["name"] == "rotation" and rotation["shape"] == ["B", 3]
  assert "(pitch, yaw, roll) in radians" in rotation["meaning"]
  by_name = {f["name"]: f for f in meta["factors"]}
  assert by_name["expression"]["theta_names"] == list(
      procedural_model.EXPRESSION_NAMES)
  assert by_name["gaze"]["theta_names"] == ["pitch", "yaw"]
  assert by_name["gaze"]["latent_slice"] == list(table.latent_slice("gaze"))
  assert out["ran"]["encode"] == {"z": [2, table.latent_dim],
                                  "rotation": [2, 3]}
  # Warm-up: one request per signature, each answered by the export.
  loaded = tf.saved_model.load(path)
  warmup = serving_config.read_warmup_requests(path)
  assert {r.model_spec.signature_name for r in warmup} == (
      set(out["keys"]) - {"metadata"})
  for request in warmup:
    assert serving.grpc_outputs(serving.predict_locally(loaded, request))


def test_export_records_the_training_faces_zoom(exported, tmp_path):
  import gin  # pylint: disable=g-import-not-at-top
  from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import data  # pylint: disable=g-import-not-at-top
  nets = exported[1]
  args = (nets["g"], nets["e_s"], TABLE, nets["e_r"], nets["g_lat"])
  assert export.ConfigNetServing(*args, zoom=1).export_metadata()["zoom"] == 1.0
  assert "zoom" not in export.ConfigNetServing(*args).export_metadata()
  # A run's gin config names its synthetic faces; their info gives the zoom,
  # through a macro as the shipped gin files bind it.
  assert data.configured_zoom() is None
  with open(synthetic.info_path(str(tmp_path), "synthetic"), "w") as f:
    json.dump({"zoom": 1.0}, f)
  gin.parse_config(f"SYN = '{tmp_path}/synthetic-*-of-*.tfrecord'\n"
                   "confignet_dataset.synthetic_pattern = %SYN")
  assert data.configured_zoom() == 1.0
  gin.clear_config()
  gin.parse_config(f"confignet_dataset.synthetic_pattern = "
                   f"'{tmp_path}/none/synthetic-*'")
  assert data.configured_zoom() is None
