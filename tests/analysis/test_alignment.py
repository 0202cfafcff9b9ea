"""tfface.analysis.alignment: five points, similarity fits, the crop presets on
rendered faces (known landmarks), the folder job, and MTCNN on a render."""

import logging
import os
import sys

import numpy as np
import pytest

from tfface.analysis import alignment
from tfface.data import synthetic
from tfface.rendering import face_renderer

SIZE = 128
ZOOM = 0.75


def _rotation(degrees, scale=1.0, shift=(0.0, 0.0)):
  theta = np.radians(degrees)
  c, s = np.cos(theta) * scale, np.sin(theta) * scale
  return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def _placement(degrees, scale, centre):
  """Turns and scales a render about its centre, which goes to ``centre``."""
  matrix = _rotation(degrees, scale)
  matrix[:, 2] = np.asarray(centre) - matrix[:, :2] @ [SIZE / 2, SIZE / 2]
  return matrix


def _to_uint8(image):
  return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def renders():
  """Four faces at 128 px in the synthetic framing: the neutral face, then
  three random identities. ``(images [4, S, S, 3] uint8, landmarks [4, 68, 2],
  model)``."""
  render = synthetic._cached_renderer(  # pylint: disable=protected-access
      (SIZE, SIZE), 4, "tf", ZOOM, ())
  rows = synthetic.preview_factors(render.model, 4, seed=0)
  neutral = rows[synthetic.PREVIEW_ROWS.index("jawOpen")][0]
  faces = [neutral] + rows[synthetic.PREVIEW_ROWS.index("identity")][1:4]
  backgrounds = np.stack([np.broadcast_to(f["background"], (SIZE, SIZE, 3))
                          for f in faces])
  out = render(faces, np.zeros([4, 3], np.float32), backgrounds)
  return _to_uint8((out["image"] + 1.0) * 127.5), out["landmarks"], render


def _photo(image, landmarks, matrix, size=220):
  """``image`` moved by ``matrix`` into a bigger 'photo' and its landmarks."""
  photo = _to_uint8(alignment.warp_image(image, matrix, size, "edge"))
  return photo, alignment.apply_transform(matrix, landmarks)


# -----------------------------------------------------------------------------
# Points and transforms.


def test_similarity_estimate_recovers_a_known_transform():
  rng = np.random.default_rng(0)
  source = rng.uniform(0, 100, [5, 2])
  truth = _rotation(-37.0, 1.7, (12.0, -5.0))
  target = alignment.apply_transform(truth, source)
  np.testing.assert_allclose(alignment.estimate_similarity(source, target),
                             truth, atol=1e-9)
  # With noise: still close, and the least-squares optimum.
  noisy = target + rng.normal(0, 0.5, target.shape)
  fit = alignment.estimate_similarity(source, noisy)
  np.testing.assert_allclose(fit, truth, atol=0.05 * 1.7 + 1.0)
  residual = np.sum((alignment.apply_transform(fit, source) - noisy) ** 2)
  assert residual <= np.sum((target - noisy) ** 2) + 1e-9
  # Never a reflection, even for mirrored points.
  mirrored = target * [-1.0, 1.0]
  fit = alignment.estimate_similarity(source, mirrored)
  assert np.linalg.det(fit[:, :2]) > 0
  # Scale and shift only.
  scaled = source * 2.5 + [3.0, 4.0]
  np.testing.assert_allclose(
      alignment.estimate_similarity(source, scaled, rotation=False),
      [[2.5, 0, 3], [0, 2.5, 4]], atol=1e-9)
  np.testing.assert_allclose(alignment.invert_transform(truth)[:, :2],
                             np.linalg.inv(truth[:, :2]))
  with pytest.raises(ValueError, match="all at one place"):
    alignment.estimate_similarity(np.ones([5, 2]), target)
  with pytest.raises(ValueError, match="two \\[N, 2\\] point sets"):
    alignment.estimate_similarity(source, target[:4])


