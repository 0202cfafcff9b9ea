"""ConfigNet stage 1, stage 2 and latent-GAN steps on the shared runtime."""

import numpy as np
import pytest
import tensorflow as tf

from tests.methods.confignet import fixtures
from tfface.losses import masked
from tfface.methods.confignet import data
from tfface.methods.confignet import trainer
from tfface.training import loop
from tfface.training import make_strategy

SMALL = dict(
    resolution=32, factors=fixtures.TABLE,
    generator=dict(const_channels=8, channels_3d=(8, 8),
                   channels_3d_post=(4, 4), projection_channels=16,
                   channels_2d=(8,), mlp_units=16),
    discriminator=dict(num_blocks=2, base_filters=4, max_filters=8),
    vgg_width=0.0625, preview_count=2, r1_per_output=False,
    pixel_l1_weight=1.0, mouth_loss_weight=1.0)


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
  return fixtures.write_toy_data(str(tmp_path_factory.mktemp("cn_data")))


def _dataset(toy_data, batch=8):
  return data.confignet_dataset(batch, synthetic_pattern=toy_data[0],
                                real_source=toy_data[1], image_size=32)


def _weights(method, name):
  return [w.numpy().copy() for w in method.nets[name].weights]


def _changed(before, after):
  return any(not np.allclose(a, b) for a, b in zip(before, after))


def test_dataset_halves(toy_data):
  batch = next(iter(_dataset(toy_data, 8)))
  assert batch["synthetic"]["image"].shape == (4, 32, 32, 3)
  assert batch["real"]["image"].shape == (4, 32, 32, 3)
  assert batch["synthetic"]["factors"]["pose"].shape == (4, 3)
  with pytest.raises(ValueError, match="even"):
    _dataset(toy_data, 7)


def test_stage1_then_stage2_mirrored(toy_data, tmp_path):
  strategy = make_strategy("mirrored", 2)
  assert strategy.num_replicas_in_sync == 2
  config = loop.LoopConfig(max_steps=2, checkpoint_every=2, image_every=2,
                           summary_every=1, log_every=1)
  stage1 = trainer.ConfigNetStage1(**SMALL)
  losses = loop.run_training(stage1, _dataset(toy_data), str(tmp_path / "s1"),
                             config, strategy=strategy)
  for key in ("d_real_gan", "d_real_r1", "d_syn_gan", "d_domain_gan",
              "g_image", "g_eye", "g_gan_syn", "g_gan_real", "g_domain",
              "g_regression", "g_mouth"):
    assert np.isfinite(losses[key]), key
  assert losses["d_real_r1"] > 0
  # The EMA generator moved toward the trained one but is not equal to it.
  g = _weights(stage1, "generator")
  g_ema = _weights(stage1, "generator_ema")
  assert _changed(g, g_ema)
  # Previews hold the first replica's faces, not zeros.
  assert float(tf.reduce_max(tf.abs(stage1.preview["synthetic"]))) > 0
  images = stage1.image_summaries()
  assert images["synthetic/reconstruction"].shape == (2, 32, 32, 3)
  assert images["sweep/yaw"].shape[0] == 5

  stage2 = trainer.ConfigNetStage2(
      init_checkpoint=str(tmp_path / "s1"), encoder_backbone="small",
      encoder_widths=(8, 8), **SMALL)
  # Build alone first: the stage-1 weights must be loaded into G and E_S.
  with strategy.scope():
    stage2.global_step = tf.Variable(0, dtype=tf.int64)
    stage2.seed, stage2.global_batch_size = 0, 8
    stage2.build()
  for name in ("generator", "synthetic_encoder", "d_real", "regressor"):
    for a, b in zip(_weights(stage1, name), _weights(stage2, name)):
      np.testing.assert_allclose(a, b)
  stage2 = trainer.ConfigNetStage2(
      init_checkpoint=str(tmp_path / "s1"), encoder_backbone="small",
      encoder_widths=(8, 8), **SMALL)
  losses = loop.run_training(stage2, _dataset(toy_data), str(tmp_path / "s2"),
                             config, strategy=strategy)
  assert np.isfinite(losses["g_image_real"]) and losses["g_image_real"] > 0
  assert np.isfinite(losses["g_domain"])
  # E_R is trained in stage 2: the G-side optimizer holds momentum for it.
  opt = stage2.g_optimizer
  kernel = stage2.real_encoder.z_head.kernel
  momentum = opt._momentums[opt._get_variable_index(kernel)]  # pylint: disable=protected-access
  assert float(tf.reduce_max(tf.abs(momentum))) > 0
  images = stage2.image_summaries()
  assert images["real/reconstruction"].shape == (2, 32, 32, 3)


