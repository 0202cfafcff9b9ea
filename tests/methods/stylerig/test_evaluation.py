"""StyleRig's metric functions on hand-made cases."""

import numpy as np
import pytest

from tfface.methods.stylerig import evaluation
from tfface.methods.stylerig import networks


def test_angle_error_and_correlation():
  requested = np.radians([10.0, -20.0])
  achieved = np.radians([13.0, -19.0])
  assert evaluation.angle_error_degrees(requested, achieved) == pytest.approx(
      2.0)
  assert evaluation.correlation([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
  assert evaluation.correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
  assert np.isnan(evaluation.correlation([1, 2, 3], [5, 5, 5]))


def test_other_mode_change_ignores_the_edited_mode():
  layout = networks.ParameterLayout.named("procedural")
  before = np.zeros([2, 97], np.float32)
  after = before.copy()
  after[:, 64:67] = 1.0                     # pose moved: the edited mode
  assert evaluation.other_mode_change(before, after, layout, "pose") == 0.0
  after[:, 67] = 0.08                       # one SH entry by one spread
  others = (len(layout.mode_indices("expression")) +
            len(layout.mode_indices("illumination")) +
            len(layout.mode_indices("identity")))
  assert evaluation.other_mode_change(before, after, layout, "pose") == (
      pytest.approx(1.0 / others, rel=1e-5))


def test_estimator_agreement_reads_scale_and_correlation():
  layout = networks.ParameterLayout.named("procedural")
  rng = np.random.default_rng(0)
  meter = rng.normal(size=[50, 97]).astype(np.float32)
  f = meter.copy()
  yaw = layout.slices["pose"][0] + 1
  f[:, yaw] = 0.25 * meter[:, yaw] + 0.1    # F reads a quarter of the yaw
  lo, hi = layout.slices["sh"]
  f[:, lo:hi] = rng.normal(size=[50, hi - lo])   # and no lighting at all
  out = evaluation.estimator_agreement(f, meter, layout)
  assert out["yaw_slope"] == pytest.approx(0.25, abs=1e-5)
  assert out["yaw_correlation"] == pytest.approx(1.0, abs=1e-5)
  assert out["pitch_slope"] == pytest.approx(1.0, abs=1e-5)
  assert out["expression_correlation"] == pytest.approx(1.0, abs=1e-5)
  assert abs(out["sh_correlation"]) < 0.2


def test_identity_change():
  a = np.array([[1.0, 0.0], [0.0, 1.0]])
  b = np.array([[1.0, 0.0], [1.0, 0.0]])
  assert evaluation.identity_change(a, b) == pytest.approx(0.5)


def test_regression_directions_recover_a_linear_map():
  rng = np.random.default_rng(0)
  p = rng.normal(size=[200, 3])
  true_b = rng.normal(size=[3, 2 * 4])
  w = (1.0 + p @ true_b).reshape(200, 2, 4)
  b = evaluation.regression_directions(w, p, ridge=1e-8)
  np.testing.assert_allclose(b, true_b, atol=1e-4)
  moved = evaluation.baseline_rig(w[:1], p[:1], p[:1] + [[0.5, 0, 0]], b)
  np.testing.assert_allclose(moved - w[:1],
                             (0.5 * true_b[0]).reshape(1, 2, 4), atol=1e-4)


def test_edit_grid_and_evaluation_end_to_end(runs, data_dir, frozen_files,
                                             tmp_path):
  """tools/edit.py stylerig and tools/evaluate.py stylerig's library calls
  on the tiny pose RigNet (written as a file: no child process)."""
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfface.methods.stylerig import control  # pylint: disable=g-import-not-at-top
  from tfface.methods.stylerig import method  # pylint: disable=g-import-not-at-top
  m = runs["r_method"]
  path = str(tmp_path / "rignet.npz")
  kind, rignet, meta = m.saved_networks()[method.RIGNET_FILE]
  method.save_network(path, kind, rignet, meta)
  written = control.write_edit_grids([path], str(tmp_path / "edit"),
                                     codes="random:2", scale=1)
  grid = tf.io.decode_png(tf.io.read_file(written["pose"])).numpy()
  assert grid.shape == (2 * 16, 6 * 16, 3)          # input + 5 yaw values
  out = str(tmp_path / "eval.json")
  result = evaluation.evaluate_stylerig(
      [path], data_dir, frozen_files["reconstruction"], num_heldout=4,
      num_regression=12, output_json=out)
  with open(out) as f:
    assert json.load(f) == json.loads(json.dumps(result))
  pose = result["modes"]["pose"]
  for name in ("stylerig", "baseline"):
    assert np.isfinite(pose[name]["yaw_error_deg"])
    assert np.isfinite(pose[name]["other_modes_change"])
  assert np.isfinite(result["estimator"]["landmark_rms_px"])
  assert np.isfinite(pose["stylerig_read_by_f"]["yaw_error_deg"])
  assert set(result["estimator_agreement"]) == {
      "pitch_slope", "pitch_correlation", "yaw_slope", "yaw_correlation",
      "expression_correlation", "sh_correlation"}
  assert os.path.isfile(out)
