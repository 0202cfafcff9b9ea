"""The exported SavedModel loads and runs in a process without tfface."""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

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


def test_export_round_trip_in_a_fresh_process(tmp_path):
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
  path = savedmodel.export_module(module, str(tmp_path / "export"),
                                  module.signatures())
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