def test_stage2_rejects_missing_checkpoint(tmp_path):
  method = trainer.ConfigNetStage2(init_checkpoint=str(tmp_path / "none"),
                                   encoder_backbone="small", **SMALL)
  method.global_step = tf.Variable(0, dtype=tf.int64)
  method.seed, method.global_batch_size = 0, 2
  with pytest.raises(ValueError, match="no checkpoint"):
    method.build()


def test_latent_gan_steps(tmp_path):
  z = np.random.default_rng(0).normal(2.0, 0.5, [64, 6]).astype(np.float32)
  path = str(tmp_path / "emb.npy")
  np.save(path, z)
  dataset = data.embedding_dataset(8, embeddings_path=path)
  method = trainer.ConfigNetLatentGAN(latent_dim=6, hidden=16,
                                      learning_rate=1e-3)
  config = loop.LoopConfig(max_steps=3, checkpoint_every=3, image_every=0,
                           log_every=1)
  losses = loop.run_training(method, dataset, str(tmp_path / "lat"), config)
  assert losses["d_r1"] >= 0 and np.isfinite(losses["g_gan"])
  with pytest.raises(ValueError, match="expected"):
    data.embedding_dataset(8, embeddings_path=str(tmp_path / "missing.npy"))


def test_box_losses_are_masked_l1_warmed_up_over_their_steps():
  method = trainer.ConfigNetStage1(
      mouth_loss_weight=4.0, eye_box_loss_weight=2.0,
      landmark_loss_warmup=(10, 30),
      **{k: v for k, v in SMALL.items() if k != "mouth_loss_weight"})
  method.global_step = tf.Variable(0, dtype=tf.int64)
  landmarks = np.zeros([2, 68, 2], np.float32)
  landmarks[:, 48:68] = [16.0, 20.0]  # mouth box (margin 2): 14..22
  landmarks[:, 36:48] = [16.0, 8.0]   # eye box: rows 6..10
  batch = {"synthetic": {"landmarks": tf.constant(landmarks)}}
  target = np.zeros([2, 32, 32, 3], np.float32)
  generated = np.zeros_like(target)
  generated[:, 19:22, 15:18] = 0.5  # inside the mouth box only
  generated[:, 28:32, 0:5] = 1.0    # outside both: ignored
  mask = masked.landmark_box_mask(tf.constant(landmarks), 32)
  inside = float(0.5 * 9 / tf.reduce_sum(mask[0]))
  for step, ramp in ((0, 0.0), (10, 0.0), (20, 0.5), (30, 1.0), (99, 1.0)):
    method.global_step.assign(step)
    losses = method._box_losses(batch, tf.constant(target),
                                tf.constant(generated))
    assert sorted(losses) == ["g_eye_box", "g_mouth"]
    assert float(losses["g_mouth"]) == pytest.approx(ramp * 4.0 * inside,
                                                     rel=1e-5), step
    assert float(losses["g_eye_box"]) == 0.0
  generated[:, 7:9, 15:17] = -1.0  # now inside the eye box too
  assert float(method._box_losses(batch, tf.constant(target),
                                  tf.constant(generated))["g_eye_box"]) > 0
  with pytest.raises(ValueError, match="landmark_loss_warmup"):
    trainer.ConfigNetStage1(landmark_loss_warmup=(30, 10))
