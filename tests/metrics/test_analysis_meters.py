"""Continuous pose and expression meters: known answers from fake meters,
landmark quantities on hand-made points, reframing, weights files, and the
meters inside evaluate_control."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.analysis import landmarks as landmarks_lib
from tfface.analysis import reconstruction as rec
from tfface.analysis import weights
from tfface.metrics import analysis_meters as am
from tfface.metrics import controllability
from tests.metrics import faces as test_faces

SIZE = 32
TINY_LANDMARKS = dict(input_size=32, widths=[4, 8, 8], stem_stride=2,
                      heatmap_stride=4, head_width=8)
TINY_RECONSTRUCTION = dict(input_size=32, widths=[8, 16], pooled_size=2,
                           hidden=16, model_resolution=1)


# ------------------------------------------------------------------- pose


def _encoded(pitch_deg, yaw_deg, count=5):
  """Constant images whose channels 0/1 carry pitch/yaw radians / 2."""
  images = np.zeros([count, 4, 4, 3], np.float32)
  images[..., 0] = np.radians(pitch_deg)[..., None, None] / 2
  images[..., 1] = np.radians(yaw_deg)[..., None, None] / 2
  return images


def _reading_meter(images):
  """A pose meter reading the angles back from :func:`_encoded` images."""
  images = np.asarray(images)
  return np.stack([2 * images[:, 0, 0, 0], 2 * images[:, 0, 0, 1],
                   np.zeros(len(images))], 1)


def test_pose_sweep_recovers_a_known_slope_and_offset():
  requested = [-30.0, -10.0, 0.0, 20.0, 30.0]
  rng = np.random.default_rng(0)
  generated, true = [], []
  for angle in requested:
    # G turns the head to 0.8 · requested + 3°, plus zero-mean face noise.
    noise = rng.normal(0, 1.5, 5)
    noise -= noise.mean()
    generated.append(_encoded(np.zeros(5), 0.8 * angle + 3.0 + noise))
    true.append(_encoded(np.zeros(5), np.full(5, angle)))
  result = am.measure_pose_sweep(am.Meters(pose=_reading_meter), "yaw",
                                 requested, generated, true)
  gen = result["generated"]
  assert gen["slope"] == pytest.approx(0.8, abs=1e-4)
  assert gen["offset_degrees"] == pytest.approx(3.0, abs=1e-3)
  np.testing.assert_allclose(gen["mean_achieved_degrees"],
                             0.8 * np.array(requested) + 3.0, atol=1e-3)
  expected_error = np.mean([np.abs(g[:, 0, 0, 1] * 2 - np.radians(a))
                            for g, a in zip(generated, requested)])
  assert gen["mean_absolute_error_degrees"] == pytest.approx(
      np.degrees(expected_error), rel=1e-4)
  # The meter on the true renders: exact here.
  assert result["true_render"]["slope"] == pytest.approx(1.0, abs=1e-5)
  assert result["true_render"]["mean_absolute_error_degrees"] == (
      pytest.approx(0.0, abs=1e-3))
  assert result["requested_degrees"] == requested


def test_pose_sweep_reads_the_requested_axis():
  requested = [-10.0, 10.0]
  # Yaw follows the request, pitch stays 0: the pitch figures see slope 0.
  generated = [_encoded(np.zeros(3), np.full(3, a), 3) for a in requested]
  result = am.measure_pose_sweep(am.Meters(pose=_reading_meter), "pitch",
                                 requested, generated, generated)
  assert result["generated"]["slope"] == pytest.approx(0.0, abs=1e-6)
  assert result["generated"]["mean_absolute_error_degrees"] == (
      pytest.approx(10.0, abs=1e-3))
  assert am.measure_pose_sweep(am.Meters(), "yaw", requested, generated,
                               generated) is None
  with pytest.raises(ValueError, match="pose axis must be one of"):
    am.measure_pose_sweep(am.Meters(pose=_reading_meter), "roll", requested,
                          generated, generated)


def test_fit_line_and_pose_figures_check_their_input():
  assert am.fit_line([1, 2, 3], [5, 7, 9]) == pytest.approx((2.0, 3.0))
  assert am.fit_line([2, 2], [1, 3]) == (0.0, 2.0)
  with pytest.raises(ValueError, match="same non-zero size"):
    am.fit_line([1, 2], [1, 2, 3])
  with pytest.raises(ValueError, match=r"must be \[2, N\]"):
    am.pose_figures([0, 1], np.zeros([3, 4]))


# ----------------------------------------------------- landmark quantities


def _face_points(scale=1.0, shift=(0.0, 0.0), lip_gap=4.0, eye_gap=4.0,
                 mouth=20.0):
  """68 hand-placed points: IOD 40, the lips/lids/corners as asked."""
  p = np.zeros([68, 2])
  p[36], p[45] = (10, 20), (50, 20)  # outer eye corners: IOD 40
  for upper, lower in am.EYELID_PAIRS:
    p[upper] = (20 + upper, 20 - eye_gap / 2)
    p[lower] = (20 + upper, 20 + eye_gap / 2)
  for upper, lower in am.INNER_LIP_PAIRS:
    p[upper] = (upper - 30, 40 - lip_gap / 2)
    p[lower] = (upper - 30, 40 + lip_gap / 2)
  p[48], p[54] = (30 - mouth / 2, 40), (30 + mouth / 2, 40)
  return (p * scale + np.asarray(shift))[None]


def test_landmark_quantities_on_hand_made_points():
  points = _face_points(lip_gap=4.0, eye_gap=2.0, mouth=20.0)
  assert am.inter_ocular_distance(points)[0] == pytest.approx(40.0)
  assert am.inner_lip_opening(points)[0] == pytest.approx(0.1)
  assert am.eyelid_opening(points)[0] == pytest.approx(0.05)
  assert am.mouth_width(points)[0] == pytest.approx(0.5)
  closed = _face_points(lip_gap=0.0, eye_gap=0.0, mouth=24.0)
  assert am.inner_lip_opening(closed)[0] == pytest.approx(0.0)
  assert am.eyelid_opening(closed)[0] == pytest.approx(0.0)
  assert am.mouth_width(closed)[0] == pytest.approx(0.6)


def test_landmark_quantities_do_not_depend_on_scale_or_position():
  both = np.concatenate([_face_points(), _face_points(2.5, (13.0, -4.0))])
  for fn in (am.inner_lip_opening, am.eyelid_opening, am.mouth_width):
    values = fn(both)
    assert values[0] == pytest.approx(values[1]), fn.__name__
  with pytest.raises(ValueError, match=r"landmarks must be \[B, 68, 2\]"):
    am.inner_lip_opening(np.zeros([1, 5, 2]))


def test_measure_sweep_gives_the_landmark_gain():
  def landmark_meter(images):
    # Lip gap in pixels = the image's first value (IOD 40).
    return np.concatenate([_face_points(lip_gap=float(v))
                           for v in np.asarray(images)[:, 0, 0, 0]])

  def image(gap):
    return np.full([2, 4, 4, 3], gap, np.float32)

  meters = am.Meters(landmarks=landmark_meter)
  out = am.measure_sweep("jawOpen", meters, [image(0.0), image(3.0)],
                         [image(0.0), image(8.0)])
  assert out["generated_change"] == pytest.approx(3.0 / 40)
  assert out["true_change"] == pytest.approx(8.0 / 40)
  assert out["gain"] == pytest.approx(3.0 / 8.0)
  assert out["true_low"] == pytest.approx(0.0)
  same = am.measure_sweep("jawOpen", meters, [image(2.0), image(2.0)],
                          [image(2.0), image(2.0)])
  assert same["gain"] is None
  assert am.measure_sweep("jawOpen", am.Meters(), [image(0)] * 2,
                          [image(0)] * 2) is None
  with pytest.raises(ValueError, match="no landmark quantity for control"):
    am.sweep_quantity("hair", meters, image(0))


# ---------------------------------------------------- reframing, the nets


def _blob(size, cx, cy):
  image = -np.ones([1, size, size, 3], np.float32)
  image[0, cy - 2:cy + 2, cx - 2:cx + 2] = 1.0
  return image


def _centroid_net(images):
  """A 'landmark net': every point at the centroid of the bright pixels."""
  weight = tf.nn.relu(tf.convert_to_tensor(images)[..., 0])
  size = images.shape[1]
  grid = tf.range(size, dtype=tf.float32) + 0.5
  total = tf.reduce_sum(weight, [1, 2])
  x = tf.reduce_sum(weight * grid[None, None, :], [1, 2]) / total
  y = tf.reduce_sum(weight * grid[None, :, None], [1, 2]) / total
  return tf.tile(tf.stack([x, y], -1)[:, None], [1, 68, 1])


def test_reframing_shrinks_about_the_centre_and_points_map_back():
  image = _blob(32, 24, 10)  # blob centre (24, 10)
  framed, a, o = am.reframe(image, 0.75)
  assert framed.shape == image.shape
  seen = _centroid_net(framed).numpy()[0, 0]
  # Shrunk towards the centre (16, 16) by 0.75.
  np.testing.assert_allclose(seen, [16 + 0.75 * 8, 16 - 0.75 * 6], atol=0.3)
  np.testing.assert_allclose((seen - o) / a, [24, 10], atol=0.4)
  meters = am.meters_from_networks(landmarks=_centroid_net, image_zoom=1.0,
                                   net_zoom=0.75)
  np.testing.assert_allclose(meters.landmarks(image)[0, 0], [24, 10],
                             atol=0.4)
  inner = _blob(32, 20, 12)  # inside the centre crop of a 2x enlargement
  enlarged, a, o = am.reframe(inner, 2.0)
  np.testing.assert_allclose((_centroid_net(enlarged).numpy()[0, 0] - o) / a,
                             [20, 12], atol=0.4)
  same, a, o = am.reframe(image, 1.0)
  assert (a, o) == (1.0, 0.0) and np.array_equal(same, image)


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
  directory = tmp_path_factory.mktemp("meters")
  tf.keras.utils.set_random_seed(3)
  paths = {}
  for kind, cls, config in (
      ("landmarks", landmarks_lib.LandmarkNet, TINY_LANDMARKS),
      ("reconstruction", rec.ReconstructionNet, TINY_RECONSTRUCTION)):
    net = cls(**config)
    net(tf.zeros([1, 32, 32, 3]))
    paths[kind] = str(directory / f"{kind}.npz")
    weights.save_network(paths[kind], net, config, {"what": "test stand-in"})
  return paths


def test_load_meters_skips_a_missing_file_with_a_line(tiny_files, tmp_path):
  lines = []
  missing = str(tmp_path / "landmarks.npz")
  meters = am.load_meters(tiny_files["reconstruction"], missing,
                          log=lines.append)
  assert meters.pose is not None
  assert meters.landmarks is None
  assert len(lines) == 1 and missing in lines[0]
  assert "make pretrained" in lines[0] and meters.skipped == lines
  assert meters.sources == {"reconstruction": tiny_files["reconstruction"]}
  images = np.random.default_rng(0).uniform(-1, 1, [3, 32, 32, 3])
  assert meters.pose(images).shape == (3, 3)
  with pytest.raises(weights.WeightsError, match="expected a 'landmarks'"):
    am.load_meters(None, tiny_files["reconstruction"], log=lines.append)
  none = am.load_meters("", None, log=lines.append)
  assert not none.any() and len(lines) == 1


@pytest.fixture(scope="module")
def faces():
  return test_faces.rendered_faces(SIZE, 2)


def _eye_image(iris_x, size=16):
  """A bright image with one dark iris column per eye of `_eye_points`."""
  image = np.ones([1, size, size, 3], np.float32)
  for left in (1, 9):
    image[0, 6:9, left + iris_x] = -1.0
  return image


def _eye_points():
  """Eyes from x 1 to 7 and 9 to 15 (6 px wide, centres 4 and 12), y 6-8."""
  p = np.zeros([68, 2])
  for eye, left in zip(am.EYES, (1.0, 9.0)):
    for k, i in enumerate(eye):
      p[i] = (left + (0, 2, 4, 6, 4, 2)[k], (7, 6, 6, 7, 8, 8)[k])
  return p[None]


def test_iris_position_by_hand():
  points = _eye_points()
  # Dark column 3 of eye 1..7 has centre 4.5: +0.5 px of the centre 4 in a
  # 6 px eye, the same in the other eye.
  assert am.iris_position(_eye_image(3), points)[0] == pytest.approx(0.5 / 6)
  assert am.iris_position(_eye_image(1), points)[0] == pytest.approx(-1.5 / 6)
  flat = np.zeros([1, 16, 16, 3], np.float32)
  assert am.iris_position(flat, points)[0] == 0.0
  with pytest.raises(ValueError, match="images must be"):
    am.iris_position(flat[0], points)


def test_iris_position_follows_the_true_gaze():
  """On the renderer's own images and exact landmarks the iris meter moves
  with the eyeball yaw, both ways, as the sweeps of evaluate_control ask."""
  truth, theta, _ = test_faces.rendered_faces(64, 2)
  theta = dict(theta, pose=np.zeros_like(theta["pose"]),
               expression=np.zeros_like(theta["expression"]))
  readings = []
  for yaw in (-25.0, 0.0, 25.0):
    gaze = np.zeros_like(theta["gaze"])
    gaze[:, 1] = np.radians(yaw)
    out = truth(dict(theta, gaze=gaze))
    readings.append(am.iris_position(out["image"], out["landmarks"]))
  low, mid, high = readings
  assert (low < mid).all() and (mid < high).all() or (
      (low > mid).all() and (mid > high).all()), readings
  assert (np.abs(high - low) > 0.05).all(), readings


def test_evaluate_control_with_meters_the_renderer_matches_itself(
    faces, tiny_files):
  truth, theta, images = faces
  meters = am.load_meters(tiny_files["reconstruction"],
                          tiny_files["landmarks"])

  def generate(z, rotation):
    return truth(dict(z, pose=rotation))["image"]

  result = controllability.evaluate_control(
      lambda t: t, generate, theta, images, truth, factor_names=["albedo"],
      yaw_degrees=(-20, 0, 20), pitch_degrees=(-10, 10), meters=meters)
  measured = result["pose"]["measured"]
  for axis in ("yaw", "pitch"):
    assert measured[axis]["generated"] == measured[axis]["true_render"]
  assert measured["yaw"]["requested_degrees"] == [-20.0, 0.0, 20.0]
  for name in controllability.CONTROL_SWEEPS:
    m = result["sweeps"][name]["measured"]
    assert m["generated_change"] == pytest.approx(m["true_change"]), name
    assert m["gain"] is None or m["gain"] == pytest.approx(1.0), name
  assert result["meters"]["sources"] == tiny_files
  # The pixel figures are still there.
  assert result["pose"]["yaw_error_degrees_mean"] == 0.0
  assert result["sweeps"]["jawOpen"]["gain"] == pytest.approx(1.0)


def test_evaluate_control_with_a_frozen_generator_measures_no_turn(faces):
  truth, theta, images = faces
  frontal = truth(dict(theta, pose=np.zeros_like(theta["pose"])))["image"]

  def generate(z, rotation):
    return frontal[:len(rotation)]

  # A pose meter that reads the yaw off the image's left-right asymmetry
  # is not needed: a fake that knows each true render's yaw suffices.
  table = {}
  for yaw in (-20.0, 20.0):
    posed = dict(theta, pose=np.tile([[0.0, np.radians(yaw), 0.0]], [2, 1]))
    table[yaw] = truth(posed)["image"]

  def pose_meter(batch):
    batch = np.asarray(batch)
    out = np.zeros([len(batch), 3])
    for yaw, rendered in table.items():
      hit = np.abs(batch - rendered).max(axis=(1, 2, 3)) < 1e-6
      out[hit, 1] = np.radians(yaw)
    return out

  result = controllability.evaluate_control(
      lambda t: t, generate, theta, images, truth, factor_names=["albedo"],
      yaw_degrees=(-20, 20), pitch_degrees=(0,),
      meters=am.Meters(pose=pose_meter))
  yaw = result["pose"]["measured"]["yaw"]
  assert yaw["true_render"]["slope"] == pytest.approx(1.0)
  assert yaw["generated"]["slope"] == pytest.approx(0.0)
  assert yaw["generated"]["mean_absolute_error_degrees"] == pytest.approx(
      20.0)
  # No landmark meter: no measured sweep figures.
  assert all("measured" not in s for s in result["sweeps"].values())
