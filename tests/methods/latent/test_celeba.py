"""The photo-folder codes writer (the reference's Embedding_CelebA64 table)."""

import os
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.latent import celeba
from tfface.methods.latent import codes
from tfface.methods.latent import data as data_lib


def _write_photos(directory, count, height=22, width=18):
  rng = np.random.default_rng(0)
  os.makedirs(directory, exist_ok=True)
  names = []
  for i in range(count):
    name = f"{i + 1:06d}.jpg"
    pixels = rng.integers(0, 255, [height, width, 3], dtype=np.uint8)
    tf.io.write_file(os.path.join(directory, name),
                     tf.io.encode_jpeg(pixels, quality=100))
    names.append(name)
  return names


def _write_attributes(path, names):
  rows = [str(len(names)), "Black_Hair Blond_Hair Smiling"]
  for i, name in enumerate(names):
    values = [(1 if (i + k) % 3 == 0 else -1) for k in range(3)]
    rows.append(name + "  " + " ".join(f"{v:2d}" for v in values))
  with open(path, "w") as f:
    f.write("\n".join(rows) + "\n")


def test_attribute_file_round_trip_and_bad_rows(tmp_path):
  path = str(tmp_path / "list_attr.txt")
  _write_attributes(path, ["a.jpg", "b.jpg", "c.jpg"])
  files, names, values = celeba.read_attribute_file(path)
  assert files == ["a.jpg", "b.jpg", "c.jpg"]
  assert names == ["Black_Hair", "Blond_Hair", "Smiling"]
  np.testing.assert_array_equal(values, [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
  with open(path, "a") as f:
    f.write("d.jpg 1 -1\n")
  with pytest.raises(ValueError, match="line 6: 2 values for 3 attributes"):
    celeba.read_attribute_file(path)


def test_framings_pick_the_expected_pixels():
  image = tf.reshape(tf.range(218 * 178 * 3) % 251, [218, 178, 3])
  image = tf.cast(image, tf.uint8)
  out = celeba.frame_image(image, 128, "celeba_128").numpy()
  # The 128 px crop 15 px below the centre, unresized, in [-1, 1].
  top, left = (218 - 128) // 2 + 15, (178 - 128) // 2
  expected = image.numpy()[top:top + 128, left:left + 128] / 255.0 * 2 - 1
  np.testing.assert_allclose(out, expected, atol=1e-5)
  assert celeba.frame_image(image, 16, "stretch").shape == (16, 16, 3)
  with pytest.raises(ValueError, match="framing must be one of"):
    celeba._check("crop", 4, 4)  # pylint: disable=protected-access


def test_encode_folder_resumes_and_feeds_the_cgan_dataset(tmp_path,
                                                          autoencoder_file):
  images = str(tmp_path / "img_align_celeba")
  names = _write_photos(images, 7)
  attributes = str(tmp_path / "list_attr.txt")
  _write_attributes(attributes, names)
  output = str(tmp_path / "codes.npz")
  # A first job stopped after its first chunk: the rerun keeps that chunk.
  parts = output + ".parts"
  table = celeba.encode_folder(autoencoder_file, images, output, attributes,
                               chunk_size=3, batch_size=2)
  ae = codes.load_autoencoder(autoencoder_file)
  first = celeba.frame_image(
      tf.io.decode_image(tf.io.read_file(os.path.join(images, names[0])), 3),
      ae.image_size, "stretch")
  np.testing.assert_allclose(table["z"][0], ae.encode(first[None])[0].numpy(),
                             atol=1e-5)
  assert table["z"].shape[0] == 7 and not os.path.exists(parts)
  np.testing.assert_array_equal(table["attributes"][:, 0],
                                [1, 0, 0, 1, 0, 0, 1])

  # A job killed while encoding its second chunk keeps the first; the rerun
  # encodes only the chunks that are missing and gives the same table.
  real_encode = celeba._encode_chunk  # pylint: disable=protected-access
  calls = []

  def dies_on_second_chunk(encode, directory, files, *args):
    calls.append(list(files))
    if len(calls) == 2:
      raise KeyboardInterrupt
    return real_encode(encode, directory, files, *args)

  rerun_output = str(tmp_path / "rerun.npz")
  with mock.patch.object(celeba, "_encode_chunk", dies_on_second_chunk):
    with pytest.raises(KeyboardInterrupt):
      celeba.encode_folder(autoencoder_file, images, rerun_output, attributes,
                           chunk_size=3, batch_size=2)
  assert sorted(os.listdir(rerun_output + ".parts")) == [
      "chunk-00000.npy", "settings.json"]
  calls.clear()
  with mock.patch.object(celeba, "_encode_chunk",
                         lambda *a: calls.append(a[2]) or real_encode(*a)):
    again = celeba.encode_folder(autoencoder_file, images, rerun_output,
                                 attributes, chunk_size=3, batch_size=2)
  assert calls == [names[3:6], names[6:]]
  np.testing.assert_allclose(again["z"], table["z"], atol=1e-6)
  with pytest.raises(ValueError, match="holds chunks of another job"):
    os.makedirs(rerun_output + ".parts")
    with open(rerun_output + ".parts/settings.json", "w") as f:
      f.write('{"size": 1}')
    celeba.encode_folder(autoencoder_file, images, rerun_output, attributes)

  data = data_lib.latent_codes_dataset(
      2, autoencoder=autoencoder_file, codes_path=output,
      condition="attribute:Black_Hair,Blond_Hair")
  batch = next(iter(data))
  assert batch["z"].shape[-1] == table["z"].shape[1]
