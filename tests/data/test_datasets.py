"""Readers: schema round trip, resizing, corrupt images skipped and counted."""

import collections
import os
import struct

import numpy as np
import pytest
import tensorflow as tf

from tfface.data import datasets
from tfface.data import schema


def _random_image(rng, height, width):
  return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def _gradient_image(height, width):
  """uint8 image linear in the pixel-centre column: 4 * (x + 0.5) + 10."""
  x = 4.0 * (np.arange(width) + 0.5) + 10.0
  return np.broadcast_to(x[None, :, None], (height, width, 3)).astype(np.uint8)


def _write_synthetic(path, rng, num, height, width, gradient=False):
  sizes = collections.OrderedDict([("identity", 5), ("pose", 3), ("sh", 27)])
  examples = []
  with tf.io.TFRecordWriter(path) as writer:
    for _ in range(num):
      factors = collections.OrderedDict(
          (n, rng.normal(size=s).astype(np.float32)) for n, s in sizes.items())
      image = (_gradient_image(height, width) if gradient else
               _random_image(rng, height, width))
      iris = (rng.random((height, width, 1)) > 0.7).astype(np.uint8) * 255
      landmarks = rng.uniform(0, width, size=(68, 2)).astype(np.float32)
      writer.write(schema.make_example(image, schema.SYNTHETIC, factors, iris,
                                       landmarks))
      examples.append((image, factors, iris, landmarks))
  return sizes, examples


def test_synthetic_reader_returns_stored_values_exactly(tmp_path):
  rng = np.random.default_rng(0)
  path = str(tmp_path / "s-00000-of-00001.tfrecord")
  sizes, examples = _write_synthetic(path, rng, 3, 16, 16)
  ds = datasets.synthetic_dataset(path, 16, shuffle=False, repeat=False)
  got = list(ds.as_numpy_iterator())
  assert len(got) == 3
  for element, (image, factors, iris, landmarks) in zip(got, examples):
    assert list(element["factors"]) == list(sizes)
    for name, value in factors.items():
      np.testing.assert_array_equal(element["factors"][name], value)
    np.testing.assert_allclose(element["image"], image / 127.5 - 1.0,
                               atol=1e-6)
    np.testing.assert_allclose(element["iris_mask"], iris / 255.0, atol=1e-6)
    np.testing.assert_array_equal(element["landmarks"], landmarks)
    assert element["image"].dtype == np.float32


def test_synthetic_reader_resizes_and_scales_landmarks(tmp_path):
  rng = np.random.default_rng(1)
  path = str(tmp_path / "s.tfrecord")
  _, examples = _write_synthetic(path, rng, 4, 32, 32, gradient=True)
  ds = datasets.synthetic_dataset(path, 16, batch_size=2, shuffle=False,
                                  repeat=False)
  batches = list(ds.as_numpy_iterator())
  assert len(batches) == 2
  batch = batches[0]
  assert batch["image"].shape == (2, 16, 16, 3)
  assert batch["iris_mask"].shape == (2, 16, 16, 1)
  np.testing.assert_allclose(batch["landmarks"][0], examples[0][3] / 2,
                             rtol=1e-6)
  # A linear ramp resampled at the new pixel centres (x' + 0.5) * 2 stays
  # linear away from the borders.
  x = (np.arange(16) + 0.5) * 2.0
  expected = (4.0 * x + 10.0) / 127.5 - 1.0
  np.testing.assert_allclose(batch["image"][0, :, 2:-2, 1],
                             np.broadcast_to(expected[2:-2], (16, 12)),
                             atol=1e-4)


def test_batches_drop_remainder_and_shuffle_is_seeded(tmp_path):
  rng = np.random.default_rng(2)
  path = str(tmp_path / "s.tfrecord")
  _write_synthetic(path, rng, 5, 16, 16)
  ds = datasets.synthetic_dataset(path, 16, batch_size=2, repeat=False)
  assert ds.element_spec["image"].shape.as_list() == [2, 16, 16, 3]
  assert len(list(ds)) == 2
  def order(seed):
    ds = datasets.synthetic_dataset(path, 16, seed=seed, repeat=False)
    return [float(e["factors"]["pose"][0]) for e in ds]
  assert order(3) == order(3)
  assert sorted(order(3)) == sorted(order(4))


