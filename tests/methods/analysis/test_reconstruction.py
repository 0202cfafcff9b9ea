"""ReconstructionMethod: losses, training, weights file, export, evaluation."""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from tests.export import every_signature
from tfface import config
from tfface.analysis import weights
from tfface.data import synthetic
from tfface.export import metadata as metadata_lib
from tfface.methods.analysis import base
from tfface.methods.analysis import reconstruction as method_lib
from tfface.training import train_lib

SIZE = 32
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
TEST_GIN = os.path.join(REPO, "gin", "analysis", "reconstruction_test.gin")


@pytest.fixture(autouse=True)
def _clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


@pytest.fixture(scope="module")
def pattern(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp("labeled"))
  synthetic.write_synthetic_dataset(directory, 24, SIZE, mode=synthetic.LABELED,
                                    views_per_identity=3, show_progress=False)
  return os.path.join(directory, "labeled-*.tfrecord")


def _method(**kwargs):
  settings = dict(input_size=SIZE, widths=(8, 16), pooled_size=2, hidden=32,
                  learning_rate=3e-3, augment_photometric=0.0)
  settings.update(kwargs)
  method = method_lib.ReconstructionMethod(**settings)
  method.global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
  method.global_batch_size, method.seed = 8, 0
  method.build()
  return method


def _batch(pattern, count=8, **kwargs):
  return next(iter(method_lib.reconstruction_dataset(
      count, pattern, image_size=SIZE, shuffle=False, **kwargs)))


def test_loss_falls_in_a_few_dozen_steps(pattern):
  method = _method(learning_rate=5e-3)
  batch = _batch(pattern)
  step = tf.function(method.train_step)
  first = {k: float(v) for k, v in step(batch).items()}
  for _ in range(25):
    last = {k: float(v) for k, v in step(batch).items()}
  assert set(first) >= {"group_identity", "group_expression", "group_pose",
                        "group_sh", "group_translation", "landmark",
                        "landmark_px", "pose_mae_degrees", "total"}
  assert last["total"] < 0.6 * first["total"]
  assert last["group_pose"] < first["group_pose"]
  assert last["landmark"] < first["landmark"]


def test_group_weights_and_the_landmark_weight_shape_the_total(pattern):
  method = _method(group_weights={"sh": 0.0}, landmark_weight=2.0)
  batch = _batch(pattern)
  losses = method.compute_losses(batch, batch["image"], training=False)
  assert "group_sh" not in losses
  expected = sum(method.group_weights[k[6:]] * float(v)
                 for k, v in losses.items() if k.startswith("group_"))
  expected += 2.0 * float(losses["landmark"])
  assert float(losses["total"]) == pytest.approx(expected, rel=1e-5)
  # The landmark loss is the mean pixel distance divided by the width.
  assert float(losses["landmark"]) == pytest.approx(
      float(losses["landmark_px"]) / SIZE, rel=1e-5)


def test_bad_settings_are_one_clear_error():
  with pytest.raises(ValueError, match="group_weights"):
    method_lib.ReconstructionMethod(group_weights={"hair": 1.0})
  with pytest.raises(ValueError, match="face_model_path"):
    method_lib.ReconstructionMethod(layout="bfm257")
  with pytest.raises(ValueError, match="group_loss"):
    method_lib.ReconstructionMethod(group_loss="l3")
  with pytest.raises(ValueError, match="landmark_weight"):
    method_lib.ReconstructionMethod(landmark_weight=-1.0)


def test_self_supervised_photometric_loss_prefers_the_true_face(pattern):
  method = _method(self_supervised_weight=1.0)
  batch = _batch(pattern, 6)
  images = batch["image"]
  plain = batch["pseudo_real"].numpy() < 0.5
  truth = dict(batch["factors"])
  truth["landmarks"] = batch["landmarks"]
  good = method.self_supervised_losses(truth, images)
  shifted = dict(truth)
  shifted["pose"] = truth["pose"] + tf.constant([[0.0, 0.4, 0.0]])
  bad = method.self_supervised_losses(shifted, images)
  assert float(good["photometric"]) < float(bad["photometric"])
  if plain.any():  # a plain render of the true factors matches closely
    idx = np.flatnonzero(plain)
    sub = {k: tf.gather(v, idx) for k, v in truth.items()}
    exact = method.self_supervised_losses(sub, tf.gather(images, idx))
    assert float(exact["photometric"]) < 0.1
  # D3D's regularizer: |id|^2 + 0.8 |exp|^2 + 1.7e-2 |tex|^2, batch mean.
  expected = np.mean(
      np.sum(truth["identity"].numpy()**2, -1) +
      0.8 * np.sum(truth["expression"].numpy()**2, -1) +
      1.7e-2 * np.sum(truth["albedo"].numpy()**2, -1))
  assert float(good["regularizer"]) == pytest.approx(expected, rel=1e-4)


def test_self_supervised_training_step_on_unlabeled_images(pattern):
  method = _method(self_supervised_weight=1.0)
  batch = _batch(pattern, 4, unlabeled_kind="synthetic",
                 unlabeled_path=pattern, unlabeled_batch_size=2)
  assert batch["unlabeled_image"].shape == (2, SIZE, SIZE, 3)
  with tf.GradientTape() as tape:
    losses = method.compute_losses(batch, batch["image"], training=True)
  gradients = tape.gradient(losses["self_supervised"],
                            method.network.trainable_variables)
  assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0
             for g in gradients)
  assert np.isfinite(float(losses["total"]))
  assert float(losses["photometric"]) > 0
  # Without unlabeled images the term is refused with a clear message.
  labeled_only = {k: v for k, v in batch.items() if k != "unlabeled_image"}
  with pytest.raises(ValueError, match="unlabeled_kind"):
    method.compute_losses(labeled_only, batch["image"], training=False)


