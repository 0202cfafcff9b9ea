"""The DiscoFaceGAN SavedModel: every signature runs in a fresh process
without tfface, and matches the in-process networks."""

import numpy as np
import pytest
import tensorflow as tf

from tests.export import every_signature
from tests.methods.discofacegan.conftest import TinyVAEs
from tfface.export import metadata
from tfface.methods.discofacegan import editing
from tfface.methods.discofacegan import export
from tfface.methods.discofacegan import generator as generator_lib
from tfface.methods.discofacegan import lambda_space as ls
from tfface.methods.discofacegan import truncation


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  layout = ls.LambdaLayout()
  tf.keras.utils.set_random_seed(11)
  sampler = ls.LambdaSampler(TinyVAEs(layout), layout)
  g = generator_lib.DiscoFaceGenerator(layout.input_dim, 16, w_dim=8,
                                       mapping_layers=2, fmap_base=32,
                                       fmap_max=8)
  g.build_all()
  w_avg = truncation.average_identity_w(g, sampler, 32, 32)
  module = export.DiscoFaceGANModule(g, sampler, w_avg, truncation_cutoff=4)
  path = metadata.export_servable(
      module, str(tmp_path_factory.mktemp("dfg_export")),
      module.signatures(), module.export_metadata(),
      module.signature_inputs())
  return path, module, layout, sampler, g, w_avg


def test_every_signature_round_trips(exported, tmp_path):
  path, module, layout, sampler, g, w_avg = exported
  rng = np.random.default_rng(0)
  z = rng.standard_normal([2, sampler.z_dim]).astype(np.float32)
  noise = rng.standard_normal([2, 32]).astype(np.float32)
  lam = sampler.decode(sampler.split_z(z)).numpy()
  target = lam + 0.3
  w_plus = g.w_plus(layout.with_noise(lam, noise)).numpy()
  psi = np.float32(0.5)
  report = every_signature.run_from_metadata(path, tmp_path, calls={
      "generate": ("generate", {"z": z, "noise": noise,
                                "truncation_psi": psi}),
      "edit": ("edit", {"w_plus": w_plus, "factor": np.int32(2),
                        "source": lam, "target": target, "noise": noise}),
      "bad_factor": ("edit", {"w_plus": w_plus, "factor": np.int32(4),
                              "source": lam, "target": target,
                              "noise": noise})})
  for name in ("generate", "generate_from_lambda", "generate_from_w",
               "mapping", "edit", "serving_default", "metadata"):
    assert name in report["keys"]
  assert report["ran"]["generate"]["image"] == [2, 16, 16, 3]
  assert report["ran"]["mapping"]["w_plus"] == [2, g.num_layers, 8]
  assert report["meta"]["factor_ids"]["pose"] == 2
  # Fresh-process outputs match the networks here.
  wt = truncation.truncate(g, layout, lam, noise, w_avg, psi, 4)
  expected = np.clip(g.synthesize(wt, noise_mode="const"), -1, 1)
  np.testing.assert_allclose(report["calls"]["generate"]["image"], expected,
                             atol=1e-4)
  np.testing.assert_allclose(report["calls"]["generate"]["lambda"], lam,
                             atol=1e-5)
  edited = editing.edit_factor(g, layout, w_plus, lam, "pose",
                               layout.split(target)["pose"], noise)
  np.testing.assert_allclose(report["calls"]["edit"]["w_plus"], edited,
                             atol=1e-4)
  assert "factor" in report["calls"]["bad_factor"]["error"]