def test_five_points_from_68_landmarks():
  landmarks = np.zeros([68, 2])
  landmarks[36:42] = [[10, 20], [12, 18], [14, 18], [16, 20], [14, 22],
                      [12, 22]]
  landmarks[42:48] = landmarks[36:42] + [30, 2]
  landmarks[30] = [28, 40]
  landmarks[48] = [15, 55]
  landmarks[54] = [42, 56]
  five = alignment.five_points_from_landmarks68(landmarks)
  np.testing.assert_allclose(five, [[13, 20], [43, 22], [28, 40], [15, 55],
                                    [42, 56]])
  batch = alignment.five_points_from_landmarks68(np.stack([landmarks] * 3))
  assert batch.shape == (3, 5, 2)
  np.testing.assert_allclose(alignment.as_five_points(landmarks), five)
  with pytest.raises(ValueError, match=r"expected \[\.\.\., 68, 2\]"):
    alignment.five_points_from_landmarks68(np.zeros([5, 2]))
  with pytest.raises(ValueError, match="NaN"):
    alignment.as_five_points(np.full([5, 2], np.nan))


def test_warp_is_exact_for_shifts_and_averages_when_shrinking():
  rng = np.random.default_rng(1)
  image = rng.uniform(0, 255, [40, 40, 3])
  np.testing.assert_allclose(
      alignment.warp_image(image, _rotation(0, 1, (-3, -5)), 30),
      image[5:35, 3:33], atol=1e-4)
  # A half-pixel shift of a ramp is its linear interpolation.
  ramp = np.tile(np.arange(40.0)[None, :, None], [40, 1, 1])
  half = alignment.warp_image(ramp, _rotation(0, 1, (-0.5, 0)), 20)
  np.testing.assert_allclose(half[0, :3, 0], [0.5, 1.5, 2.5], atol=1e-4)
  # Shrinking 4x averages 4x4 blocks (no aliasing of noise).
  small = alignment.warp_image(image, _rotation(0, 0.25), 10)
  blocks = image.reshape(10, 4, 10, 4, 3).mean(axis=(1, 3))
  np.testing.assert_allclose(small, blocks, atol=1e-3)
  # Outside the photo: constant is black; the others are not.
  outside = _rotation(0, 1, (30, 30))
  black = alignment.warp_image(image, outside, 20, "constant")
  assert black[:20, :20].max() == 0
  for padding in ("reflect", "edge", "blur"):
    assert alignment.warp_image(image, outside, 20, padding)[:20, :20].min() > 0
  with pytest.raises(ValueError, match="padding must be one of"):
    alignment.warp_image(image, outside, 20, "wrap")


# -----------------------------------------------------------------------------
# Presets on rendered faces.


def test_confignet_template_is_where_the_renderer_puts_the_neutral_face(
    renders):
  _, landmarks, render = renders
  neutral = alignment.five_points_from_landmarks68(landmarks[0])
  preset = alignment.get_preset("confignet")
  np.testing.assert_allclose(neutral, preset.template(SIZE), atol=2e-3)
  # Recomputed from the face model with the dataset camera at zoom 1.
  renderer = face_renderer.FaceRenderer(
      render.model, SIZE, camera=synthetic.dataset_camera((SIZE, SIZE), 1.0))
  zoom1 = alignment.five_points_from_landmarks68(
      renderer.landmarks(renderer.default_parameters(1)).numpy()[0])
  np.testing.assert_allclose(zoom1 / SIZE, alignment.SYNTHETIC_TEMPLATE_ZOOM1,
                             atol=1e-5)
  np.testing.assert_allclose(
      alignment.confignet_preset(1.0).template(SIZE), zoom1, atol=2e-3)


