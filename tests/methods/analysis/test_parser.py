"""The parser trainer: loss, augmentation, evaluation, weights and export."""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from tests.export import every_signature
from tfface import config
from tfface.analysis import parser as parser_lib
from tfface.analysis import weights
from tfface.data import schema
from tfface.data import synthetic
from tfface.export import from_run
from tfface.methods.analysis import base
from tfface.methods.analysis import data
from tfface.methods.analysis import parser
from tfface.training import restore
from tfface.training import train_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
TEST_GIN = os.path.join(REPO, "gin", "analysis", "parser_test.gin")
WEIGHTS = (0.5, 1.0, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0)


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
  """A 4-step run of gin/analysis/parser_test.gin, class-weighted."""
  model_dir = str(tmp_path_factory.mktemp("parser_run"))
  gin.clear_config()
  config.parse_config([TEST_GIN], [f"analysis_dataset.path = {pattern!r}",
                                   "train.max_steps = 4",
                                   f"ParserMethod.class_weights = {WEIGHTS}"])
  losses = train_lib.train(model_dir=model_dir)
  gin.clear_config()
  assert {"total", "cross_entropy", "weighted_cross_entropy",
          "pixel_accuracy"} <= set(losses)
  return model_dir


def _built(**kwargs):
  tf.keras.utils.set_random_seed(0)   # the same initial weights every run
  args = dict(input_size=32, widths=(8, 16), decoder_width=8,
              full_resolution_width=8, learning_rate=3e-3)
  args.update(kwargs)
  method = parser.ParserMethod(**args)
  method.global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
  method.global_batch_size = 8
  method.seed = 0
  method.build()
  return method


@pytest.mark.parametrize("class_weights", [None, WEIGHTS])
def test_loss_falls_on_a_tiny_set(pattern, class_weights):
  method = _built(class_weights=class_weights, augment_geometric=False,
                  augment_photometric=0.0)
  batch = next(iter(data.analysis_dataset(8, path=pattern, image_size=32)))
  step = tf.function(method.train_step)
  history = []
  for _ in range(40):
    history.append({k: float(v) for k, v in step(batch).items()})
    method.global_step.assign_add(1)
  first = np.mean([h["total"] for h in history[:3]])
  last = np.mean([h["total"] for h in history[-3:]])
  assert last < 0.6 * first, (first, last)
  assert history[-1]["pixel_accuracy"] > history[0]["pixel_accuracy"]
  if class_weights is None:
    assert history[-1]["total"] == history[-1]["cross_entropy"]
  else:
    assert "weighted_cross_entropy" in history[-1]


def _encode(classes):
  """A class map as an image: channel value (id / 7) * 2 - 1."""
  grey = tf.cast(classes, tf.float32)[..., None] / 7.0 * 2.0 - 1.0
  return tf.tile(grey, [1, 1, 1, 3])


def test_geometric_augmentation_moves_the_parse_with_the_image(pattern):
  method = _built(max_rotation_degrees=20.0, max_scale=0.15, max_shift=0.1)
  batch = next(iter(data.analysis_dataset(8, path=pattern, image_size=32)))
  batch["image"] = _encode(batch["parse"])
  out = method.augment_geometry(batch, tf.constant([5, 6]))
  assert np.mean(out["parse"].numpy() != batch["parse"].numpy()) > 0.02
  decoded = np.round((out["image"].numpy()[..., 0] + 1.0) / 2.0 * 7.0)
  # Bilinear image vs nearest labels: they differ only along class edges.
  assert np.mean(decoded == out["parse"].numpy()) > 0.85


def test_bad_settings_are_one_line_value_errors():
  for kwargs, match in [({"class_weights": (1.0, 2.0)}, "8 weights"),
                        ({"class_weights": (-1.0,) * 8}, "8 weights"),
                        ({"cosine_decay_alpha": 2.0}, "cosine_decay_alpha"),
                        ({"stem_stride": 3}, "stem_stride")]:
    with pytest.raises(ValueError) as error:
      parser.ParserMethod(**kwargs)
    # One sentence (gin appends the configurable's name on later lines).
    assert match in str(error.value).splitlines()[0]


class ClassDecoder(tf.keras.Model):
  """Reads the class map back out of an :func:`_encode` image."""

  def call(self, images, training=None):
    del training
    ids = tf.cast(tf.round((images[..., 0] + 1.0) / 2.0 * 7.0), tf.int32)
    return tf.one_hot(ids, 8) * 10.0


