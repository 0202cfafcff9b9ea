"""The synthetic writer's ``labeled`` mode: the face-analysis training set."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.data import datasets
from tfface.data import schema
from tfface.data import synthetic


@pytest.fixture(scope="module")
def labeled(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp("labeled"))
  synthetic.write_synthetic_dataset(
      directory, 24, 32, mode=synthetic.LABELED, views_per_identity=3,
      pseudo_real_fraction=0.5, max_yaw_degrees=45, max_roll_degrees=10,
      batch_size=12, show_progress=False)
  ds = datasets.synthetic_dataset(f"{directory}/labeled-*.tfrecord", 32,
                                  batch_size=24, shuffle=False, repeat=False,
                                  analysis_labels=True)
  return directory, next(iter(ds))


def test_identity_runs_share_shape_and_albedo_only(labeled):
  _, batch = labeled
  ids = batch["identity"].numpy()
  np.testing.assert_array_equal(ids, np.arange(24) // 3)
  factors = {k: v.numpy() for k, v in batch["factors"].items()}
  for name in ("identity", "albedo"):
    same = factors[name].reshape(8, 3, -1)
    np.testing.assert_array_equal(same, np.repeat(same[:, :1], 3, 1))
    assert np.abs(same[0, 0] - same[1, 0]).max() > 0.1
  for name in ("pose", "expression", "hair_color", "sh"):
    views = factors[name].reshape(8, 3, -1)
    assert np.abs(views[:, 0] - views[:, 1]).max() > 1e-3, name


def test_both_styles_with_their_camera(labeled):
  _, batch = labeled
  style = batch["pseudo_real"].numpy()
  assert 0 < style.sum() < 24
  translation = batch["factors"]["translation"].numpy()
  np.testing.assert_array_equal(translation[style == 0], 0.0)
  assert np.abs(translation[style == 1]).max() > 1e-3


def test_parse_map_classes_follow_the_render(labeled):
  _, batch = labeled
  parse = batch["parse"].numpy()
  assert parse.shape == (24, 32, 32) and parse.max() < len(
      schema.PARSE_CLASSES)
  ids = {n: i for i, n in enumerate(schema.PARSE_CLASSES)}
  counts = np.bincount(parse.ravel(), minlength=len(schema.PARSE_CLASSES))
  for name in ("background", "skin", "hair", "eyes", "lips"):
    assert counts[ids[name]] > 0, name
  # Landmarks of the eyes and lips land on (or next to) their classes.
  landmarks = batch["landmarks"].numpy()
  def near(points, cls):
    hits = []
    for j in range(24):
      for x, y in points[j]:
        r, c = int(y), int(x)
        window = parse[j, max(r - 1, 0):r + 2, max(c - 1, 0):c + 2]
        hits.append(np.any(window == cls))
    return np.mean(hits)
  assert near(landmarks[:, 36:48], ids["eyes"]) > 0.7
  assert near(landmarks[:, 48:60], ids["lips"]) > 0.7


def test_parse_classes_painting_order():
  mask = tf.ones([1, 1, 4, 1])
  regions = {"hair": tf.constant([[[[1.], [1.], [0.], [0.]]]]),
             "eyes": tf.constant([[[[0.], [0.9], [0.], [0.]]]]),
             "lips": tf.constant([[[[0.], [0.], [0.4], [0.]]]])}
  mask = tf.constant([[[[1.], [1.], [1.], [0.]]]])
  got = synthetic.parse_classes(mask, regions).numpy().ravel()
  ids = {n: i for i, n in enumerate(schema.PARSE_CLASSES)}
  assert list(got) == [ids["hair"], ids["eyes"], ids["skin"],
                       ids["background"]]


def test_labels_go_together_and_are_checked():
  image = np.zeros((4, 4, 3), np.uint8)
  kwargs = dict(factors={"pose": np.zeros(3, np.float32)},
                iris_mask=np.zeros((4, 4, 1), np.uint8),
                landmarks=np.zeros((68, 2), np.float32))
  with pytest.raises(ValueError, match="go together"):
    schema.make_example(image, schema.SYNTHETIC, identity=3, **kwargs)
  with pytest.raises(ValueError, match="parse must be"):
    schema.make_example(image, schema.SYNTHETIC,
                        parse=np.zeros((4, 4), np.uint8), identity=0,
                        style="synthetic", **kwargs)
  with pytest.raises(ValueError, match="views_per_identity"):
    synthetic.write_synthetic_dataset("/nonexistent", 4, 16,
                                      mode=synthetic.LABELED,
                                      views_per_identity=0)


def test_plain_synthetic_shards_have_no_analysis_labels(tmp_path):
  synthetic.write_synthetic_dataset(str(tmp_path), 4, 16, batch_size=4,
                                    show_progress=False)
  ds = datasets.synthetic_dataset(f"{tmp_path}/synthetic-*.tfrecord", 16,
                                  batch_size=4, shuffle=False, repeat=False,
                                  analysis_labels=True)
  with pytest.raises(tf.errors.InvalidArgumentError, match="parse"):
    next(iter(ds))
