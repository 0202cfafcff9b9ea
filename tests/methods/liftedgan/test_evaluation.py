"""LiftedGAN evaluation: the metric functions on hand-made cases, and the
protocol end to end on ~8 samples of the tiny trained run."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfface.analysis import reconstruction as rec
from tfface.methods.liftedgan import evaluation


def test_depth_error_is_zero_for_identical_and_affine_maps():
  rng = np.random.default_rng(0)
  a = rng.uniform(0.9, 1.1, [2, 8, 8, 1])
  mask = np.ones_like(a)
  np.testing.assert_allclose(evaluation.normalized_depth_error(a, a, mask),
                             0.0, atol=1e-12)
  # Different camera units / offsets: normalisation removes them.
  np.testing.assert_allclose(
      evaluation.normalized_depth_error(a, 10.0 * a + 3.0, mask), 0.0,
      atol=1e-9)


def test_depth_error_of_a_shifted_map_by_hand():
  # a alternates +1 / -1 by column; b is a shifted by one column (= -a):
  # normalised a = ±1, b = ∓1, RMS difference 2.
  a = np.tile(np.array([1.0, -1.0] * 4), [1, 8, 1])[..., None]
  b = np.roll(a, 1, axis=2)
  mask = np.ones_like(a)
  np.testing.assert_allclose(evaluation.normalized_depth_error(a, b, mask),
                             [2.0])
  # Half the columns masked out still gives 2; a tiny overlap gives NaN.
  mask[:, :, :4] = 0
  np.testing.assert_allclose(evaluation.normalized_depth_error(a, b, mask),
                             [2.0])
  tiny = np.zeros_like(mask)
  tiny[:, 0, :3] = 1
  assert np.isnan(evaluation.normalized_depth_error(a, b, tiny)[0])


def test_angle_errors_centre_each_set_first():
  rng = np.random.default_rng(1)
  truth = rng.uniform(-0.5, 0.5, [10, 3])
  # A constant offset is removed by the centring: zero error.
  errors = evaluation.angle_errors(truth + 0.2, truth)
  assert max(errors.values()) == pytest.approx(0.0, abs=1e-9)
  # Alternating ±1° on yaw only: 1° mean error on yaw.
  noisy = truth.copy()
  noisy[:, 1] += np.deg2rad(np.array([1.0, -1.0] * 5))
  errors = evaluation.angle_errors(noisy, truth)
  assert errors["yaw"] == pytest.approx(1.0)
  assert errors["pitch"] == pytest.approx(0.0, abs=1e-9)
  with pytest.raises(ValueError, match="pitch, yaw, roll"):
    evaluation.angle_errors(truth[:, :2], truth[:, :2])


def test_identity_curve_by_hand():
  frontal = np.array([[1.0, 0.0], [0.0, 2.0]])
  curve = evaluation.identity_similarity_curve(frontal, {
      0: frontal, 30: np.array([[1.0, 1.0], [0.0, -1.0]])})
  assert curve[0.0] == pytest.approx(1.0)
  assert curve[30.0] == pytest.approx((np.sqrt(0.5) - 1.0) / 2)


def test_view_to_pose_flips_yaw_and_roll(restored):
  view = tf.constant([[0.5, 0.25, -0.5, 0.0, 0.0, 0.0]])
  pose = evaluation.view_to_pose(restored.model, view).numpy()
  np.testing.assert_allclose(np.rad2deg(pose), [[30.0, -15.0, 30.0]],
                             atol=1e-4)


def test_protocol_end_to_end_on_a_few_samples(run, restored, tmp_path):
  tf.keras.utils.set_random_seed(0)
  net = rec.ReconstructionNet(input_size=16, widths=(8, 16), pooled_size=2,
                              hidden=16)
  net(tf.zeros([1, 16, 16, 3]))
  result = evaluation.evaluate(
      restored.model, evaluation.PseudoGroundTruth(net, 16),
      restored.identity_net, num_samples=6, batch_size=3,
      yaws_degrees=(0.0, 30.0, 60.0), compile_batches=False)
  assert result["frechet_features"] == "frechet_identity_distance"
  assert np.isfinite(result["frechet_identity_distance"])
  assert result["frechet_identity_distance"] >= -1e-6
  for axis in ("yaw", "pitch", "roll"):
    assert np.isfinite(result[f"{axis}_error"])
  assert 0.0 <= result["template_depth_error"] < 2.0
  assert set(result["identity_vs_yaw"]) == {"0", "30", "60"}
  assert result["identity_vs_yaw"]["0"] == pytest.approx(1.0, abs=1e-5)
  assert all(-1.0 <= v <= 1.0 + 1e-6
             for v in result["identity_vs_yaw"].values())
  path = str(tmp_path / "curve.png")
  evaluation.plot_curves(path, {"full": result["identity_vs_yaw"]})
  png = tf.io.decode_png(tf.io.read_file(path)).numpy()
  assert png.shape[2] == 3 and png.min() < 255  # something was drawn
  json.dumps(result)  # JSON-ready


class _MeanShapeNet:
  """A reconstruction net whose face groups are the face model's defaults."""

  def __init__(self, net):
    self.net, self.layout = net, net.layout
    self.model_resolution, self.zoom = net.model_resolution, net.zoom

  def __call__(self, images, training=False):
    pred = dict(self.net(images, training=training))
    model = rec.procedural_model(self.model_resolution)
    defaults = model.default_parameters(tf.shape(images)[0])
    for name in model.parameter_sizes:
      if name in pred and name not in ("pose", "sh", "translation"):
        pred[name] = defaults[name]
    return pred