def test_confignet_alignment_undoes_rotation_scale_and_shift(renders):
  images, landmarks, _ = renders
  preset = alignment.get_preset("confignet")
  template = preset.template(SIZE)
  moved = _placement(25.0, 1.3, (120.0, 100.0))
  for i in range(4):
    photo, photo_landmarks = _photo(images[i], landmarks[i], moved)
    aligned = alignment.align_image(photo, "confignet", SIZE,
                                    landmarks=photo_landmarks)
    assert aligned.image.shape == (SIZE, SIZE, 3)
    assert aligned.image.dtype == np.uint8
    # The five points land on the template (the neutral face exactly, other
    # identities within their shape differences).
    error = np.abs(aligned.aligned_points - template).max()
    assert error < (0.01 if i == 0 else 2.0), (i, error)
  # The neutral face's crop is the render itself (the face model's framing):
  # closer than the render moved by one pixel.
  photo, photo_landmarks = _photo(images[0], landmarks[0], moved)
  crop = alignment.align_image(photo, "confignet", SIZE,
                               landmarks=photo_landmarks).image.astype(float)
  inner = (slice(8, -8), slice(8, -8))
  error = np.abs(crop - images[0])[inner].mean()
  shifted = np.abs(np.roll(images[0], 1, axis=1).astype(float) -
                   images[0])[inner].mean()
  assert error < 0.6 * shifted, (error, shifted)


