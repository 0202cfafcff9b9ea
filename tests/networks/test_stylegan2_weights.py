"""StyleGAN2 weights files and load_stylegan2_generator (file or run dir)."""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from tfface import config as config_lib
from tfface import networks
from tfface.networks import stylegan2
from tfface.networks import stylegan2_weights
from tfface.training import checkpoints

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def _random_generator(seed=0):
  """A tiny built generator with random (non-default) weights everywhere."""
  g = stylegan2.Generator(16, {4: 8, 8: 6, 16: 4}, z_dim=8, style_dim=8,
                          mapping_layers=3)
  g.build_all()
  rng = np.random.default_rng(seed)
  for v in g.named_variables().values():
    v.assign(rng.standard_normal(v.shape).astype(np.float32) * 0.5)
  return g


def _random_discriminator(seed=1):
  d = stylegan2.Discriminator(16, {4: 8, 8: 6, 16: 4})
  d.build_all()
  rng = np.random.default_rng(seed)
  for v in d.named_variables().values():
    v.assign(rng.standard_normal(v.shape).astype(np.float32) * 0.5)
  return d


def _same_images(g1, g2, atol=0.0):
  z = tf.random.normal([2, g1.z_dim], seed=3)
  np.testing.assert_allclose(g1(z, noise_mode="const").numpy(),
                             g2(z, noise_mode="const").numpy(), rtol=0,
                             atol=atol)


def test_export_model_weights_round_trip(tmp_path):
  g = _random_generator()
  path = str(tmp_path / "again.npz")
  stylegan2_weights.export_model_weights(path, g)
  g2 = stylegan2_weights.load_generator(path)
  z = tf.random.normal([2, 8])
  np.testing.assert_array_equal(g(z, noise_mode="const").numpy(),
                                g2(z, noise_mode="const").numpy())
  np.testing.assert_array_equal(g2.w_avg.numpy(), g.w_avg.numpy())
  assert not os.path.exists(path + ".tmp.npz")  # written atomically
  with pytest.raises(stylegan2_weights.WeightsError, match="no discriminator"):
    stylegan2_weights.load_discriminator(path)


def test_discriminator_round_trip(tmp_path):
  g, d = _random_generator(), _random_discriminator()
  path = str(tmp_path / "both.npz")
  stylegan2_weights.export_model_weights(path, g, d)
  config, arrays = stylegan2_weights.load_weights(path)
  assert set(config) == {"generator", "discriminator"}
  assert config["generator"] == g.config()
  assert {k.split("/")[0] for k in arrays} == {"generator", "discriminator"}
  d2 = stylegan2_weights.load_discriminator(path)
  images = np.random.default_rng(2).uniform(-1, 1, [4, 16, 16, 3]).astype(
      np.float32)
  np.testing.assert_array_equal(d(images).numpy(), d2(images).numpy())


def test_weights_must_match_the_architecture():
  g = _random_generator()
  config = g.config()
  arrays = {k: v.numpy() for k, v in g.named_variables().items()}
  arrays["synthesis.conv1.activate.bias"] = np.zeros(3, np.float32)
  with pytest.raises(stylegan2_weights.WeightsError,
                     match="conv1.activate.bias"):
    stylegan2_weights.build_generator(config, arrays)
  del arrays["synthesis.conv1.activate.bias"]
  with pytest.raises(stylegan2_weights.WeightsError, match="missing"):
    stylegan2_weights.build_generator(config, arrays)


def test_weights_file_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="no tfface weights file"):
    stylegan2_weights.load_weights(str(tmp_path / "missing.npz"))
  np.savez(tmp_path / "no_config.npz", x=np.zeros(2))
  with pytest.raises(stylegan2_weights.WeightsError, match="no 'config'"):
    stylegan2_weights.load_weights(str(tmp_path / "no_config.npz"))
  (tmp_path / "text.npz").write_text("not an archive")
  with pytest.raises(stylegan2_weights.WeightsError, match="not a tfface"):
    stylegan2_weights.load_weights(str(tmp_path / "text.npz"))
  np.save(tmp_path / "one.npy", np.zeros(2))
  with pytest.raises(stylegan2_weights.WeightsError, match="one array"):
    stylegan2_weights.load_weights(str(tmp_path / "one.npy"))
  assert issubclass(stylegan2_weights.WeightsError, ValueError)