def test_evaluate_reconstruction_per_style(pattern):
  method = _method()
  network = method.network
  dataset = method_lib.reconstruction_dataset(8, pattern, image_size=SIZE,
                                              shuffle=False)
  result = method_lib.evaluate_reconstruction(network, dataset, 2)
  assert result["all"]["count"] == 16
  assert (result["synthetic"]["count"] + result["pseudo_real"]["count"]) == 16
  for key in ("pose_pitch_deg", "pose_yaw_deg", "pose_roll_deg",
              "identity_mae", "expression_mae", "landmark_px",
              "landmark_nme"):
    assert np.isfinite(result["all"][key]), key
  # Checked against a direct computation on the same faces.
  yaw, pixels = [], []
  for batch in dataset.take(2):
    out = network(batch["image"], training=False)
    yaw.append(np.abs(out["pose"][:, 1] - batch["factors"]["pose"][:, 1]))
    pixels.append(np.linalg.norm(out["landmarks"] - batch["landmarks"],
                                 axis=-1).mean(-1))
  assert result["all"]["pose_yaw_deg"] == pytest.approx(
      np.degrees(np.concatenate(yaw)).mean(), rel=1e-4)
  assert result["all"]["landmark_px"] == pytest.approx(
      np.concatenate(pixels).mean(), rel=1e-4)
  for name in ("expression", "sh", "pose"):
    assert -1.0 <= result["all"][f"{name}_r"] <= 1.0, name


def test_mean_correlation_tells_reading_from_predicting_the_mean():
  rng = np.random.default_rng(0)
  true = rng.normal(size=[100, 3])
  true[:, 2] = 0.5  # constant label: left out
  assert method_lib.mean_correlation(true, 2.0 * true + 1.0) == (
      pytest.approx(1.0))
  # Predicting the mean scores 0, though its error is the smallest possible
  # for a net that does not read the group.
  assert method_lib.mean_correlation(true, np.zeros_like(true)) == 0.0
  mixed = np.stack([true[:, 0], -true[:, 1], true[:, 2]], -1)
  assert method_lib.mean_correlation(true, mixed) == pytest.approx(0.0)
  assert np.isnan(method_lib.mean_correlation(true[:1], true[:1]))


def test_train_run_weights_file_and_export(pattern, tmp_path):
  run_dir = str(tmp_path / "run")
  config.parse_config([TEST_GIN], [
      f"reconstruction_dataset.path = {pattern!r}", "train.max_steps = 3",
      "train.checkpoint_every = 3", "train.log_every = 1"])
  losses = train_lib.train(model_dir=run_dir)
  assert np.isfinite(losses["total"])
  gin.clear_config()
  # The weights file rebuilds the trained network exactly.
  path = str(tmp_path / "reconstruction.npz")
  meta = base.write_weights_from_run(run_dir, path, {"accuracy": 1.0})
  assert meta["kind"] == "reconstruction" and meta["step"] == 3
  assert meta["layout"] == "procedural"
  from tfface.training import restore  # pylint: disable=g-import-not-at-top
  gin.clear_config()
  method = restore.restore_run(run_dir)
  loaded = weights.load_network(path)
  images = tf.random.uniform([2, SIZE, SIZE, 3], -1, 1, seed=4)
  expected = method.network(images, training=False)
  got = loaded(images, training=False)
  for key in expected:
    np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-5)
  assert loaded.weights_metadata["accuracy"] == 1.0
  # Every signature of the export runs in a fresh process without tfface.
  module, signatures = method.export_signatures()
  assert sorted(signatures) == ["reconstruct"]
  version = metadata_lib.export_servable(
      module, str(tmp_path / "export"), signatures, module.export_metadata(),
      module.signature_inputs())
  out = every_signature.run_from_metadata(version, tmp_path, calls={
      "reconstruct": ("reconstruct", {"images": images.numpy()})})
  assert out["keys"] == ["metadata", "reconstruct", "serving_default"]
  assert out["meta"]["serving_default"] == "reconstruct"
  assert out["meta"]["slices"]["translation"] == [94, 97]
  assert len(out["meta"]["expression_names"]) == 24
  assert out["ran"]["reconstruct"]["landmarks"] == [2, 68, 2]
  assert out["ran"]["reconstruct"]["coefficients"] == [2, 97]
  for key in ("pose", "expression", "landmarks"):
    np.testing.assert_allclose(out["calls"]["reconstruct"][key], expected[key],
                               rtol=1e-4, atol=1e-4)


def test_paper_config_trains_the_procedural_layout_on_resnet50():
  config.parse_config([os.path.join(REPO, "gin", "analysis",
                                    "reconstruction_paper_224.gin")],
                      finalize=False)
  method = method_lib.ReconstructionMethod()
  assert method.network_config["input_size"] == 224
  assert method.network_config["backbone"] == "resnet50"
  assert method.network_config["layout"] == "procedural"
  assert gin.query_parameter("reconstruction_dataset.image_size") == 224
