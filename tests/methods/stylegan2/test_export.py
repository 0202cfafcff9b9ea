"""The StyleGAN2 export checks its inputs: one clear error, never an abort.

A tiny random-weight generator, exported and probed in a process that never
imports tfface, through ``loaded.signatures[name](**inputs)`` and through the
restored functions ``loaded.generate(...)`` etc.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfface.export import savedmodel
from tfface.methods.stylegan2 import export
from tfface.networks import stylegan2

Z_DIM, STYLE_DIM = 6, 4

PROBE = r"""
import json, sys
import numpy as np
import tensorflow as tf
assert not any(m.startswith("tfface") for m in sys.modules)
loaded = tf.saved_model.load(sys.argv[1])
data = {k: tf.constant(v) for k, v in np.load(sys.argv[2]).items()}
z, w = data["z"], data["w"]
psi, one = tf.constant(0.5), tf.constant(1.0)
s = loaded.signatures
CASES = {
    "generate_ok": (lambda: s["generate"](z=z, truncation_psi=psi),
                    lambda: loaded.generate(z, psi)),
    "generate_from_w_ok": (
        lambda: s["generate_from_w"](w=w, truncation_psi=one),
        lambda: loaded.generate_from_w(w, one)),
    "mapping_ok": (lambda: s["mapping"](z=z), lambda: loaded.mapping(z)),
    "z_rank1": (lambda: s["generate"](z=z[0], truncation_psi=psi),
                lambda: loaded.generate(z[0], psi)),
    "z_wrong_size": (lambda: s["mapping"](z=z[:, :4]),
                     lambda: loaded.mapping(z[:, :4])),
    "batch0": (lambda: s["generate"](z=z[:0], truncation_psi=psi),
               lambda: loaded.generate(z[:0], psi)),
    "nan_z": (lambda: s["mapping"](z=z * np.nan),
              lambda: loaded.mapping(z * np.nan)),
    "w_rank2": (lambda: s["generate_from_w"](w=w[:, 0], truncation_psi=one),
                lambda: loaded.generate_from_w(w[:, 0], one)),
    "psi_vector": (
        lambda: s["generate"](z=z, truncation_psi=tf.stack([psi, psi])),
        lambda: loaded.generate(z, tf.stack([psi, psi]))),
    "psi_nan": (
        lambda: s["generate"](z=z, truncation_psi=tf.constant(np.nan,
                                                              tf.float32)),
        lambda: loaded.generate(z, tf.constant(np.nan, tf.float32))),
}
for name, calls in CASES.items():
  for how, call in zip(("signature", "attribute"), calls):
    try:
      record = {"outputs": {k: v.numpy().tolist()
                            for k, v in call().items()}}
    except tf.errors.InvalidArgumentError as e:
      record = {"error": e.message}
    print(json.dumps({"case": name, "how": how, **record}), flush=True)
"""

BAD = {
    "z_rank1": "generate: z must be [B, 6] float32 with B >= 1, got shape [6]",
    "z_wrong_size":
        "mapping: z must be [B, 6] float32 with B >= 1, got shape [2, 4]",
    "batch0":
        "generate: z must be [B, 6] float32 with B >= 1, got shape [0, 6]",
    "nan_z": "mapping: z must be finite, got 12 NaN or Inf values in shape "
             "[2, 6]",
    "w_rank2": "generate_from_w: w must be [B, {num_ws}, 4] float32 (W+) with "
               "B >= 1, got shape [2, 4]",
    "psi_vector": "generate: truncation_psi must be a scalar float32 (1 = "
                  "none, 0 = w̄), got shape [2]",
    "psi_nan": "generate: truncation_psi must be finite, got 1 NaN or Inf "
               "values in shape []",
}


def _generator():
  g = stylegan2.Generator(16, stylegan2.channel_table(16, divisor=64),
                          z_dim=Z_DIM, style_dim=STYLE_DIM, mapping_layers=2)
  g.build_all()
  return g


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("stylegan2_export")
  g = _generator()
  module = export.GeneratorModule(g)
  path = savedmodel.export_module(module, str(tmp / "export"),
                                  module.signatures())
  rng = np.random.default_rng(0)
  z = rng.standard_normal([2, Z_DIM]).astype(np.float32)
  w = np.tile(g.mapping(z).numpy()[:, None], [1, g.num_ws, 1])
  np.savez(tmp / "data.npz", z=z, w=w)
  env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="3",
             CUDA_VISIBLE_DEVICES="")
  result = subprocess.run([sys.executable, "-c", PROBE, path,
                           str(tmp / "data.npz")], capture_output=True,
                          text=True, env=env, cwd=str(tmp), timeout=120,
                          check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  records = {}
  for line in result.stdout.splitlines():
    if line.startswith("{"):
      record = json.loads(line)
      records[(record.pop("case"), record.pop("how"))] = record
  expected = {
      "generate_ok": np.clip(g(z, truncation_psi=0.5,
                               noise_mode="const").numpy(), -1, 1),
      "generate_from_w_ok": np.clip(g.synthesis(w, noise_mode="const").numpy(),
                                    -1, 1),
      "mapping_ok": g.mapping(z).numpy()}
  return records, expected, g.num_ws


@pytest.mark.parametrize("how", ["signature", "attribute"])
def test_correct_calls_give_the_generator_outputs(probed, how):
  records, expected, _ = probed
  for case, want in expected.items():
    out = records[(case, how)]["outputs"]
    got = out["w"] if case == "mapping_ok" else out["image"]
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("how", ["signature", "attribute"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_clear_error(probed, case, how):
  records, _, num_ws = probed
  message = BAD[case].format(num_ws=num_ws)
  assert f"assertion failed: [{message}]" in records[(case, how)].get(
      "error", ""), records[(case, how)]


def test_signature_inputs_keep_their_names():
  module = export.GeneratorModule(_generator())
  inputs = module.signature_inputs()
  assert {k: [i.name for i in v] for k, v in inputs.items()} == {
      "generate": ["z", "truncation_psi"],
      "generate_from_w": ["w", "truncation_psi"], "mapping": ["z"]}
  for name, fn in module.signatures().items():
    specs = fn.get_concrete_function().structured_input_signature[0]
    assert [s.name for s in specs] == [i.name for i in inputs[name]]
    assert all(s.shape.rank is None for s in specs)


def test_conventions_every_signature_runs_from_its_metadata(tmp_path):
  from tests.export import every_signature  # pylint: disable=g-import-not-at-top
  from tfface.export import metadata  # pylint: disable=g-import-not-at-top
  channels = stylegan2.channel_table(16, "upstream", 2, 64)
  g = stylegan2.Generator(16, channels, z_dim=Z_DIM, style_dim=STYLE_DIM,
                          mapping_layers=1)
  g.build_all()
  module = export.GeneratorModule(g)
  path = metadata.export_servable(module, str(tmp_path / "sg2"),
                                  module.signatures(),
                                  module.export_metadata(),
                                  module.signature_inputs())
  out = every_signature.run_from_metadata(path, tmp_path)
  assert sorted(out["keys"]) == ["generate", "generate_from_w", "mapping",
                                 "metadata", "serving_default"]
  assert set(out["ran"]) == set(out["keys"])
  assert out["meta"]["serving_default"] == "generate"
  assert out["meta"]["num_ws"] == g.num_ws
  np.testing.assert_array_equal(out["serving_default"], out["generate"])
  assert out["ran"]["generate_from_w"]["image"] == [2, 16, 16, 3]