def test_pseudo_real_and_synthetic_readers_reject_each_others_files(tmp_path):
  rng = np.random.default_rng(3)
  synth = str(tmp_path / "synth.tfrecord")
  _write_synthetic(synth, rng, 1, 16, 16)
  pseudo = str(tmp_path / "pseudo.tfrecord")
  image = _random_image(rng, 16, 16)
  with tf.io.TFRecordWriter(pseudo) as writer:
    writer.write(schema.make_example(image, schema.PSEUDO_REAL))
  element = next(iter(datasets.pseudo_real_dataset(pseudo, 16)))
  assert set(element) == {"image"}
  np.testing.assert_allclose(element["image"], image / 127.5 - 1.0, atol=1e-6)
  with pytest.raises(ValueError, match="pseudo_real_dataset"):
    datasets.synthetic_dataset(pseudo, 16)
  with pytest.raises(ValueError, match="synthetic_dataset"):
    datasets.pseudo_real_dataset(synth, 16)
  with pytest.raises(ValueError, match="no files match"):
    datasets.synthetic_dataset(str(tmp_path / "nothing-*"), 16)
  with pytest.raises(ValueError, match="image_size"):
    datasets.pseudo_real_dataset(pseudo, (16, 0))


def _write_image(path, image):
  ext = os.path.splitext(path)[1].lower()
  encoders = {".png": tf.io.encode_png, ".jpg": tf.io.encode_jpeg}
  with open(path, "wb") as f:
    f.write(encoders[ext](image).numpy())


def test_image_folder_skips_and_counts_corrupt_files_and_resizes(tmp_path):
  rng = np.random.default_rng(4)
  (tmp_path / "a" / "b").mkdir(parents=True)
  good = {
      "one.png": _random_image(rng, 16, 16),
      "a/two.jpg": _random_image(rng, 40, 24),  # wrong size, wrong aspect
      "a/b/three.PNG": _random_image(rng, 8, 8),
  }
  for name, image in good.items():
    _write_image(str(tmp_path / name), image)
  png = tf.io.encode_png(_random_image(rng, 16, 16)).numpy()
  (tmp_path / "a" / "truncated.png").write_bytes(png[:len(png) // 2])
  (tmp_path / "a" / "b" / "garbage.jpg").write_bytes(b"not a jpeg at all")
  (tmp_path / "empty.bmp").write_bytes(b"")
  (tmp_path / "notes.txt").write_text("ignored: not an image extension")

  stats = datasets.ReadStats()
  ds = datasets.image_folder_dataset(str(tmp_path), 16, shuffle=False,
                                     repeat=False, stats=stats)
  assert ds.read_stats is stats
  images = [e["image"] for e in ds.as_numpy_iterator()]
  assert len(images) == 3
  assert stats.num_skipped == 3 and stats.num_decoded == 3
  assert {os.path.basename(p) for p in stats.skipped} == {
      "truncated.png", "garbage.jpg", "empty.bmp"}
  for image in images:
    assert image.shape == (16, 16, 3) and image.dtype == np.float32
    assert image.min() >= -1.0 and image.max() <= 1.0
  # Sorted file order: a/b/three.PNG, a/two.jpg, one.png.
  np.testing.assert_allclose(images[2], good["one.png"] / 127.5 - 1.0,
                             atol=1e-6)
  # 8x8 upsampled keeps the mean colour; 40x24 is centre-cropped to 24x24.
  np.testing.assert_allclose(images[0].mean(axis=(0, 1)),
                             (good["a/b/three.PNG"] / 127.5 - 1.0).mean(
                                 axis=(0, 1)), atol=0.03)
  # Batched, repeated: the count stays per distinct file.
  ds = datasets.image_folder_dataset(str(tmp_path), 16, batch_size=2,
                                     stats=stats)
  for batch in ds.take(4):
    assert batch["image"].shape == (2, 16, 16, 3)
  assert stats.num_skipped == 3


def _bmp(image):
  """A 24-bit uncompressed BMP of `[H, W, 3]` uint8 RGB (bottom-up rows)."""
  height, width, _ = image.shape
  stride = (width * 3 + 3) // 4 * 4
  pixels = b"".join(image[y, :, ::-1].tobytes().ljust(stride, b"\0")
                    for y in range(height - 1, -1, -1))
  header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
  info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels),
                     2835, 2835, 0, 0)
  return header + info + pixels


