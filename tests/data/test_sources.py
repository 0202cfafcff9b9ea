"""image_source: every kind gives {"image"} batches of the asked size."""

import collections

import numpy as np
import pytest
import tensorflow as tf

import tfface.data
from tfface.data import schema
from tfface.data import sources


def _images(seed, count, height, width):
  rng = np.random.default_rng(seed)
  return [rng.integers(0, 256, (height, width, 3), np.uint8)
          for _ in range(count)]


def _write_records(path, examples):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for example in examples:
      writer.write(example)


@pytest.fixture(scope="module")
def tiny_sources(tmp_path_factory):
  """One tiny source of every kind, 4 images each (some of another size)."""
  root = tmp_path_factory.mktemp("sources")
  images = _images(0, 4, 16, 16)
  folder = root / "folder"
  (folder / "sub").mkdir(parents=True)
  for i, image in enumerate(images):
    if i == 3:
      image = _images(1, 1, 24, 40)[0]  # another size and aspect
    name = f"sub/{i}.png" if i % 2 else f"{i}.png"
    (folder / name).write_bytes(tf.io.encode_png(image).numpy())
  factors = collections.OrderedDict([("identity", np.ones(3, np.float32)),
                                     ("pose", np.zeros(3, np.float32))])
  _write_records(root / "synthetic-0.tfrecord", [
      schema.make_example(image, schema.SYNTHETIC, factors,
                          np.zeros([16, 16, 1], np.uint8),
                          np.zeros([68, 2], np.float32))
      for image in images])
  _write_records(root / "pseudo_real-0.tfrecord", [
      schema.make_example(image, schema.PSEUDO_REAL) for image in images])
  _write_records(root / "real-0.tfrecord", [
      schema.make_example(image, schema.PSEUDO_REAL) for image in images])
  return {"folder": str(folder),
          "synthetic": str(root / "synthetic-*.tfrecord"),
          "pseudo_real": str(root / "pseudo_real-*.tfrecord"),
          "tfrecord": str(root / "real-*.tfrecord"),
          "images": images}


def test_kinds_are_the_gin_words():
  assert sources.KINDS == ("folder", "tfrecord", "synthetic", "pseudo_real")
  assert tfface.data.image_source is sources.image_source
  assert tfface.data.IMAGE_SOURCE_KINDS == sources.KINDS


@pytest.mark.parametrize("kind", sources.KINDS)
def test_each_kind_gives_batched_images_in_range(tiny_sources, kind):
  data = sources.image_source(kind, tiny_sources[kind], (8, 12), batch_size=3,
                              seed=1)
  assert set(data.element_spec) == {"image"}
  for batch in data.take(3):  # repeated: more batches than images
    image = batch["image"].numpy()
    assert image.shape == (3, 8, 12, 3) and image.dtype == np.float32
    assert -1.0 <= image.min() and image.max() <= 1.0
    assert image.std() > 0.1  # real pixels, not a constant


@pytest.mark.parametrize("kind", sources.KINDS)
def test_each_kind_unbatched_in_order_holds_the_stored_pixels(tiny_sources,
                                                              kind):
  data = sources.image_source(kind, tiny_sources[kind], 16, shuffle=False,
                              repeat=False)
  got = [e["image"] for e in data.as_numpy_iterator()]
  assert len(got) == 4
  assert all(g.shape == (16, 16, 3) for g in got)
  # 0.png comes first in every kind (sorted files; records in order).
  np.testing.assert_allclose(got[0], tiny_sources["images"][0] / 127.5 - 1.0,
                             atol=1e-6)


def test_folder_and_tfrecord_keep_their_read_stats(tiny_sources):
  for kind in ("folder", "tfrecord"):
    data = sources.image_source(kind, tiny_sources[kind], 16, shuffle=False,
                                repeat=False)
    list(data.as_numpy_iterator())
    assert data.read_stats.num_decoded == 4


def test_unknown_kind_lists_the_valid_ones(tiny_sources):
  with pytest.raises(ValueError) as error:
    sources.image_source("image_folder", tiny_sources["folder"], 16)
  message = str(error.value)
  assert "'image_folder'" in message
  assert all(repr(kind) in message for kind in sources.KINDS)
  with pytest.raises(ValueError, match="'folder' needs a path"):
    sources.image_source("folder", "", 16)
  with pytest.raises(ValueError, match="image_size"):
    sources.image_source("pseudo_real", tiny_sources["pseudo_real"], (16, 0))
  with pytest.raises(ValueError, match="pseudo_real_dataset"):
    sources.image_source("synthetic", tiny_sources["pseudo_real"], 16)


def test_method_data_modules_dispatch_through_it(tiny_sources):
  from tfface.methods.confignet import data as cn_data  # pylint: disable=g-import-not-at-top
  from tfface.methods.stylegan2 import data as sg2_data  # pylint: disable=g-import-not-at-top
  assert sg2_data.SOURCES == ("toy",) + sources.KINDS
  for kind in sources.KINDS:
    batch = next(iter(sg2_data.stylegan2_dataset(
        2, source=kind, path=tiny_sources[kind], resolution=16)))
    assert set(batch) == {"image"} and batch["image"].shape == (2, 16, 16, 3)
  element = next(iter(cn_data.confignet_dataset(
      4, synthetic_pattern=tiny_sources["synthetic"],
      real_source=tiny_sources["folder"], image_size=16, real_kind="folder")))
  assert element["real"]["image"].shape == (2, 16, 16, 3)
  assert element["synthetic"]["image"].shape == (2, 16, 16, 3)
  with pytest.raises(ValueError, match="'folder'"):
    cn_data.confignet_dataset(4, synthetic_pattern=tiny_sources["synthetic"],
                              real_source=tiny_sources["folder"],
                              image_size=16, real_kind="image_folder")
