"""StyleALAE: E and D, the three-phase update order, R1 on images, the fade-in,
a few steps under MirroredStrategy with 2 logical CPUs, and the export in a
fresh process."""

import json
import os
import subprocess
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf

from tfface import config as config_lib
from tfface import export as export_lib
from tfface import training
from tfface.methods.latent import alae
from tfface.methods.latent import codes
from tfface.methods.stylegan2 import stylegan2_dataset
from tfface.networks import alae as alae_networks
from tfface.networks import stylegan1 as s1

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
TINY = dict(resolution=8, latent_size=8, start_channels=4, max_channels=8,
            mapping_layers=2, images_per_lod=32, fade_images=8,
            lod_batch_sizes=(8, 4), num_image_samples=4)
GROUPS = ("mapping", "generator", "encoder", "discriminator")


def _gin(name):
  return os.path.join(REPO, "gin", "latent", name)


@pytest.fixture(scope="module")
def method():
  m = alae.StyleALAEMethod(**TINY)
  m.build()
  return m


@pytest.fixture(scope="module")
def real():
  return tf.random.stateless_uniform([8, 8, 8, 3], [1, 2], -1.0, 1.0)


def _snapshot(m):
  return {g: [v.numpy().copy() for v in getattr(m, g).trainable_variables]
          for g in GROUPS}


def _changed(before, m):
  return {g for g in GROUPS
          if any(np.any(a != v.numpy())
                 for a, v in zip(before[g], getattr(m, g).trainable_variables))}


# -- E and D -------------------------------------------------------------------


def test_encoder_shapes_and_fade_in():
  e = alae_networks.StyleEncoder((8, 8, 4), 6, last_channels=8,
                                 fused_min_resolution=16)
  e.build_all()
  x = tf.random.stateless_uniform([2, 16, 16, 3], [3, 4], -1.0, 1.0)
  assert e(x).shape == (2, 6)
  assert e(x[:, ::4, ::4], lod=0).shape == (2, 6)
  assert isinstance(e.blocks[2].conv_2, s1.FusedDownConv2D)
  # alpha = 1 is the plain top LOD; alpha = 0 is the LOD below on the
  # average-pooled image (the new block's styles count 0 times).
  np.testing.assert_allclose(e(x, alpha=tf.constant(1.0)).numpy(),
                             e(x).numpy(), atol=1e-6)
  np.testing.assert_allclose(e(x, alpha=tf.constant(0.0)).numpy(),
                             e(s1.downsample_average(x), lod=1).numpy(),
                             atol=1e-6)
  half = e(x, alpha=tf.constant(0.5)).numpy()
  assert np.abs(half - e(x).numpy()).max() > 1e-3
  with pytest.raises(ValueError, match="lod"):
    e(x, lod=3)


def test_latent_discriminator_is_affine_unless_asked():
  w1, w2 = tf.random.normal([4, 8], seed=5), tf.random.normal([4, 8], seed=6)
  for activation, affine in ((None, True), ("lrelu", False)):
    d = alae_networks.LatentDiscriminator(8, activation=activation)
    d.build_all()
    assert d(w1).shape == (4, 1)
    mixed = d(0.3 * w1 + 0.7 * w2).numpy()
    lines = 0.3 * d(w1).numpy() + 0.7 * d(w2).numpy()
    assert np.allclose(mixed, lines, atol=1e-5) == affine
  with pytest.raises(ValueError, match="activation"):
    alae_networks.LatentDiscriminator(8, activation="relu")


# -- the three phases ----------------------------------------------------------


@pytest.mark.parametrize("phase, updated", [
    ("discriminator", {"encoder", "discriminator"}),
    ("generator", {"mapping", "generator"}),
    ("autoencoder", {"encoder", "generator", "mapping"}),
])
def test_each_phase_updates_only_its_networks(method, real, phase, updated):
  before = _snapshot(method)
  losses = method.run_phase(phase, real, 1, tf.constant(0.5))
  assert all(np.isfinite(float(v)) for v in losses.values())
  assert _changed(before, method) == updated