# A 1x1 GIF89a whose only pixel has colour (10, 20, 30).
_GIF = bytes.fromhex("474946383961010001008000000a141effffff21f904000000"
                     "00002c00000000010001000002024401003b")


def test_image_folder_reads_bmp_and_gif(tmp_path):
  image = np.random.default_rng(6).integers(0, 256, (16, 16, 3), np.uint8)
  (tmp_path / "a.bmp").write_bytes(_bmp(image))
  (tmp_path / "b.gif").write_bytes(_GIF)
  ds = datasets.image_folder_dataset(str(tmp_path), 16, shuffle=False,
                                     repeat=False)
  got = [e["image"] for e in ds.as_numpy_iterator()]
  assert len(got) == 2 and ds.read_stats.num_skipped == 0
  np.testing.assert_allclose(got[0], image / 127.5 - 1.0, atol=1e-6)
  np.testing.assert_allclose(got[1], np.broadcast_to(
      np.array([10, 20, 30]) / 127.5 - 1.0, (16, 16, 3)), atol=1e-5)


def test_folder_of_only_bad_images_raises_instead_of_spinning(tmp_path):
  # Raised by the builder, before any pipeline runs (a pipeline that raised
  # it from a py_function could hang the process at exit).
  for i in range(3):
    (tmp_path / f"bad{i}.png").write_bytes(b"nope")
  stats = datasets.ReadStats()
  with pytest.raises(ValueError, match="no image of directory") as error:
    datasets.image_folder_dataset(str(tmp_path), 16, batch_size=2,
                                  stats=stats)
  assert stats.num_skipped == 3
  first_line = str(error.value).splitlines()[0]
  assert str(tmp_path / "bad0.png") in first_line
  assert "Unknown image file format" in first_line
  assert "{{" not in first_line and "[Op:" not in first_line


def test_image_folder_errors_are_clear(tmp_path):
  with pytest.raises(ValueError, match="does not exist"):
    datasets.image_folder_dataset(str(tmp_path / "missing"), 16)
  (tmp_path / "x.txt").write_text("x")
  with pytest.raises(ValueError, match="no png/jpg"):
    datasets.image_folder_dataset(str(tmp_path), 16)


def test_real_tfrecords_skip_and_count_bad_records(tmp_path):
  rng = np.random.default_rng(5)
  path = str(tmp_path / "real.tfrecord")
  images = [_random_image(rng, 24, 24), _random_image(rng, 16, 16)]
  def example(feature):
    return tf.train.Example(features=tf.train.Features(
        feature=feature)).SerializeToString()
  def image_feature(data):
    return {"image": tf.train.Feature(bytes_list=tf.train.BytesList(
        value=[data]))}
  with tf.io.TFRecordWriter(path) as writer:
    writer.write(example(image_feature(tf.io.encode_jpeg(images[0]).numpy())))
    writer.write(example(image_feature(b"\x89PNG broken")))
    writer.write(example({}))  # no image feature
    writer.write(b"not an example proto \xff\xff")
    writer.write(example(image_feature(tf.io.encode_png(images[1]).numpy())))
  ds = datasets.real_tfrecord_dataset(path, (16, 16), shuffle=False,
                                      repeat=False)
  got = [e["image"] for e in ds.as_numpy_iterator()]
  assert len(got) == 2
  assert ds.read_stats.num_skipped == 3
  assert sorted(ds.read_stats.skipped) == [f"{path}#{i}" for i in (1, 2, 3)]
  assert got[0].shape == (16, 16, 3)
  np.testing.assert_allclose(got[1], images[1] / 127.5 - 1.0, atol=1e-6)
