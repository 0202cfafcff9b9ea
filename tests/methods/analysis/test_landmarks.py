"""The landmark trainer: loss, augmentation, evaluation, weights and export."""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from tests.export import every_signature
from tfface import config
from tfface.analysis import augment
from tfface.analysis import landmarks as landmarks_lib
from tfface.analysis import weights
from tfface.data import synthetic
from tfface.export import from_run
from tfface.methods.analysis import base
from tfface.methods.analysis import data
from tfface.methods.analysis import landmarks
from tfface.training import restore
from tfface.training import train_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
TEST_GIN = os.path.join(REPO, "gin", "analysis", "landmarks_test.gin")


@pytest.fixture(scope="module")
def pattern(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp("labeled"))
  synthetic.write_synthetic_dataset(directory, 24, 32, mode=synthetic.LABELED,
                                    views_per_identity=3, show_progress=False)
  return os.path.join(directory, "labeled-*.tfrecord")


@pytest.fixture(autouse=True)
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


@pytest.fixture(scope="module")
def run_dir(pattern, tmp_path_factory):
  """A 4-step run of gin/analysis/landmarks_test.gin."""
  model_dir = str(tmp_path_factory.mktemp("landmarks_run"))
  gin.clear_config()
  config.parse_config([TEST_GIN], [f"analysis_dataset.path = {pattern!r}",
                                   "train.max_steps = 4"])
  losses = train_lib.train(model_dir=model_dir)
  gin.clear_config()
  assert {"total", "coordinate_l1", "heatmap_kl", "nme"} <= set(losses)
  return model_dir


def _built(**kwargs):
  tf.keras.utils.set_random_seed(0)   # the same initial weights every run
  args = dict(input_size=32, widths=(8, 16), head_width=16,
              learning_rate=3e-3)
  args.update(kwargs)
  method = landmarks.LandmarkMethod(**args)
  method.global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
  method.global_batch_size = 8
  method.seed = 0
  method.build()
  return method


def test_loss_falls_on_a_tiny_set(pattern):
  method = _built(augment_geometric=False, augment_photometric=0.0)
  batch = next(iter(data.analysis_dataset(8, path=pattern, image_size=32)))
  step = tf.function(method.train_step)
  history = []
  for _ in range(40):
    history.append({k: float(v) for k, v in step(batch).items()})
    method.global_step.assign_add(1)
  first = np.mean([h["total"] for h in history[:3]])
  last = np.mean([h["total"] for h in history[-3:]])
  assert last < 0.6 * first, (first, last)
  assert history[-1]["nme"] < history[0]["nme"]
  assert history[-1]["coordinate_l1"] < history[0]["coordinate_l1"]


def test_geometric_augmentation_moves_points_with_the_image(pattern):
  method = _built(max_rotation_degrees=20.0, max_scale=0.15, max_shift=0.1)
  batch = next(iter(data.analysis_dataset(8, path=pattern, image_size=32)))
  out = method.augment_geometry(batch, tf.constant([3, 4]))
  moved = np.abs(out["landmarks"].numpy() - batch["landmarks"].numpy())
  assert moved.mean() > 0.3        # it does move them ...
  # ... and the nose tip (30) stays on a face pixel (not background) of the
  # augmented parse of the same faces: points and pixels moved together.
  _, _, parse = augment.similarity(
      batch["image"], tf.constant([3, 4]), classes=batch["parse"],
      max_rotation_degrees=20.0, max_scale=0.15, max_shift=0.1)
  nose = np.floor(out["landmarks"].numpy()[:, 30]).astype(int)
  labels = parse.numpy()[np.arange(8), nose[:, 1], nose[:, 0]]
  assert np.all(labels != 0), labels
  plain = _built(augment_geometric=False).augment_geometry(
      batch, tf.constant([3, 4]))
  np.testing.assert_array_equal(plain["landmarks"], batch["landmarks"])


def test_bad_settings_are_one_line_value_errors():
  for kwargs, match in [({"coordinate_weight": 0.0, "heatmap_weight": 0.0},
                         "not both 0"),
                        ({"heatmap_sigma": 0.0}, "heatmap_sigma"),
                        ({"cosine_decay_steps": -1}, "cosine_decay_steps"),
                        ({"heatmap_stride": 5}, "heatmap_stride")]:
    with pytest.raises(ValueError) as error:
      landmarks.LandmarkMethod(**kwargs)
    # One sentence (gin appends the configurable's name on later lines).
    assert match in str(error.value).splitlines()[0]


