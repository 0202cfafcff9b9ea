"""tools/edit.py and its library (tfface.methods.confignet.editing): a flat
image is "no face found", a large one is resized with one line saying so, an
unaligned photo is aligned first (tfface.analysis.alignment, --align)."""

import logging
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.training import subprocess_utils as su
from tfface import cli
from tfface.analysis import alignment
from tfface.methods.confignet import editing
from tfface.methods.confignet import export
from tfface.methods.confignet import factors
from tfface.methods.confignet import model

TABLE = factors.FactorTable({"expression": (3, 3), "hair_color": (3, 2)})
RESOLUTION = 32
EDIT_TOOL = os.path.join(su.REPO, "tools", "edit.py")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
  tf.keras.utils.set_random_seed(0)
  g = model.Generator(TABLE.latent_dim, RESOLUTION, const_channels=8,
                      channels_3d=(4, 4), channels_3d_post=(4, 4),
                      projection_channels=8, channels_2d=(4,), mlp_units=8)
  e_s = model.SyntheticEncoder(TABLE)
  e_r = model.RealEncoder(TABLE.latent_dim, RESOLUTION, "small",
                          small_widths=(4,))
  model.build_networks({"g": g, "e_s": e_s, "e_r": e_r}, TABLE, RESOLUTION)
  module = export.ConfigNetServing(g, e_s, TABLE, e_r)
  from tfface.export import savedmodel  # pylint: disable=g-import-not-at-top
  return savedmodel.export_module(
      module, str(tmp_path_factory.mktemp("edit") / "export"),
      module.signatures())


def _write_png(path, pixels):
  tf.io.write_file(str(path), tf.io.encode_png(np.asarray(pixels, np.uint8)))
  return str(path)


def _noise(size, seed=0):
  return np.random.default_rng(seed).integers(0, 256, [size, size, 3])


def test_flat_image_is_no_face_in_one_line(tmp_path, export_dir, capsys):
  path = _write_png(tmp_path / "grey.png", np.full([48, 48, 3], 128))
  image = editing.read_image(path)
  with pytest.raises(editing.NoFaceError,
                     match=f"no face found in {path}: the image is flat"):
    editing.edit_image(export_dir, image, [], source=path)
  # As tools/edit.py reports it: one error line, exit code 1.
  code = cli.guard(lambda: editing.edit_image(
      export_dir, editing.read_image(path), [], source=path))()
  err = capsys.readouterr().err
  assert code == 1 and "Traceback" not in err
  assert err.strip().splitlines() == [
      f"error: no face found in {path}: the image is flat (every pixel is "
      "about 128/255); expected an aligned face photo"]
  # Checked before the model is loaded: no export needed to say so.
  with pytest.raises(editing.NoFaceError):
    editing.edit_image(str(tmp_path / "no_export"), np.zeros([8, 8, 3]), [])
  # A textured image of the model's size is not flat.
  editing.check_face_image(editing.read_image(
      _write_png(tmp_path / "noise.png", _noise(RESOLUTION))))


def test_large_and_non_square_images_are_resized_with_one_line(caplog):
  image = np.random.default_rng(0).uniform(-1, 1, [200, 200, 3])
  with caplog.at_level(logging.WARNING):
    small = editing.fit_to_resolution(image, RESOLUTION, "big.png",
                                      large_factor=4)
    editing.fit_to_resolution(image[:, :100], 64, "tall.png")
    editing.fit_to_resolution(image[:100, :100], 64, "fine.png")
    same = editing.fit_to_resolution(image[:64, :64], 64, "same.png")
  assert small.shape == (RESOLUTION, RESOLUTION, 3)
  assert same.shape == (64, 64, 3)
  lines = [r.getMessage() for r in caplog.records]
  assert lines == [
      "resizing big.png from 200x200 to 32x32 (more than 4x the model's "
      "resolution); an aligned face crop works better",
      "resizing tall.png from 100x200 to 64x64 (not square, so the aspect "
      "ratio changes); an aligned face crop works better"]
  # Antialiased: shrinking noise averages it instead of sampling pixels.
  assert small.std() < 0.5 * image.std()


def test_edit_tool_says_it_resizes_a_large_photo(tmp_path, export_dir):
  photo = _write_png(tmp_path / "photo.png", _noise(1200))
  out = tmp_path / "out"
  result = su.run([sys.executable, EDIT_TOOL, f"--export_dir={export_dir}",
                   f"--image={photo}", f"--output_dir={out}", "--yaw=10",
                   "--set=hair_color=0.8,0.6,0.4"], timeout=180)
  assert result.returncode == 0, result.stderr[-3000:]
  resizing = [l for l in result.stderr.splitlines() if "resizing" in l]
  assert len(resizing) == 1, result.stderr[-3000:]
  assert resizing[0].endswith(
      f"resizing {photo} from 1200x1200 to 32x32 (more than 4x the model's "
      "resolution); an aligned face crop works better")
  for name in ("input", "reconstruction", "edited"):
    png = tf.io.decode_png(tf.io.read_file(str(out / f"{name}.png"))).numpy()
    assert png.shape == (RESOLUTION, RESOLUTION, 3), name