def test_load_stylegan2_generator_from_a_weights_file(tmp_path):
  assert networks.load_stylegan2_generator is (
      stylegan2_weights.load_stylegan2_generator)
  g = _random_generator()
  path = str(tmp_path / "g.npz")
  stylegan2_weights.export_model_weights(path, g)
  _same_images(g, networks.load_stylegan2_generator(path))


def _stylegan2_run(model_dir):
  """A StyleGAN2 run directory (gin/stylegan2/test.gin), checkpointed
  untrained at step 7: what tools/train.py leaves, without the training."""
  gin.clear_config()
  config_lib.parse_config([os.path.join(REPO, "gin/stylegan2/test.gin")],
                          finalize=False)
  from tfface.methods.stylegan2 import StyleGAN2Method  # pylint: disable=g-import-not-at-top
  method = StyleGAN2Method()
  method.global_step = tf.Variable(7, dtype=tf.int64, trainable=False)
  method.global_batch_size = 2
  method.seed = 0
  method.build()
  rng = np.random.default_rng(4)
  for v in method.g_ema.named_variables().values():
    v.assign(rng.standard_normal(v.shape).astype(np.float32) * 0.5)
  os.makedirs(model_dir)
  with open(os.path.join(model_dir, "operative_config.gin"), "w") as f:
    f.write(gin.config_str())
  checkpoint = tf.train.Checkpoint(step=method.global_step,
                                   **method.checkpoint_items())
  checkpoints.CheckpointKeeper(checkpoint, model_dir,
                               tf.distribute.get_strategy()).save(7)
  gin.clear_config()
  return method


def test_load_stylegan2_generator_from_a_run_directory(tmp_path):
  model_dir = str(tmp_path / "run")
  method = _stylegan2_run(model_dir)
  g = networks.load_stylegan2_generator(model_dir)
  assert isinstance(g, stylegan2.Generator)
  _same_images(method.g_ema, g)
  # gin_params reach the run's config (here: a generator option).
  gin.clear_config()
  g = networks.load_stylegan2_generator(
      model_dir, gin_params=["StyleGAN2Method.fused_modconv = True"])
  assert g.synthesis.conv1.conv.fused
  _same_images(method.g_ema, g, atol=1e-3)


def test_load_stylegan2_generator_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="expected a tfface StyleGAN2 "
                     "weights .npz"):
    networks.load_stylegan2_generator(str(tmp_path / "nothing"))
  with pytest.raises(FileNotFoundError, match="no StyleGAN2 generator"):
    networks.load_stylegan2_generator("")
  with pytest.raises(ValueError, match="without operative_config.gin"):
    networks.load_stylegan2_generator(str(tmp_path))
  (tmp_path / "notes.txt").write_text("hello")
  with pytest.raises(stylegan2_weights.WeightsError, match="not a tfface"):
    networks.load_stylegan2_generator(str(tmp_path / "notes.txt"))
  # A run of another method.
  run = tmp_path / "toy_run"
  run.mkdir()
  (run / "operative_config.gin").write_text(
      open(os.path.join(REPO, "tests/training/toy.gin")).read())
  from tests.training import toy_method  # pylint: disable=g-import-not-at-top
  gin.clear_config()
  toy = toy_method.ToyRegression()
  toy.global_step = tf.Variable(1, dtype=tf.int64, trainable=False)
  toy.build()
  checkpoints.CheckpointKeeper(
      tf.train.Checkpoint(step=toy.global_step, **toy.checkpoint_items()),
      str(run), tf.distribute.get_strategy()).save(1)
  with pytest.raises(ValueError, match="not a StyleGAN2 run"):
    networks.load_stylegan2_generator(str(run))
