"""The one image-size check: ints and pairs in, clear sentences for the rest."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.rendering import image_size


@pytest.mark.parametrize("given,want", [
    (8, (8, 8)), ((4, 6), (4, 6)), ([6, 4], (6, 4)),
    (np.int64(5), (5, 5)), ((np.int32(3), np.uint8(7)), (3, 7)),
    (np.array([2, 9]), (2, 9)), (tf.TensorShape([5, 6]), (5, 6)),
    ((1, 1), (1, 1))])
def test_accepts_ints_and_pairs_of_ints(given, want):
  got = image_size.parse_image_size(given)
  assert got == want
  assert all(type(s) is int for s in got)  # pylint: disable=unidiomatic-typecheck


@pytest.mark.parametrize("given", [
    True, (True, 8), 8.0, (8.0, 8), "8", "88", None, (8,), (8, 8, 3), 0,
    -4, (8, 0), (0, 8), (-1, 8), (8, None), np.float32(8)])
def test_rejects_other_values_with_one_sentence(given):
  with pytest.raises(ValueError) as error:
    image_size.parse_image_size(given)
  message = str(error.value)
  assert message.startswith("image_size must be an int or (height, width) of "
                            "ints, each >= 1, got ")
  assert repr(given) in message
  assert message.endswith(".") and len(message.splitlines()) == 1


def test_minimum_and_name_are_in_the_message():
  assert image_size.parse_image_size((8, 9), minimum=8) == (8, 9)
  with pytest.raises(ValueError, match=r"^resolution must be .* each >= 8, "
                     r"got \(8, 7\)\.$"):
    image_size.parse_image_size((8, 7), minimum=8, name="resolution")
  with pytest.raises(ValueError, match=r"each >= 2, got 1\."):
    image_size.parse_image_size(1, minimum=2)


def test_every_caller_uses_it_with_its_minimum(tmp_path):
  # The callers keep their minimums (camera/rasterizer/readers 1, the depth
  # renderer 2, the synthetic writer 8) and all say the same sentence.
  from tfface.data import datasets  # pylint: disable=g-import-not-at-top
  from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
  from tfface.rendering import camera  # pylint: disable=g-import-not-at-top
  from tfface.rendering import depth_renderer  # pylint: disable=g-import-not-at-top
  from tfface.rendering import rasterizer  # pylint: disable=g-import-not-at-top
  assert camera.parse_image_size is image_size.parse_image_size
  assert camera.deep3d_camera(1).image_size == (1, 1)
  with pytest.raises(ValueError, match=r"image_size .* each >= 1, got 2\.5"):
    camera.deep3d_camera(2.5)
  with pytest.raises(ValueError, match=r"image_size .* each >= 1, got \(8, 0\)"):
    rasterizer.rasterize(np.zeros([1, 3, 3], np.float32),
                         np.int32([[0, 1, 2]]), None, np.eye(4, dtype=np.float32)[None],
                         (8, 0))
  assert depth_renderer.DepthMapRenderer(2).image_size == (2, 2)
  with pytest.raises(ValueError, match=r"image_size .* each >= 2, got 1\."):
    depth_renderer.DepthMapRenderer(1)
  with pytest.raises(ValueError, match=r"image_size .* each >= 1, got \(16, 0\)"):
    datasets.image_folder_dataset(str(tmp_path), (16, 0))
  with pytest.raises(ValueError, match=r"image_size .* each >= 8, got 7\."):
    synthetic.preview_grid(image_size=7)