def test_latent_ae_step_of_the_paper_leaves_f_alone(real):
  m = alae.StyleALAEMethod(latent_ae_trains_mapping=False, **TINY)
  m.build()
  before = _snapshot(m)
  m.run_phase("autoencoder", real, 0, 1.0)
  assert _changed(before, m) == {"encoder", "generator"}


@pytest.mark.parametrize("phase, nonzero, none", [
    # Fakes are detached in the D step: no gradient reaches F or G.
    ("discriminator", {"encoder", "discriminator"}, {"mapping", "generator"}),
    # The G step differentiates through E and D (they are not updated).
    ("generator", set(GROUPS), set()),
    # D is not in the latent AE loss.
    ("autoencoder", {"mapping", "generator", "encoder"}, {"discriminator"}),
])
def test_which_gradients_are_nonzero_per_phase(method, real, phase, nonzero,
                                               none):
  groups = {g: getattr(method, g).trainable_variables for g in GROUPS}
  with tf.GradientTape() as tape:
    loss = method.phase_losses(phase, real, 1, tf.constant(0.5))[
        alae.OPTIMIZED_LOSS[phase]]
  grads = tape.gradient(loss, groups)
  for g in GROUPS:
    if g in none:
      assert all(x is None for x in grads[g]), g
    else:
      total = sum(float(tf.reduce_sum(tf.abs(x))) for x in grads[g]
                  if x is not None)
      assert (total > 0) == (g in nonzero), (g, total)
  updated = {id(v) for _, vs in method.phase_updates(phase) for v in vs}
  want = {"discriminator": {"encoder", "discriminator"},
          "generator": {"mapping", "generator"},
          "autoencoder": {"encoder", "generator", "mapping"}}[phase]
  assert updated == {id(v) for g in want for v in groups[g]}


def test_r1_is_the_squared_input_gradient_of_d_of_e(method, real):
  lod, alpha = 1, tf.constant(0.5)
  losses = method.phase_losses("discriminator", real, lod, alpha)
  x = method.images_at_lod(real[:4], lod, alpha)  # LOD 1 trains on 4 images
  with tf.GradientTape() as tape:
    tape.watch(x)
    total = tf.reduce_sum(method.discriminator(
        method.encoder(x, lod=lod, alpha=alpha)))
  grad = tape.gradient(total, x).numpy()
  want = np.mean(np.sum(grad.reshape(4, -1)**2, axis=1))
  np.testing.assert_allclose(float(losses["d_r1"]), want, rtol=1e-4)
  np.testing.assert_allclose(float(losses["d_total"]),
                             float(losses["d_gan"]) + 5.0 * want, rtol=1e-4)
  # r1_gamma = 0 reproduces the paper's own re-implementation (no R1).
  off = alae.StyleALAEMethod(r1_gamma=0.0, **TINY)
  off.build()
  out = off.phase_losses("discriminator", real, lod, alpha)
  assert float(out["d_r1"]) == 0.0
  assert float(out["d_total"]) == float(out["d_gan"])


def test_reals_fade_like_the_generator(method, real):
  x1 = real[:4]  # LOD 1 is the full 8 px
  old = s1.upsample_nearest(s1.downsample_average(x1))
  np.testing.assert_array_equal(
      method.images_at_lod(real[:4], 1, tf.constant(0.0)).numpy(), old.numpy())
  np.testing.assert_array_equal(
      method.images_at_lod(real[:4], 1, tf.constant(1.0)).numpy(), x1.numpy())
  np.testing.assert_array_equal(method.images_at_lod(real, 0, 1.0).numpy(),
                                s1.downsample_average(real).numpy())


def test_bad_settings_are_one_clear_error(method, real):
  with pytest.raises(ValueError, match="power of two"):
    alae.StyleALAEMethod(resolution=12)
  with pytest.raises(ValueError, match="channels must list 2"):
    alae.StyleALAEMethod(**dict(TINY, channels=(4,)))
  with pytest.raises(ValueError, match="r1_gamma"):
    alae.StyleALAEMethod(r1_gamma=-1.0)
  with pytest.raises(ValueError, match="phase"):
    method.phase_losses("critic", real, 0, 1.0)
  big = alae.StyleALAEMethod(**dict(TINY, lod_batch_sizes=(16, 4)))
  big.build()
  with pytest.raises(ValueError, match="global_batch_size >= 16"):
    big.train_step({"image": real})


