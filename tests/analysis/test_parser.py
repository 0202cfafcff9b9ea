"""The face parser network and its IoU."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.analysis import parser
from tfface.analysis import weights
from tfface.data import schema

CONFIG = dict(input_size=32, widths=[4, 8, 8], stem_stride=2,
              decoder_width=8, full_resolution_width=4)


def test_classes_follow_the_schema_with_hair_at_channel_2():
  assert parser.NUM_CLASSES == len(schema.PARSE_CLASSES) == 8
  assert parser.HAIR_CLASS == 2 == schema.PARSE_CLASSES.index("hair")


@pytest.mark.parametrize("height,width", [(32, 32), (20, 44), (64, 64)])
def test_logits_and_probabilities_at_any_input_size(height, width):
  net = parser.FaceParser(**CONFIG)
  images = tf.random.uniform([2, height, width, 3], -1.0, 1.0, seed=4)
  logits = net(images)
  assert logits.shape == (2, height, width, 8) and logits.dtype == tf.float32
  probabilities = net.probabilities(images).numpy()
  assert probabilities.min() >= 0.0 and probabilities.max() <= 1.0
  np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(probabilities,
                             tf.nn.softmax(logits).numpy(), atol=1e-6)


def test_stem_stride_1_and_no_full_resolution_step():
  for kwargs in ({"stem_stride": 1}, {"full_resolution_width": 0}):
    net = parser.FaceParser(**dict(CONFIG, **kwargs))
    assert net(tf.zeros([1, 32, 32, 3])).shape == (1, 32, 32, 8)
    assert (net.full_resolution is None) == (
        kwargs.get("stem_stride", 2) == 1 or "full_resolution_width" in kwargs)


def test_bad_settings_are_one_line_value_errors():
  for kwargs, match in [({"stem_stride": 3}, "stem_stride"),
                        ({"input_size": 36}, "multiple of 8"),
                        ({"num_classes": 1}, "num_classes")]:
    with pytest.raises(ValueError, match=match) as error:
      parser.FaceParser(**dict(CONFIG, **kwargs))
    assert "\n" not in str(error.value)


def test_weights_file_reproduces_outputs(tmp_path):
  net = parser.FaceParser(**CONFIG)
  images = tf.random.uniform([2, 32, 32, 3], -1.0, 1.0, seed=5)
  net(images, training=True)   # BatchNorm statistics off their initial values
  expected = net(images).numpy()
  path = str(tmp_path / "parser.npz")
  weights.save_network(path, net, CONFIG)
  loaded = weights.load_network(path)
  assert isinstance(loaded, parser.FaceParser)
  assert weights.read_header(path)["kind"] == "parser"
  np.testing.assert_allclose(loaded(images).numpy(), expected, atol=1e-5)


def test_mean_iou_per_class_ignores_classes_absent_from_both():
  true = np.array([[0, 0, 1, 1], [0, 0, 1, 2]])
  pred = np.array([[0, 1, 1, 1], [0, 0, 1, 1]])
  per_class, mean = parser.mean_iou(pred, true, num_classes=4)
  # class 0: 3 / 4; class 1: 3 / 5; class 2: 0 / 1; class 3 absent.
  np.testing.assert_allclose(per_class[:3], [0.75, 0.6, 0.0])
  assert np.isnan(per_class[3])
  assert mean == pytest.approx((0.75 + 0.6 + 0.0) / 3)
  per_class, mean = parser.mean_iou(true, true, num_classes=4)
  np.testing.assert_allclose(per_class[:3], 1.0)
  assert mean == 1.0
  # Counts summed over batches give the pooled IoU.
  a = parser.iou_counts(pred[:1], true[:1], 4)
  b = parser.iou_counts(pred[1:], true[1:], 4)
  pooled, _ = parser.iou_from_counts(a[0] + b[0], a[1] + b[1])
  np.testing.assert_allclose(pooled[:3], [0.75, 0.6, 0.0])
  with pytest.raises(ValueError, match="one shape"):
    parser.mean_iou(pred[:, :2], true, 4)
