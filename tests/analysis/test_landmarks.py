"""The landmark detector network, its NME and the overlay pictures."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.analysis import landmarks
from tfface.analysis import overlay
from tfface.analysis import weights
from tfface.data import schema


def _tiny_net(**kwargs):
  args = dict(input_size=32, widths=(4, 8, 8), stem_stride=2,
              heatmap_stride=4, head_width=8)
  args.update(kwargs)
  return landmarks.LandmarkNet(**args)


def test_soft_argmax_reads_pixel_centres_of_the_peak_cell():
  logits = np.full([1, 8, 8, 3], -50.0, np.float32)
  logits[0, 2, 5, 0] = 50.0    # row 2, column 5
  logits[0, 7, 0, 1] = 50.0    # bottom-left corner cell
  logits[0, :, :, 2] = 0.0     # uniform: the grid centre
  points = landmarks.soft_argmax(tf.constant(logits), 4.0).numpy()
  np.testing.assert_allclose(points[0], [[22.0, 10.0], [2.0, 30.0],
                                         [16.0, 16.0]], atol=1e-4)


def test_soft_argmax_of_gaussian_targets_recovers_sub_cell_points():
  # Away from the border (a Gaussian cut by the grid edge has a biased mean).
  points = tf.constant([[[12.3, 17.8], [20.0, 14.1]]])
  maps = landmarks.gaussian_heatmaps(points, 8, 4.0, sigma=1.0)
  assert maps.shape == (1, 8, 8, 2)
  np.testing.assert_allclose(tf.reduce_sum(maps, [1, 2]).numpy(), 1.0,
                             rtol=1e-5)
  back = landmarks.soft_argmax(tf.math.log(maps + 1e-30), 4.0).numpy()
  np.testing.assert_allclose(back, points.numpy(), atol=0.05)


def test_net_shapes_and_heatmaps():
  net = _tiny_net()
  images = tf.random.uniform([3, 32, 32, 3], -1.0, 1.0, seed=1)
  points, heatmaps = net(images, return_heatmaps=True)
  assert points.shape == (3, 68, 2) and points.dtype == tf.float32
  assert heatmaps.shape == (3, 8, 8, 68)
  # A soft-argmax stays inside the border cells' centres.
  assert np.all(points.numpy() >= 2.0) and np.all(points.numpy() <= 30.0)
  np.testing.assert_allclose(
      net(images).numpy(),
      landmarks.soft_argmax(heatmaps, 4.0).numpy(), atol=1e-4)


@pytest.mark.parametrize("height,width", [(32, 32), (48, 80), (128, 128)])
def test_points_are_in_the_pixel_frame_of_any_input_size(height, width):
  """Uniform heatmaps put every point at the image centre, whatever its size:
  the net scales its input_size frame back to the caller's."""
  net = _tiny_net()
  net(tf.zeros([1, 32, 32, 3]))
  net.heatmap.kernel.assign(tf.zeros_like(net.heatmap.kernel))
  net.heatmap.bias.assign(tf.zeros_like(net.heatmap.bias))
  points = net(tf.random.uniform([2, height, width, 3], -1.0, 1.0)).numpy()
  np.testing.assert_allclose(points[..., 0], width / 2.0, atol=1e-3)
  np.testing.assert_allclose(points[..., 1], height / 2.0, atol=1e-3)


def test_bigger_input_gives_proportionally_bigger_coordinates():
  net = _tiny_net()
  images = tf.random.uniform([2, 32, 32, 3], -1.0, 1.0, seed=2)
  small = net(images).numpy()
  # The net resizes 64 -> 32 itself; a 64 px copy of the same face must give
  # twice the coordinates (up to the two resizes' small difference).
  big = net(tf.image.resize(images, [64, 64], method="bilinear")).numpy()
  assert np.abs(big / 2.0 - small).mean() < 0.5


def test_bad_settings_are_one_line_value_errors():
  for kwargs, match in [({"heatmap_stride": 3}, "heatmap_stride"),
                        ({"input_size": 30}, "multiple of 8"),
                        ({"widths": ()}, "widths")]:
    with pytest.raises(ValueError, match=match) as error:
      _tiny_net(**kwargs)
    assert "\n" not in str(error.value)


def test_registered_and_weights_file_reproduces_outputs(tmp_path):
  net = _tiny_net()
  config = dict(input_size=32, widths=[4, 8, 8], stem_stride=2,
                heatmap_stride=4, head_width=8)
  images = tf.random.uniform([2, 40, 40, 3], -1.0, 1.0, seed=3)
  net(images)
  # Move BatchNorm statistics off their initial values.
  net(images, training=True)
  expected = net(images).numpy()
  path = str(tmp_path / "landmarks.npz")
  weights.save_network(path, net, config, {"note": "test"})
  loaded = weights.load_network(path)
  assert isinstance(loaded, landmarks.LandmarkNet)
  assert weights.read_header(path)["kind"] == "landmarks"
  np.testing.assert_allclose(loaded(images).numpy(), expected, atol=1e-5)


def test_inter_ocular_nme():
  true = np.zeros([2, 68, 2])
  true[:, 36] = [10.0, 20.0]
  true[:, 45] = [30.0, 20.0]     # 20 px between the outer eye corners
  pred = true.copy()
  pred[0, :, 0] += 1.0           # every point 1 px off: NME 1/20
  pred[1, :34, 1] += 4.0         # half the points 4 px off: NME 2/20
  np.testing.assert_allclose(landmarks.inter_ocular_nme(pred, true),
                             [0.05, 0.1])
  with pytest.raises(ValueError, match="one shape"):
    landmarks.inter_ocular_nme(pred[:, :5], true)


def test_draw_overlays_dots_and_parse_colours():
  images = np.full([2, 16, 16, 3], -1.0, np.float32)   # black
  classes = np.zeros([2, 16, 16], np.int32)
  hair = schema.PARSE_CLASSES.index("hair")
  classes[:, :4] = hair
  points = np.zeros([2, 68, 2], np.float32)
  points[:] = [8.5, 12.5]                               # pixel (12, 8)
  points[:, 40] = [1.5, 14.5]                           # an eye point
  pictures = overlay.draw_overlays(images, points, classes, scale=2,
                                   alpha=0.5, dot_radius=0)
  assert pictures.shape == (2, 32, 32, 3) and pictures.dtype == np.uint8
  # Hair rows blend the hair colour at half strength; background untouched.
  expected_hair = np.round(overlay.PARSE_PALETTE[hair] * 0.5)
  np.testing.assert_array_equal(pictures[0, 0, 20], expected_hair)
  np.testing.assert_array_equal(pictures[0, 20, 20], [0, 0, 0])
  # Dots at the scaled pixels, coloured by iBUG group (mouth for 67, eyes 40).
  np.testing.assert_array_equal(pictures[1, 25, 17],
                                overlay.LANDMARK_COLOURS[4])
  np.testing.assert_array_equal(pictures[1, 29, 3],
                                overlay.LANDMARK_COLOURS[3])
  plain = overlay.draw_overlays(images)
  np.testing.assert_array_equal(plain, np.zeros([2, 16, 16, 3], np.uint8))
  with pytest.raises(ValueError, match="classes must be"):
    overlay.draw_overlays(images, classes=classes[:, :8])