def test_template_is_the_mean_shape_at_the_predicted_pose():
  tf.keras.utils.set_random_seed(1)
  net = rec.ReconstructionNet(input_size=16, widths=(8, 16), pooled_size=2,
                              hidden=16)
  images = tf.random.uniform([2, 16, 16, 3], -1.0, 1.0)
  net(images)
  gt = evaluation.PseudoGroundTruth(net, 16)(images)
  mean = evaluation.PseudoGroundTruth(_MeanShapeNet(net), 16)(images)
  # A face of mean shape renders exactly as the template of that pose.
  np.testing.assert_allclose(mean["depth"], mean["template_depth"], atol=1e-5)
  np.testing.assert_array_equal(mean["mask"], mean["template_mask"])
  # The template follows the prediction's pose, not a fixed one.
  np.testing.assert_allclose(gt["template_depth"], mean["template_depth"],
                             atol=1e-5)
  assert float(tf.reduce_sum(gt["template_mask"])) > 10


def test_replicates_are_grouped_by_the_name_before_the_at_sign():
  results = {"full@1": {"depth_error": 0.8, "yaw_error": 2.0},
             "full@2": {"depth_error": 1.0, "yaw_error": float("nan")},
             "full@3": {"depth_error": 0.9, "yaw_error": 4.0},
             "no_flip": {"depth_error": 1.1}}
  summary = evaluation.replicate_summary(results)
  assert list(summary) == ["full", "no_flip"]
  full = summary["full"]
  assert full["n"] == 3 and full["runs"] == ["full@1", "full@2", "full@3"]
  np.testing.assert_allclose(full["depth_error"]["mean"], 0.9)
  np.testing.assert_allclose(full["depth_error"]["std"], 0.1)  # ddof 1
  assert (full["depth_error"]["min"], full["depth_error"]["max"]) == (0.8,
                                                                      1.0)
  # The NaN replicate is left out of its column, not of the group.
  np.testing.assert_allclose(full["yaw_error"]["mean"], 3.0)
  assert summary["no_flip"]["depth_error"]["std"] == 0.0
  assert "yaw_error" not in summary["no_flip"]
  table = evaluation.replicate_markdown(summary)
  assert "| full | 3 | 0.9000 ± 0.1000 | 3.0000 ± 1.4142 |" in table
  assert "| no_flip | 1 | 1.1000 ± 0.0000 | - |" in table