# -----------------------------------------------------------------------------
# --align: an unaligned photo is detected and aligned first.


def _rendered_photo(tmp_path):
  """A rendered face turned and moved in a 240 x 200 photo: (path, image
  uint8, its true five points)."""
  from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
  size = 128
  render = synthetic._cached_renderer(  # pylint: disable=protected-access
      (size, size), 1, "tf", 0.75, ())
  rows = synthetic.preview_factors(render.model, 2, seed=0)
  face = rows[synthetic.PREVIEW_ROWS.index("jawOpen")][0]
  out = render([face], np.zeros([1, 3], np.float32),
               np.broadcast_to(face["background"], (1, size, size, 3)))
  image = np.clip(np.rint((out["image"][0] + 1) * 127.5), 0, 255)
  theta = np.radians(-10.0)
  matrix = 1.2 * np.array([[np.cos(theta), -np.sin(theta), 0.0],
                           [np.sin(theta), np.cos(theta), 0.0]])
  matrix[:, 2] = [140.0, 95.0] - matrix[:, :2] @ [size / 2, size / 2]
  photo = alignment.warp_image(image, matrix, 240, "edge")[:200]
  photo = np.clip(np.rint(photo), 0, 255).astype(np.uint8)
  points = alignment.apply_transform(
      matrix, alignment.five_points_from_landmarks68(out["landmarks"][0]))
  return _write_png(tmp_path / "photo.png", photo), photo, points


@pytest.mark.skipif(not alignment.detector_available(),
                    reason="mtcnn is not installed (pip install "
                    "'tfface[align]')")
def test_edit_tool_aligns_an_unaligned_photo(tmp_path, export_dir):
  path, photo, points = _rendered_photo(tmp_path)
  out = tmp_path / "out"
  result = su.run([sys.executable, EDIT_TOOL, f"--export_dir={export_dir}",
                   f"--image={path}", f"--output_dir={out}", "--yaw=10"],
                  timeout=180)
  assert result.returncode == 0, result.stderr[-3000:]
  assert (f"aligned {path} (240x200) to the confignet crop at 32x32, zoom "
          "0.75 (face score ") in result.stderr, result.stderr[-3000:]
  assert "resizing" not in result.stderr
  seen = tf.io.decode_png(tf.io.read_file(str(out / "input.png"))).numpy()
  assert seen.shape == (RESOLUTION, RESOLUTION, 3)
  # The crop the true landmarks give, not the whole photo squashed.
  expected = alignment.align_image(photo, "confignet", RESOLUTION,
                                   landmarks=points).image.astype(float)
  squashed = tf.image.resize(photo, [RESOLUTION, RESOLUTION],
                             antialias=True).numpy()
  assert np.abs(seen - expected).mean() < 0.5 * np.abs(seen - squashed).mean()


def test_align_modes_of_the_edit_tool(tmp_path, export_dir, capsys,
                                      monkeypatch):
  noise = _noise(100).astype(np.float32) / 127.5 - 1.0
  # no: the image as it is, without reading the export.
  kept = alignment.align_for_export(noise, str(tmp_path / "none"), "no")
  np.testing.assert_array_equal(kept, noise)
  # yes: no face (or no detector) is one error line, as tools/edit.py says it.
  path = str(tmp_path / "noise.png")
  code = cli.guard(lambda: alignment.align_for_export(
      noise, export_dir, "yes", source=path))()
  err = capsys.readouterr().err
  assert code == 1 and "Traceback" not in err
  expected = (f"error: no face found in {path}"
              if alignment.detector_available() else
              "error: face detection needs the mtcnn package, which is not "
              "installed: pip install 'tfface[align]' (or pass the face's "
              "landmarks)")
  assert err.strip().splitlines() == [expected]
  # auto without the detector: one warning line, then the image as it is.
  monkeypatch.setitem(sys.modules, "mtcnn", None)
  monkeypatch.setattr(alignment, "_DEFAULT_DETECTOR", [])
  with pytest.raises(alignment.MissingDetectorError):
    alignment.align_for_export(noise, export_dir, "yes", source=path)
  same = alignment.align_for_export(noise, export_dir, "auto", source=path)
  np.testing.assert_array_equal(same, noise)
