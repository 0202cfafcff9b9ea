"""The StyleRig SavedModel: rig, estimate, generate_from_w in a fresh process."""

import numpy as np

from tfface.methods.stylerig import export
from tests.export import every_signature


def test_every_signature_round_trips_in_a_fresh_process(runs, tmp_path):
  m = runs["r_method"]
  version = export.export_stylerig(
      str(tmp_path / "export"), m.generator, m.estimator,
      {"pose": (m.rignet, "mode")}, m.layout_name)
  w = m._summary_w.numpy()[:2]  # pylint: disable=protected-access
  p = m.estimator(w).numpy()
  p[:, 65] = 0.4
  report = every_signature.run_from_metadata(version, tmp_path, calls={
      "rig": ("rig", {"w_plus": w, "params": p}),
      "estimate": ("estimate", {"w_plus": w}),
      "generate": ("generate_from_w", {"w_plus": w}),
      "bad": ("rig", {"w_plus": w, "params": p[:, :5]})})
  assert {"rig", "estimate", "generate_from_w", "serving_default",
          "metadata"} <= set(report["keys"])
  assert report["meta"]["params"]["pose"] == [64, 67]
  assert report["meta"]["modes"] == ["pose"]
  calls = report["calls"]
  np.testing.assert_allclose(calls["estimate"]["params"], m.estimator(w),
                             rtol=1e-4, atol=1e-5)
  w_hat = m.rignet(w, p[:, 64:67]).numpy()
  np.testing.assert_allclose(calls["rig"]["w_plus"], w_hat, rtol=1e-4,
                             atol=1e-5)
  image = np.clip(m.generator.synthesis(w_hat, noise_mode="const"), -1, 1)
  np.testing.assert_allclose(calls["rig"]["image"], image, atol=1e-4)
  assert np.asarray(calls["generate"]["image"]).shape == (2, 16, 16, 3)
  assert "params must be [B, 97]" in calls["bad"]["error"]