def test_evaluate_landmarks_per_render_style(pattern):
  dataset = data.analysis_dataset(8, path=pattern, image_size=32,
                                  shuffle=False)
  batches = list(dataset.take(3))
  mean_shape = np.mean([b["landmarks"].numpy() for b in batches], (0, 1))

  class MeanShape(tf.keras.Model):
    def call(self, images, training=None):
      del training
      return tf.tile(tf.constant(mean_shape)[None],
                     [tf.shape(images)[0], 1, 1])

  result = landmarks.evaluate_landmarks(MeanShape(), dataset, 3)
  truth = np.concatenate([b["landmarks"].numpy() for b in batches])
  style = np.concatenate([b["pseudo_real"].numpy() for b in batches]) > 0.5
  nme = landmarks_lib.inter_ocular_nme(
      np.broadcast_to(mean_shape, truth.shape), truth)
  assert result["all"]["count"] == 24
  assert result["all"]["nme_mean"] == pytest.approx(nme.mean())
  assert result["all"]["nme_median"] == pytest.approx(np.median(nme))
  assert result["all"]["failure_rate"] == pytest.approx(
      (nme > landmarks.FAILURE_THRESHOLD).mean())
  assert result["pseudo_real"]["count"] == style.sum()
  assert result["synthetic"]["count"] == (~style).sum()
  assert result["pseudo_real"]["nme_mean"] == pytest.approx(
      nme[style].mean())
  assert "36 and 45" in result["normalisation"]


def test_weights_from_run_reproduce_the_network(run_dir, tmp_path, pattern):
  path = str(tmp_path / "landmarks.npz")
  meta = base.write_weights_from_run(run_dir, path, {"accuracy": "none"})
  assert meta["kind"] == "landmarks" and meta["step"] == 4
  method = restore.restore_run(run_dir)
  gin.clear_config()
  # The test gin's cosine schedule (3e-3 over 20 steps) came back with the
  # run's config: at step 4 it is at 3e-3 * (0.02 + 0.98 * 0.905).
  assert float(method.optimizer.learning_rate) == pytest.approx(2.72e-3,
                                                                rel=1e-2)
  loaded = weights.load_network(path)
  assert loaded.weights_metadata["accuracy"] == "none"
  assert "36 and 45" in loaded.weights_metadata["nme_normalisation"]
  images = next(iter(data.analysis_dataset(4, path=pattern,
                                           image_size=32)))["image"]
  np.testing.assert_allclose(loaded(images).numpy(),
                             method.network(images, training=False).numpy(),
                             atol=1e-5)
  # Any input size: a 64 px copy gives coordinates in its own frame.
  big = loaded(tf.image.resize(images, [64, 64])).numpy()
  assert np.abs(big / 2.0 - loaded(images).numpy()).mean() < 0.5


def test_export_every_signature_runs(run_dir, tmp_path, pattern):
  version = from_run.export_run(run_dir, str(tmp_path / "export"))
  report = every_signature.run_from_metadata(version, tmp_path)
  assert report["meta"]["method"] == "landmarks"
  assert set(report["ran"]) == {"landmarks", "serving_default", "metadata"}
  # The metadata's inputs are [B, H, W, 3] (named sizes): a 2 x 2 image.
  for name in ("landmarks", "serving_default"):
    assert report["ran"][name] == {"landmarks": [2, 68, 2]}
    assert report["dtypes"][name] == {"landmarks": "float32"}
  # The served points are the network's, in the input's pixel frame.
  method = restore.restore_run(run_dir)
  gin.clear_config()
  loaded = tf.saved_model.load(version)
  images = next(iter(data.analysis_dataset(2, path=pattern,
                                           image_size=32)))["image"]
  served = loaded.signatures["landmarks"](images=images)["landmarks"]
  np.testing.assert_allclose(served.numpy(),
                             method.network(images, training=False).numpy(),
                             atol=1e-4)
  with pytest.raises(tf.errors.InvalidArgumentError, match="images must be"):
    loaded.signatures["landmarks"](images=images[0])