class AllSkin(tf.keras.Model):

  def call(self, images, training=None):
    del training
    return tf.one_hot(tf.ones(tf.shape(images)[:3], tf.int32), 8) * 10.0


def test_evaluate_parser_per_render_style(pattern):
  dataset = data.analysis_dataset(8, path=pattern, image_size=32,
                                  shuffle=False)
  encoded = dataset.map(lambda b: dict(b, image=_encode(b["parse"])))
  perfect = parser.evaluate_parser(ClassDecoder(), encoded, 3)
  assert perfect["classes"] == list(schema.PARSE_CLASSES)
  assert perfect["all"]["mean_iou"] == 1.0
  assert perfect["all"]["pixel_accuracy"] == 1.0
  assert perfect["all"]["count"] == 24
  assert (perfect["synthetic"]["count"] + perfect["pseudo_real"]["count"]
          == 24)
  truth = np.concatenate([b["parse"].numpy() for b in dataset.take(3)])
  style = np.concatenate([b["pseudo_real"].numpy()
                          for b in dataset.take(3)]) > 0.5
  skin = parser.evaluate_parser(AllSkin(), dataset, 3)
  per_class, mean = parser_lib.mean_iou(np.ones_like(truth), truth)
  assert skin["all"]["mean_iou"] == pytest.approx(mean)
  assert skin["all"]["per_class_iou"]["skin"] == pytest.approx(per_class[1])
  assert skin["all"]["per_class_iou"]["hair"] == 0.0
  _, mean_pseudo = parser_lib.mean_iou(np.ones_like(truth[style]),
                                       truth[style])
  assert skin["pseudo_real"]["mean_iou"] == pytest.approx(mean_pseudo)
  # A class in neither prediction nor truth is left out (None), not 0.
  if not (truth == 7).any():
    assert skin["all"]["per_class_iou"]["mouth"] is None


def test_weights_from_run_reproduce_the_network(run_dir, tmp_path, pattern):
  path = str(tmp_path / "parser.npz")
  meta = base.write_weights_from_run(run_dir, path, {"accuracy": "none"})
  assert meta["kind"] == "parser" and meta["step"] == 4
  method = restore.restore_run(run_dir)
  gin.clear_config()
  # The test gin's cosine schedule (3e-3 over 20 steps) came back with the
  # run's config: at step 4 it is at 3e-3 * (0.02 + 0.98 * 0.905).
  assert float(method.optimizer.learning_rate) == pytest.approx(2.72e-3,
                                                                rel=1e-2)
  assert method.class_weights == list(WEIGHTS)
  loaded = weights.load_network(path)
  assert loaded.weights_metadata["hair_channel"] == 2
  images = next(iter(data.analysis_dataset(4, path=pattern,
                                           image_size=32)))["image"]
  np.testing.assert_allclose(loaded(images).numpy(),
                             method.network(images, training=False).numpy(),
                             atol=1e-4)


def test_export_every_signature_runs(run_dir, tmp_path, pattern):
  version = from_run.export_run(run_dir, str(tmp_path / "export"))
  report = every_signature.run_from_metadata(version, tmp_path)
  assert report["meta"]["method"] == "parser"
  assert report["meta"]["hair_channel"] == 2
  assert set(report["ran"]) == {"parse", "serving_default", "metadata"}
  # The metadata's inputs are [B, H, W, 3] (named sizes): a 2 x 2 image.
  for name in ("parse", "serving_default"):
    assert report["ran"][name] == {"probabilities": [2, 2, 2, 8],
                                   "classes": [2, 2, 2]}
    assert report["dtypes"][name] == {"probabilities": "float32",
                                      "classes": "int32"}
  method = restore.restore_run(run_dir)
  gin.clear_config()
  loaded = tf.saved_model.load(version)
  images = next(iter(data.analysis_dataset(2, path=pattern,
                                           image_size=32)))["image"]
  served = loaded.signatures["parse"](images=images)
  expected = method.network.probabilities(images, training=False).numpy()
  np.testing.assert_allclose(served["probabilities"].numpy(), expected,
                             atol=1e-4)
  np.testing.assert_array_equal(served["classes"].numpy(),
                                expected.argmax(-1))
  with pytest.raises(tf.errors.InvalidArgumentError, match="images must be"):
    loaded.signatures["parse"](images=images[..., :2])
