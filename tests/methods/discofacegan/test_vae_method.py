"""The λ-VAE trainer and its coefficient table (vae_method)."""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from tfface import config as config_lib
from tfface.analysis import weights as analysis_weights
from tfface.data import sources
from tfface.methods.discofacegan import vae as vae_lib
from tfface.methods.discofacegan import vae_method
from tfface.training import train_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
SIZES = {"identity": 25, "albedo": 10, "expression": 24, "sh": 27, "pose": 3}


def low_rank_table(count=512, rank=2, seed=0):
  """Coefficients with a known mean and a rank-2 spread (like SH light)."""
  rng = np.random.default_rng(seed)
  table = {}
  for name, size in SIZES.items():
    mean = rng.uniform(-0.5, 0.5, size)
    basis = rng.normal(size=[rank, size]) * rng.uniform(0.5, 1.0, size) / (
        np.sqrt(rank))
    table[name] = (mean + rng.normal(size=[count, rank]) @ basis +
                   0.01 * rng.normal(size=[count, size])).astype(np.float32)
  return table


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
  """gin/discofacegan/vae_test.gin through train() under MirroredStrategy
  with 2 logical CPUs (200 steps on pose + illumination)."""
  base = tmp_path_factory.mktemp("dfg_vae")
  table = low_rank_table()
  data = str(base / "coefficients.npz")
  np.savez(data, **table)
  gin.clear_config()
  config_lib.parse_config(
      [os.path.join(REPO, "gin", "discofacegan", "vae_test.gin")],
      [f"coefficient_table.data = '{data}'"], finalize=False)
  model_dir = str(base / "run")
  losses = train_lib.train(model_dir, strategy="mirrored", num_cpu_replicas=2)
  gin.clear_config()
  return table, model_dir, losses


def _table_loss(vaes, table):
  parts = vaes.groups_to_lambda(table)
  outputs = vaes(parts, sample=False)
  return {f: float(vae_lib.factor_vae_loss(outputs[f]["x"], outputs[f])[
      "total"]) for f in vaes.factors}


def test_training_lowers_the_loss(vae_run):
  table, model_dir, losses = vae_run
  trained = vae_lib.load_factor_vaes(model_dir)     # newest checkpoint
  assert trained.factors == ("illumination", "pose")
  assert trained.weights_metadata["step"] == 200
  tf.keras.utils.set_random_seed(0)
  untrained = vae_lib.FactorVAEs(trained.vae_config()["specs"])
  untrained.build()
  for factor in trained.factors:           # the same data space
    # (vae_test.gin standardizes by the table: check it did)
    np.testing.assert_allclose(
        trained[factor].x_scale.numpy(),
        trained.groups_to_lambda(table)[factor].numpy().std(0), rtol=1e-4)
    untrained[factor].set_standardization(trained[factor].x_shift.numpy(),
                                          trained[factor].x_scale.numpy())
  before, after = _table_loss(untrained, table), _table_loss(trained, table)
  for factor in trained.factors:
    assert after[factor] < 0.75 * before[factor], (before, after)
  assert np.isfinite(losses["loss"]) and losses["pose_gamma_x"] < 1.0


def test_decoder_samples_follow_the_data(vae_run):
  table, model_dir, _ = vae_run
  path = vae_method.export_run_vaes(model_dir)
  vaes = vae_lib.load_factor_vaes(path)
  z = tf.random.stateless_normal([4000, vaes.latent_size], [1, 2])
  groups = vaes.decode_groups(z)
  for name in ("sh", "pose"):
    sample, data = groups[name].numpy(), table[name]
    spread = data.std(0)
    np.testing.assert_array_less(np.abs(sample.mean(0) - data.mean(0)),
                                 0.25 * spread + 0.02)
    ratio = sample.std(0) / spread
    assert 0.6 < ratio.min() and ratio.max() < 1.4, (name, ratio)


def _write_faces(folder, count=6, size=16):
  rng = np.random.default_rng(0)
  os.makedirs(folder, exist_ok=True)
  for i in range(count):
    image = rng.integers(0, 256, [size, size, 3], dtype=np.uint8)
    tf.io.write_file(os.path.join(folder, f"face_{i}.png"),
                     tf.io.encode_png(image))


def test_reconstruction_table_is_computed_once(tmp_path, analysis_files,
                                               monkeypatch):
  folder = str(tmp_path / "faces")
  _write_faces(folder)
  kwargs = dict(source="reconstruction", data=folder, image_kind="folder",
                reconstruction=analysis_files["reconstruction"],
                image_size=16, cache_dir=str(tmp_path / "cache"), batch_size=4)
  table = vae_method.coefficient_table(**kwargs)
  assert {k: v.shape for k, v in table.items()} == {
      k: (6, n) for k, n in SIZES.items()}
  net = analysis_weights.load_network(analysis_files["reconstruction"])
  images = next(iter(sources.image_source("folder", folder, 16, 6,
                                          shuffle=False, repeat=False)))
  expected = net(images["image"], training=False)
  for name in SIZES:
    np.testing.assert_allclose(table[name], expected[name].numpy(),
                               atol=1e-5)
  cached = os.listdir(str(tmp_path / "cache"))
  assert len(cached) == 1 and cached[0].startswith(vae_method.CACHE_PREFIX)

  def fail(*args, **kwargs):
    raise AssertionError("recomputed")

  monkeypatch.setattr(vae_method, "_reconstruction_table", fail)
  again = vae_method.coefficient_table(**kwargs)
  np.testing.assert_array_equal(again["pose"], table["pose"])
  # New data: a new key, so a recomputation.
  _write_faces(folder, count=7)
  with pytest.raises(AssertionError, match="recomputed"):
    vae_method.coefficient_table(**kwargs)
  with pytest.raises(ValueError, match="'bfm257' net"):
    vae_method.coefficient_table(**dict(kwargs, layout="bfm"))
  with pytest.raises(ValueError, match="source must be one of"):
    vae_method.coefficient_table(**dict(kwargs, source="ffhq"))


def test_label_table_reads_the_true_factors(tmp_path):
  from tfface.data import datasets, synthetic  # pylint: disable=g-import-not-at-top
  directory = str(tmp_path / "synthetic")
  synthetic.write_synthetic_dataset(directory, 4, 16, batch_size=4,
                                    model_options={"resolution": 1},
                                    show_progress=False)
  pattern = f"{directory}/synthetic-*.tfrecord"
  table = vae_method.coefficient_table(source="labels", data=pattern,
                                       cache_dir=str(tmp_path / "cache"))
  records = next(iter(datasets.synthetic_dataset(pattern, 16, 4,
                                                 shuffle=False,
                                                 repeat=False)))
  for name in SIZES:
    np.testing.assert_allclose(table[name], records["factors"][name].numpy())
  dataset = vae_method.discofacegan_vae_dataset(
      2, source="labels", data=pattern, cache_dir=str(tmp_path / "cache"))
  assert dataset.num_examples == 4
  batch = next(iter(dataset))
  assert batch["identity"].shape == (2, 25)
