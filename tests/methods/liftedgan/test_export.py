"""LiftedGAN SavedModel: every signature runs in a fresh process without
tfface, and matches the in-process model."""

import numpy as np

from tfface.export import metadata
from tfface.export import savedmodel
from tfface.methods.liftedgan import control
from tests.export import every_signature
from tests.methods.liftedgan import fixtures


def test_export_round_trip_in_a_fresh_process(restored, tmp_path):
  module, signatures = restored.export_signatures()
  assert sorted(signatures) == ["components", "render", "sample"]
  version = metadata.export_servable(
      module, str(tmp_path / "export"), signatures, module.export_metadata(),
      module.signature_inputs())
  assert not (savedmodel.graph_op_names(version) -
              savedmodel.stock_op_names())
  model = restored.model
  rng = np.random.default_rng(0)
  z = rng.standard_normal((2, model.z_dim)).astype(np.float32)
  yaw = np.array([0.0, 0.6], np.float32)
  pitch = np.array([0.0, -0.2], np.float32)
  light = np.array([[0.2, 0.8, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
  report = every_signature.run_from_metadata(version, tmp_path, calls={
      "render": ("render", {"z": z, "yaw": yaw, "pitch": pitch,
                            "light": light}),
      "components": ("components", {"z": z}),
      "sample": ("sample", {"z": z, "truncation": np.float32(0.7)}),
      "bad_light": ("render", {"z": z, "yaw": yaw, "pitch": pitch,
                               "light": light[:, :3]}),
  })
  s = fixtures.SIZE
  for name in ("sample", "render", "components", "serving_default"):
    assert name in report["ran"], name
  assert report["ran"]["components"]["depth"] == [2, s, s, 1]
  assert report["ran"]["components"]["view"] == [2, 6]
  assert report["ran"]["render"]["image"] == [2, s, s, 3]
  # The served render equals the in-process one.
  comps = control.sample_components(model, z)
  expected = control.render(model, comps, yaw=yaw, pitch=pitch,
                            light=light).numpy()
  np.testing.assert_allclose(np.array(report["calls"]["render"]["image"]),
                             expected, atol=2e-4)
  depth = np.array(report["calls"]["components"]["depth"])
  np.testing.assert_allclose(depth, comps["depth"].numpy(), atol=1e-5)
  assert 0.9 < depth[:, :, 2:-2].min() and depth.max() < 1.1
  sample = np.array(report["calls"]["sample"]["image"])
  assert sample.min() >= -1.0 and sample.max() <= 1.0
  assert "light" in report["calls"]["bad_light"]["error"]