def test_ffhq_crop_follows_the_recipe_and_ignores_the_photo_framing(renders):
  images, landmarks, _ = renders
  size = 96
  direct = alignment.align_image(images[1], "ffhq", size,
                                 landmarks=landmarks[1])
  photo, photo_landmarks = _photo(images[1], landmarks[1],
                                  _placement(-30.0, 1.5, (100.0, 120.0)))
  moved = alignment.align_image(photo, "ffhq", size, landmarks=photo_landmarks)
  np.testing.assert_allclose(moved.aligned_points, direct.aligned_points,
                             atol=1e-6)
  # The same face (the crop reaches past the render, where the paddings of
  # the two sources differ: compare the middle).
  middle = (slice(size // 4, -size // 4), slice(size // 4, -size // 4))
  assert np.abs(moved.image.astype(float) - direct.image)[middle].mean() < 6.0
  # The recipe: eye_avg + 0.1 eye_to_mouth at the centre; the larger of
  # 2 |eye_to_eye| and 1.8 |eye_to_mouth| is half the crop; level eyes.
  left, right, _, mouth_left, mouth_right = moved.aligned_points
  eye_avg = (left + right) / 2
  eye_to_mouth = (mouth_left + mouth_right) / 2 - eye_avg
  np.testing.assert_allclose(eye_avg + 0.1 * eye_to_mouth, [size / 2] * 2,
                             atol=1e-6)
  half = max(2 * np.hypot(*(right - left)), 1.8 * np.hypot(*eye_to_mouth))
  assert half == pytest.approx(size / 2)
  assert abs(left[1] - right[1]) < 1.0  # a frontal face: level eyes
  assert alignment.get_preset("ffhq").padding == "blur"


def test_deep3d_crop_scales_and_shifts_to_its_template(renders):
  preset = alignment.get_preset("deep3d")
  template = preset.template(224)
  # Its own template face, scaled and shifted, lands on the template.
  points = template * 0.6 + [40.0, 17.0]
  np.testing.assert_allclose(
      alignment.apply_transform(preset.transform(points, 224), points),
      template, atol=1e-6)
  np.testing.assert_allclose(template[0], [80.23, 82.38], atol=0.01)
  # A render moved by scale and shift comes out the same; a rotation is kept
  # (Deep3DFaceRecon's network estimates the roll).
  images, landmarks, _ = renders
  direct = alignment.align_image(images[0], preset, 112, landmarks=landmarks[0])
  photo, photo_landmarks = _photo(images[0], landmarks[0],
                                  _placement(0.0, 1.4, (115.0, 105.0)))
  moved = alignment.align_image(photo, preset, 112, landmarks=photo_landmarks)
  np.testing.assert_allclose(moved.aligned_points, direct.aligned_points,
                             atol=1e-6)
  assert np.abs(moved.image.astype(float) - direct.image).mean() < 6.0
  rotated = alignment.align_image(
      images[0], preset, 112,
      landmarks=alignment.apply_transform(_rotation(20.0), landmarks[0]))
  left, right = rotated.aligned_points[:2]
  assert np.degrees(np.arctan2(*(right - left)[::-1])) == pytest.approx(
      20.0, abs=0.01)
  # DiscoFaceGAN: the same fit at 1.22 * 102 pixels per unit, in 256 px.
  disco = alignment.get_preset("discofacegan")
  np.testing.assert_allclose(disco.template(256) - 128,
                             (template - 112) * 1.22, atol=1e-6)


def test_presets_by_name_and_method():
  assert alignment.get_preset("confignet", zoom=1.0).template(100)[0] == \
      pytest.approx(alignment.SYNTHETIC_TEMPLATE_ZOOM1[0] * 100)
  assert alignment.preset_for_method("confignet").name == "confignet"
  assert alignment.preset_for_method("stylegan2", zoom=1.0).name == "ffhq"
  with pytest.raises(ValueError, match="unknown alignment preset 'square'; "
                     "expected one of ffhq, deep3d, discofacegan, confignet"):
    alignment.get_preset("square")
  with pytest.raises(ValueError, match="zoom applies to the confignet"):
    alignment.get_preset("ffhq", zoom=1.0)
  with pytest.raises(ValueError, match="crop size must be an integer >= 8"):
    alignment.align_image(np.zeros([32, 32, 3], np.uint8), "ffhq", 4,
                          landmarks=np.ones([5, 2]))


# -----------------------------------------------------------------------------
# Detection, the model-side rule and folders (detector stand-ins).


class _FakeDetector:
  """Returns the five points of the render whose pixels it is given."""

  def __init__(self, images, landmarks):
    self.faces = [(im, alignment.five_points_from_landmarks68(lm))
                  for im, lm in zip(images, landmarks)]
    self.calls = 0

  def __call__(self, image):
    self.calls += 1
    for face, points in self.faces:
      if face.shape == image.shape and np.array_equal(face, image):
        return alignment.Detection(np.array([0, 0, 1, 1.0]), 0.99, points)
    return None


def test_missing_detector_is_one_clear_line(monkeypatch):
  monkeypatch.setitem(sys.modules, "mtcnn", None)
  monkeypatch.setattr(alignment, "_DEFAULT_DETECTOR", [])
  with pytest.raises(ImportError, match=r"pip install 'tfface\[align\]'"):
    alignment.Detector()
  image = np.zeros([48, 48, 3], np.float32)
  with pytest.raises(alignment.MissingDetectorError):
    alignment.align_for_model(image, 32, "confignet", "yes", "face.png")
  from tfface import cli  # pylint: disable=g-import-not-at-top
  assert cli.is_expected(alignment.MissingDetectorError("x"))
  # Given landmarks need no detector.
  template = alignment.get_preset("confignet").template(48)
  alignment.align_image(image.astype(np.uint8), "confignet", 16,
                        landmarks=template)


def test_align_for_model_modes(renders, monkeypatch, caplog):
  images, landmarks, _ = renders
  as_float = images[0].astype(np.float32) / 127.5 - 1.0
  detector = _FakeDetector(images, landmarks)
  # Square at the model's resolution: taken as aligned.
  same = alignment.align_for_model(as_float, SIZE, "confignet", "auto",
                                   detector=detector)
  assert same is as_float or np.array_equal(same, as_float)
  assert detector.calls == 0
  aligned = alignment.align_for_model(as_float, 64, "confignet", "auto",
                                      detector=detector)
  assert aligned.shape == (64, 64, 3)
  assert -1 <= aligned.min() <= aligned.max() <= 1
  blank = np.zeros([100, 80, 3], np.float32)
  with caplog.at_level(logging.WARNING):
    kept = alignment.align_for_model(blank, 64, "confignet", "auto",
                                     source="blank.png", detector=detector)
  assert kept.shape == (100, 80, 3)
  assert [r.getMessage() for r in caplog.records] == [
      "not aligning blank.png: the face detector found no face; using the "
      "image as it is"]
  with pytest.raises(alignment.NoFaceError, match="no face found in blank.png"):
    alignment.align_for_model(blank, 64, "confignet", "yes",
                              source="blank.png", detector=detector)
  assert alignment.align_for_model(blank, 64, "confignet", "no") is not None
  monkeypatch.setitem(sys.modules, "mtcnn", None)
  monkeypatch.setattr(alignment, "_DEFAULT_DETECTOR", [])
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    alignment.align_for_model(blank, 64, "confignet", "auto", source="b.png")
  assert "the face detector is not installed (pip install 'tfface[align]')" \
      in caplog.records[-1].getMessage()


def _write(path, image):
  alignment.write_png(str(path), image)
  return str(path)


def test_folder_job_is_resumable_and_reports_each_problem(renders, tmp_path):
  images, landmarks, _ = renders
  photos = tmp_path / "photos"
  photos.mkdir()
  _write(photos / "a.png", images[0])
  _write(photos / "b.png", images[1])
  blank = np.full([64, 64, 3], 90, np.uint8)
  _write(photos / "blank.png", blank)
  (photos / "notes.txt").write_text("not a picture")
  contents = lambda: {p: open(photos / p, "rb").read()
                      for p in os.listdir(photos)}
  before = contents()
  detector = _FakeDetector(images[:2], landmarks[:2])
  lines = []
  out = tmp_path / "aligned"
  report = alignment.align_folder(str(photos), str(out), "confignet", 64,
                                  detector=detector, on_problem=lines.append)
  assert sorted(os.listdir(out)) == ["a.png", "b.png"]
  assert [os.path.basename(p) for p in report.written] == ["a.png", "b.png"]
  assert report.no_face == [str(photos / "blank.png")]
  assert lines == [f"no face found in {photos / 'blank.png'}; skipped",
                   lines[1]]
  assert lines[1].startswith(f"{photos / 'notes.txt'} is not an image (")
  assert lines[1].endswith("; skipped") and "\n" not in lines[1]
  crop = alignment.read_image_file(str(out / "a.png"))
  assert crop.shape == (64, 64, 3)
  # The inputs are untouched; a rerun skips the finished crops.
  assert contents() == before
  calls = detector.calls
  again = alignment.align_folder(str(photos), str(out), "confignet", 64,
                                 detector=detector, on_problem=lines.append)
  assert not again.written and len(again.skipped) == 2
  assert detector.calls == calls + 1  # only the blank image again
  assert again.summary() == (f"aligned 0, already done 2, no face 1, not an "
                             f"image 1: {out}")
  with pytest.raises(ValueError, match="is the input folder"):
    alignment.align_folder(str(photos), str(photos), "ffhq", 64,
                           detector=detector)


# -----------------------------------------------------------------------------
# The real detector.


@pytest.mark.skipif(not alignment.detector_available(),
                    reason="mtcnn is not installed (pip install "
                    "'tfface[align]')")
def test_mtcnn_finds_a_rendered_face_and_aligns_it(renders):
  images, landmarks, _ = renders
  photo, photo_landmarks = _photo(images[0], landmarks[0],
                                  _placement(15.0, 1.2, (130.0, 110.0)), 240)
  detection = alignment.default_detector()(photo)
  assert detection is not None and detection.score > 0.9
  truth = alignment.five_points_from_landmarks68(photo_landmarks)
  interocular = np.hypot(*(truth[1] - truth[0]))
  assert np.abs(detection.points - truth).max() < 0.2 * interocular
  aligned = alignment.align_image(photo, "confignet", SIZE)
  assert aligned.score == pytest.approx(detection.score)
  template = alignment.get_preset("confignet").template(SIZE)
  true_in_crop = alignment.apply_transform(aligned.matrix, truth)
  template_interocular = np.hypot(*(template[1] - template[0]))
  assert np.abs(true_in_crop - template).max() < 0.2 * template_interocular
  assert alignment.default_detector()(np.full([200, 200, 3], 128,
                                              np.uint8)) is None
