"""tools/align_faces.py: bad input is one error line; a folder of photos is
aligned with one line per image without a face; a single photo."""

import os
import sys

import numpy as np
import pytest

from tests.training import subprocess_utils as su
from tfface.analysis import alignment
from tfface.data import synthetic

TOOL = os.path.join(su.REPO, "tools", "align_faces.py")
needs_mtcnn = pytest.mark.skipif(
    not alignment.detector_available(),
    reason="mtcnn is not installed (pip install 'tfface[align]')")


def _run(*args, timeout=180):
  return su.run([sys.executable, TOOL, *args], timeout=timeout)


def _error_lines(result):
  return [l for l in result.stderr.splitlines() if l.startswith("error:")]


def test_bad_input_is_one_error_line(tmp_path):
  missing = tmp_path / "nowhere"
  result = _run(f"--input={missing}", f"--output={tmp_path / 'out'}")
  assert result.returncode == 1, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  assert _error_lines(result) == [
      f"error: input {missing} does not exist; expected an image file or a "
      "folder of images"]
  result = _run(f"--input={tmp_path}", f"--output={tmp_path / 'out'}",
                "--preset=square")
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert _error_lines(result) == [
      "error: unknown alignment preset 'square'; expected one of ffhq, "
      "deep3d, discofacegan, confignet"]
  result = _run(f"--input={tmp_path}", f"--output={tmp_path}",
                "--preset=confignet", "--size=4")
  assert _error_lines(result) == [
      "error: crop size must be an integer >= 8 pixels, got 4"]
  assert not os.path.exists(tmp_path / "out")


@pytest.fixture(scope="module")
def photo():
  """A rendered face turned and shifted in a 200 x 240 'photo' (uint8)."""
  size = 128
  render = synthetic._cached_renderer(  # pylint: disable=protected-access
      (size, size), 1, "tf", 0.75, ())
  rows = synthetic.preview_factors(render.model, 2, seed=0)
  face = rows[synthetic.PREVIEW_ROWS.index("jawOpen")][0]
  out = render([face], np.zeros([1, 3], np.float32),
               np.broadcast_to(face["background"], (1, size, size, 3)))
  image = np.clip(np.rint((out["image"][0] + 1) * 127.5), 0, 255)
  theta = np.radians(12.0)
  matrix = 1.3 * np.array([[np.cos(theta), -np.sin(theta), 0.0],
                           [np.sin(theta), np.cos(theta), 0.0]])
  matrix[:, 2] = [130.0, 110.0] - matrix[:, :2] @ [size / 2, size / 2]
  canvas = alignment.warp_image(image, matrix, 240, "edge")[:200]
  return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


@needs_mtcnn
def test_folder_is_aligned_with_a_line_per_problem(tmp_path, photo):
  photos = tmp_path / "photos"
  photos.mkdir()
  alignment.write_png(str(photos / "face.png"), photo)
  alignment.write_png(str(photos / "blank.png"),
                      np.full([120, 160, 3], 200, np.uint8))
  (photos / "notes.txt").write_text("not a picture")
  out = tmp_path / "aligned"
  result = _run(f"--input={photos}", f"--output={out}", "--preset=confignet",
                "--size=64")
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(os.listdir(out)) == ["face.png"]
  crop = alignment.read_image_file(str(out / "face.png"))
  assert crop.shape == (64, 64, 3)
  problems = [l for l in result.stderr.splitlines() if "skipped" in l]
  assert len(problems) == 2, result.stderr[-3000:]
  assert problems[0].endswith(f"no face found in {photos / 'blank.png'}; "
                              "skipped")
  assert f"{photos / 'notes.txt'} is not an image (" in problems[1]
  assert result.stdout.strip().splitlines()[-1] == (
      f"aligned 1, already done 0, no face 1, not an image 1: {out}")
  assert sorted(os.listdir(photos)) == ["blank.png", "face.png", "notes.txt"]
  # (Reruns skipping finished crops: tests/analysis/test_alignment.py.)


@needs_mtcnn
def test_single_photo(tmp_path, photo):
  path = str(tmp_path / "face.png")
  alignment.write_png(path, photo)
  report = alignment.align_path(path, str(tmp_path / "crops"), "deep3d", 112)
  assert report.written == [str(tmp_path / "crops" / "face.png")]
  assert alignment.read_image_file(report.written[0]).shape == (112, 112, 3)
  with pytest.raises(ValueError, match="is the input"):
    alignment.align_path(path, path, "ffhq")
  blank = str(tmp_path / "blank.png")
  alignment.write_png(blank, np.zeros([80, 80, 3], np.uint8))
  with pytest.raises(alignment.NoFaceError,
                     match=f"^no face found in {blank}$"):
    alignment.align_path(blank, str(tmp_path / "crops"), "ffhq", 64)