# -- a run under MirroredStrategy, its export and its autoencoder ---------------

PROBE = r"""
import json, sys
import numpy as np
import tensorflow as tf
assert not any(m.startswith("tfface") for m in sys.modules)
loaded = tf.saved_model.load(sys.argv[1])
data = np.load(sys.argv[2])
s = loaded.signatures
image, z = tf.constant(data["image"]), tf.constant(data["z"])
code = s["encode"](image=image)["z"]
out = {"keys": sorted(s.keys()),
       "meta": json.loads(s["metadata"]()["json"].numpy().decode()),
       "encode": code.numpy().tolist(),
       "decode": s["decode"](z=code)["image"].numpy().tolist(),
       "generate": s["generate"](z=z, truncation_psi=tf.constant(0.7))
                   ["image"].numpy().tolist(),
       "serving_default": s["serving_default"](z=code)["image"].numpy().tolist()}
try:
  s["encode"](image=image[0])
except tf.errors.InvalidArgumentError as e:
  out["error"] = e.message
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """alae_test.gin, 8 steps on 2 logical CPUs: LOD 0 for steps 0-3, LOD 1
  fades in over steps 4-5."""
  gin.clear_config()
  config_lib.parse_config([_gin("alae_test.gin")], finalize=False)
  m = alae.StyleALAEMethod()
  strategy = training.make_strategy("mirrored", 2)
  assert strategy.num_replicas_in_sync == 2
  model_dir = str(tmp_path_factory.mktemp("alae") / "run")
  losses = training.run_training(
      m, stylegan2_dataset(8), model_dir,
      training.LoopConfig(max_steps=8, checkpoint_every=8, image_every=8,
                          summary_every=1, log_every=4),
      strategy=strategy, operative_config=gin.config_str())
  gin.clear_config()
  return m, losses, model_dir


def test_trains_through_the_fade_in_under_mirrored_strategy(trained):
  m, losses, _ = trained
  assert all(np.isfinite(v) for v in losses.values())
  assert int(m.global_step.numpy()) == 8
  assert m.schedule.start_steps == (0, 4)
  assert losses["lod"] == 1.0 and losses["alpha"] == 1.0
  assert [m.schedule.alpha_at(t) for t in (3, 4, 5, 6)] == [1.0, 0.0,
                                                            0.5, 1.0]
  # Adam restarted at the LOD change: 2 updates per step (D + AE step for
  # E's optimizer, G + AE step for G's) over steps 4..7 only.
  assert int(m.encoder_optimizer.iterations.numpy()) == 8
  assert int(m.decoder_optimizer.iterations.numpy()) == 8
  assert m.lod_and_alpha_at() == (1, 1.0)
  # Replicas stay identical; the EMA copy lags the trained networks.
  for v in m.model.trainable_variables:
    parts = [p.numpy() for p in v.value.values]
    np.testing.assert_array_equal(parts[0], parts[1])
  assert any(np.abs(a.numpy() - b.numpy()).max() > 1e-6 for a, b in
             zip(m.model.trainable_variables, m.model_ema.trainable_variables))
  assert np.abs(m.mapping.w_avg.numpy()).max() > 0
  summaries = m.image_summaries()
  assert summaries["reals_and_reconstructions"].shape == (8, 8, 8, 3)


def test_export_round_trip_in_a_fresh_process(trained, tmp_path):
  m, _, _ = trained
  module, signatures = m.export_signatures()
  assert sorted(signatures) == ["decode", "encode", "generate"]
  path = export_lib.metadata.export_servable(
      module, str(tmp_path / "alae"), signatures, module.export_metadata(),
      module.signature_inputs())
  rng = np.random.default_rng(0)
  image = rng.uniform(-1, 1, [2, 8, 8, 3]).astype(np.float32)
  z = rng.standard_normal([2, 8]).astype(np.float32)
  np.savez(tmp_path / "data.npz", image=image, z=z)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
  env.pop("PYTHONPATH", None)
  result = subprocess.run(
      [sys.executable, "-c", PROBE, path, str(tmp_path / "data.npz")],
      capture_output=True, text=True, env=env, cwd=str(tmp_path),
      timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  line = [l for l in result.stdout.splitlines() if l.startswith("RESULT")][-1]
  out = json.loads(line[len("RESULT"):])
  ae = m.autoencoder()
  code = ae.encode(image)
  np.testing.assert_allclose(out["encode"], code.numpy(), atol=1e-5)
  # Decoding goes through instance norms of nearly constant 4x4 maps (the
  # learned constant plus noise whose weights start at 0), which amplify
  # float rounding: graph and eager kernels agree to ~1e-3 of the output
  # scale here, not to 1e-5.
  for got, want in ((out["decode"], ae.decode(code)),
                    (out["generate"], ae.generate(z, 0.7))):
    want = np.clip(want, -1, 1)
    assert np.abs(np.array(got) - want).max() <= 1e-2 * np.abs(want).max()
  np.testing.assert_allclose(out["serving_default"], out["decode"])
  assert {"encode", "decode", "generate", "metadata",
          "serving_default"} <= set(out["keys"])
  assert out["meta"]["method"] == "alae" and out["meta"]["code_size"] == 8
  assert out["meta"]["lod"] == 1
  assert "encode: image must be [B, 8, 8, 3]" in out["error"]


def test_autoencoder_file_round_trip(trained, tmp_path):
  m, _, _ = trained
  ae = m.autoencoder()
  assert isinstance(ae, codes.LatentAutoencoder)
  assert (ae.code_size, ae.image_size) == (8, 8)
  path = str(tmp_path / "alae.npz")
  codes.save_autoencoder(path, ae, {"step": 8})
  loaded = alae.load_style_alae(path)
  images = tf.random.stateless_uniform([3, 8, 8, 3], [5, 6], -1.0, 1.0)
  np.testing.assert_allclose(loaded.encode(images).numpy(),
                             ae.encode(images).numpy(), atol=1e-6)
  np.testing.assert_allclose(loaded.reconstruct(images).numpy(),
                             ae.reconstruct(images).numpy(), atol=1e-6)
  grid = alae.reconstruction_grid(loaded, images.numpy(),
                                  np.zeros([3, 8], np.float32))
  assert grid.shape == (24, 24, 3) and grid.dtype == np.uint8


def test_restored_run_knows_its_stage(trained):
  _, _, model_dir = trained
  restored = training.restore_run(model_dir)
  assert int(restored.global_step.numpy()) == 8
  assert restored.lod_and_alpha_at() == (1, 1.0)
  assert restored.autoencoder().lod == 1


# -- gin ------------------------------------------------------------------------


def test_celeba_config_is_the_reference_schedule():
  config_lib.parse_config([_gin("alae_celeba_128.gin")], finalize=False)
  m = alae.StyleALAEMethod()
  assert (m.resolution, m.latent_size, m.num_lods) == (128, 256, 6)
  assert m.lod_batch_sizes == (128, 128, 128, 64, 32, 16)
  assert m.lod_learning_rates == (0.0015,) * 6
  assert m.r1_gamma == 10.0 and m.network_config["d_activation"] is None
  assert s1.alae_channels(6, 64, 256) == (256, 256, 256, 256, 128, 64)
  # train.max_steps is 80 epochs: 5 LODs of 6 epochs, then 50 at 128 px.
  assert gin.query_parameter("train.max_steps") == m.schedule.total_steps(
      50 * alae.CELEBA_TRAIN_IMAGES)
  assert gin.query_parameter("train.global_batch_size") == 128


def test_cpu_config_builds():
  config_lib.parse_config([_gin("alae_cpu_64.gin")], finalize=False)
  m = alae.StyleALAEMethod()
  assert m.resolution in (32, 64)
  assert gin.query_parameter("train.global_batch_size") >= max(
      m.lod_batch_sizes)
