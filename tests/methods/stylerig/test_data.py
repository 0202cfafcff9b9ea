"""StyleRig's training data: what is stored, the reader, resume."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfface.analysis import weights
from tfface.methods.stylerig import data
from tfface.networks import stylegan2_weights
from tests.methods.stylerig.conftest import (NUM_EXAMPLES, NUM_WS, PER_SHARD,
                                             SIZE, STYLE_DIM)


def test_round_trip_matches_the_frozen_networks(data_dir, frozen_files):
  spec = data.read_spec(data_dir)
  assert (spec["num_ws"], spec["style_dim"], spec["image_size"]) == (
      NUM_WS, STYLE_DIM, SIZE)
  assert spec["num_coefficients"] == 97
  batch = next(iter(data.stylerig_dataset(8, data_dir=data_dir,
                                          shuffle=False, repeat=False)))
  assert batch["w_plus"].shape == (8, NUM_WS, STYLE_DIM)
  assert batch["image"].shape == (8, SIZE, SIZE, 3)
  assert batch["mask"].shape == (8, SIZE, SIZE, 1)
  np.testing.assert_array_equal(batch["index"].numpy(), np.arange(8))
  # Every W+ row is the same truncated w (mapping output tiled).
  w = batch["w_plus"].numpy()
  np.testing.assert_allclose(w, np.repeat(w[:, :1], NUM_WS, 1), atol=0)
  # The stored image is G(w) (8-bit), the labels the nets' outputs on it.
  g = stylegan2_weights.load_stylegan2_generator(frozen_files["generator"])
  image = tf.clip_by_value(g.synthesis(batch["w_plus"], noise_mode="const"),
                           -1, 1)
  np.testing.assert_allclose(batch["image"].numpy(), image.numpy(),
                             atol=1.01 / 127.5)
  lm = weights.load_network(frozen_files["landmarks"])
  np.testing.assert_allclose(batch["landmarks"].numpy(),
                             lm(batch["image"]).numpy(), atol=1e-3)
  parser = weights.load_network(frozen_files["parser"])
  mask = data.face_mask(tf.nn.softmax(parser(batch["image"]), -1))
  assert np.mean(mask.numpy() == batch["mask"].numpy()) > 0.99
  recon = weights.load_network(frozen_files["reconstruction"])
  np.testing.assert_allclose(batch["coefficients"].numpy(),
                             recon(batch["image"])["coefficients"].numpy(),
                             atol=1e-3)
  # Truncation: the codes sit at psi = 0.7 of the way from the mean.
  w_avg = data.mean_w(g).numpy()
  spread = np.linalg.norm(w[:, 0] - w_avg, axis=-1).mean()
  full = np.linalg.norm(
      data.sample_w_plus(g, 64, 1.0, [1, 2], w_avg).numpy()[:, 0] - w_avg,
      axis=-1).mean()
  assert 0.5 * full < spread < 0.9 * full


def test_face_mask_takes_the_named_classes():
  probs = np.zeros([1, 1, 3, 8], np.float32)
  probs[0, 0, 0, 1] = 1.0   # skin
  probs[0, 0, 1, 2] = 1.0   # hair
  probs[0, 0, 2, [6, 0]] = 0.6, 0.4   # lips 0.6
  mask = data.face_mask(tf.constant(probs)).numpy()[0, 0, :, 0]
  np.testing.assert_array_equal(mask, [1, 0, 1])
  with pytest.raises(ValueError, match="mask_classes"):
    data.face_mask(tf.constant(probs), ("skin", "ears"))


def test_resume_keeps_finished_shards_and_refuses_other_settings(
    data_dir, frozen_files, tmp_path):
  directory = str(tmp_path / "resume")
  g = stylegan2_weights.load_stylegan2_generator(frozen_files["generator"])
  nets = [weights.load_network(frozen_files[k])
          for k in ("landmarks", "parser")]
  maker = data.ExampleMaker(g, *nets, truncation_psi=0.7)
  first = data.write_shards(directory, maker, PER_SHARD, PER_SHARD, seed=3)
  assert first["written"] == [0]
  shard0 = os.path.join(directory, "stylerig-00000.tfrecord")
  mtime = os.stat(shard0).st_mtime_ns
  # An interrupted second shard leaves only a temporary file behind.
  with open(os.path.join(directory, "stylerig-00001.tfrecord.tmp-1"), "w"):
    pass
  second = data.write_shards(directory, maker, 2 * PER_SHARD, PER_SHARD,
                             seed=3)
  assert second["kept"] == [0] and second["written"] == [1]
  assert os.stat(shard0).st_mtime_ns == mtime
  # Shard 1 is the same as a fresh run's (a pure function of the shard).
  with open(os.path.join(data_dir, "stylerig-00001.tfrecord"), "rb") as f:
    fresh = list(tf.data.TFRecordDataset(f.name).as_numpy_iterator())
  resumed = list(tf.data.TFRecordDataset(os.path.join(
      directory, "stylerig-00001.tfrecord")).as_numpy_iterator())
  # (The session's data also stores coefficients: parse each by its spec.)
  parse_fresh = data._parse_fn(data.read_spec(data_dir))  # pylint: disable=protected-access
  parse = data._parse_fn(data.read_spec(directory))  # pylint: disable=protected-access
  for a, b in zip(fresh, resumed):
    for key in ("w_plus", "image", "index"):
      np.testing.assert_array_equal(parse_fresh(a)[key], parse(b)[key])
  assert len(resumed) == PER_SHARD
  other = data.ExampleMaker(g, *nets, truncation_psi=0.5)
  with pytest.raises(ValueError, match="truncation_psi"):
    data.write_shards(directory, other, 2 * PER_SHARD, PER_SHARD, seed=3)
  assert NUM_EXAMPLES == 2 * PER_SHARD
