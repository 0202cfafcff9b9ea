"""DiscoFaceGAN's λ-space VAEs (tfface.methods.discofacegan.vae)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.discofacegan import vae as vae_lib


def test_factor_vae_loss_hand_values():
  x = tf.constant([[1.0, -1.0], [0.5, 2.0]])
  outputs = {"mean": tf.constant([[0.5], [-1.0]]),
             "log_sd": tf.constant([[0.0], [math.log(2.0)]]),
             "x_hat": tf.constant([[0.0, -1.0], [0.5, 1.0]]),
             "loggamma_x": tf.constant(math.log(0.5))}
  terms = vae_lib.factor_vae_loss(x, outputs)
  # KL: ((0.25 + 1 - 0 - 1) + (1 + 4 - 2 log 2 - 1)) / 2 / 2.
  kl = ((0.25 + 1.0 - 1.0) + (1.0 + 4.0 - 2 * math.log(2.0) - 1.0)) / 4.0
  # gen: Σ over the 4 entries of (d / 0.5)^2 / 2 + log 0.5 + ½ log 2π, / 2;
  # the residuals are 1, 0, 0, 1.
  gen = (2 * (1.0 / 0.25) / 2.0 + 4 * (math.log(0.5) + 0.9189385)) / 2.0
  assert float(terms["kl"]) == pytest.approx(kl, rel=1e-5)
  assert float(terms["reconstruction"]) == pytest.approx(gen, rel=1e-5)
  assert float(terms["total"]) == pytest.approx(kl + gen, rel=1e-5)
  assert float(terms["squared_error"]) == pytest.approx(1.0)
  assert float(terms["gamma_x"]) == pytest.approx(0.5)
  # A global divisor (distribution strategies).
  halved = vae_lib.factor_vae_loss(x, outputs, batch_size=4)
  assert float(halved["total"]) == pytest.approx((kl + gen) / 2, rel=1e-5)


def test_factor_vae_architecture_and_sampling():
  vae = vae_lib.FactorVAE(5, 3, 8)
  vae.build()
  from tfface.analysis import weights  # pylint: disable=g-import-not-at-top
  shapes = {k: tuple(v.shape) for k, v in weights.named_variables(vae).items()}
  # Encoder fc0..2 + mean + log_sd, decoder fc0..2 + x_hat, loggamma_x.
  assert len(shapes) - 2 == 2 * 5 + 2 * 4 + 1 == len(vae.trainable_variables)
  assert shapes["x_shift"] == shapes["x_scale"] == (5,)
  assert shapes["encoder/fc0/kernel"] == (5, 8)
  assert shapes["encoder/log_sd/kernel"] == (8, 3)
  assert shapes["decoder/fc0/kernel"] == (3, 8)
  assert shapes["decoder/x_hat/kernel"] == (8, 5)
  assert shapes["decoder/loggamma_x"] == ()
  assert float(vae.decoder.loggamma_x) == 0.0 and float(vae.gamma_x) == 1.0
  x = tf.random.normal([4, 5])
  deterministic = vae(x, sample=False)
  np.testing.assert_allclose(deterministic["z"], deterministic["mean"])
  noise = tf.ones([4, 3])
  drawn = vae(x, sample=True, noise=noise)
  np.testing.assert_allclose(
      drawn["z"], drawn["mean"] + tf.exp(drawn["log_sd"]), rtol=1e-6)
  assert drawn["x_hat"].shape == (4, 5)
  with pytest.raises(ValueError, match="latent_size"):
    vae_lib.FactorVAE(5, 0, 8)


def test_factor_vaes_sizes_groups_and_frozen_decode():
  vaes = vae_lib.FactorVAEs.for_layout("procedural")
  assert vaes.factors == ("identity", "expression", "illumination", "pose")
  assert dict(vaes.latent_sizes) == {"identity": 28, "expression": 12,
                                     "illumination": 16, "pose": 3}
  assert vaes.z_sizes == dict(vaes.latent_sizes)
  assert dict(vaes.lambda_sizes) == {"identity": 35, "expression": 24,
                                     "illumination": 27, "pose": 3}
  bfm = vae_lib.FactorVAEs(vae_lib.layout_specs("bfm"))  # sizes: no build
  assert bfm.latent_size == 179 and sum(bfm.lambda_sizes.values()) == 254
  z = tf.random.normal([3, vaes.latent_size])
  with tf.GradientTape() as tape:
    parts = vaes.decode(z)
    total = sum(tf.reduce_sum(p) for p in parts.values())
  grads = tape.gradient(total, vaes.trainable_variables)
  assert all(g is None for g in grads)            # frozen: stop_gradient
  # The flat z and the dict of parts decode alike.
  again = vaes.decode(vaes.split_latents(z))
  for factor in vaes.factors:
    np.testing.assert_allclose(parts[factor], again[factor])
  groups = vaes.decode_groups(z)
  assert {k: v.shape[-1] for k, v in groups.items()} == {
      "identity": 25, "albedo": 10, "expression": 24, "sh": 27, "pose": 3}
  back = vaes.groups_to_lambda(groups)
  np.testing.assert_allclose(back["identity"], parts["identity"])
  means = vaes.encode(back)
  assert means["pose"].shape == (3, 3)
  with pytest.raises(ValueError, match=r"\[B, 59\]"):
    vaes.decode(tf.zeros([2, 58]))
  with pytest.raises(ValueError, match="albedo"):
    vaes.groups_to_lambda({"identity": tf.zeros([1, 25])})
  with pytest.raises(ValueError, match="layout"):
    vae_lib.FactorVAEs.for_layout("flame")


def test_save_and_load_round_trip(tmp_path):
  vaes = vae_lib.FactorVAEs.for_layout("procedural", ["expression", "pose"])
  vaes["pose"].decoder.loggamma_x.assign(-1.5)
  path = str(tmp_path / "vaes.npz")
  vae_lib.save_factor_vaes(path, vaes, {"note": "test"})
  loaded = vae_lib.load_factor_vaes(path)
  assert loaded.factors == ("expression", "pose") and not loaded.trainable
  assert loaded.weights_metadata == {"note": "test"}
  assert float(loaded["pose"].decoder.loggamma_x) == pytest.approx(-1.5)
  z = tf.random.normal([4, loaded.latent_size])
  for factor in loaded.factors:
    np.testing.assert_allclose(loaded.decode(z)[factor],
                               vaes.decode(z)[factor], atol=1e-6)
  with pytest.raises(vae_lib.WeightsError, match="not a DiscoFaceGAN VAE"):
    other = str(tmp_path / "other.npz")
    from tfface.networks import stylegan2_weights  # pylint: disable=g-import-not-at-top
    stylegan2_weights.save_weights(other, {"generator": {}}, {})
    vae_lib.load_factor_vaes(other)


def test_merge_takes_factors_from_several_files(tmp_path):
  first = vae_lib.FactorVAEs.for_layout("procedural", ["expression", "pose"])
  second = vae_lib.FactorVAEs.for_layout("procedural", ["pose"])
  second["pose"].decoder.loggamma_x.assign(-2.0)
  paths = [str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]
  vae_lib.save_factor_vaes(paths[0], first)
  vae_lib.save_factor_vaes(paths[1], second)
  merged = vae_lib.load_factor_vaes(",".join(paths))
  assert merged.factors == ("expression", "pose") and not merged.trainable
  assert float(merged["pose"].decoder.loggamma_x) == pytest.approx(-2.0)
  z = tf.random.normal([2, 12])
  np.testing.assert_allclose(merged["expression"].decode(z),
                             first["expression"].decode(z), atol=1e-6)
  bfm = vae_lib.FactorVAEs(vae_lib.layout_specs("bfm", ["expression"]))
  with pytest.raises(ValueError, match="different layouts"):
    vae_lib.merge_factor_vaes(first, bfm)       # expression 24 vs 64


def test_standardization_maps_between_lambda_and_vae_space():
  vae = vae_lib.FactorVAE(2, 2, 4)
  vae.build()
  z = tf.random.normal([3, 2])
  raw = vae.decode(z).numpy()
  vae.set_standardization([1.0, -2.0], [0.5, 3.0])
  np.testing.assert_allclose(vae.decode(z), raw * [0.5, 3.0] + [1.0, -2.0],
                             rtol=1e-5, atol=1e-6)
  x = tf.constant([[2.0, 1.0]])
  out = vae(x, sample=False)
  np.testing.assert_allclose(out["x"], [[2.0, 1.0]])      # (x - shift)/scale
  np.testing.assert_allclose(out["reconstruction"],
                             out["x_hat"] * [0.5, 3.0] + [1.0, -2.0],
                             rtol=1e-6)
  with pytest.raises(ValueError, match="scale > 0"):
    vae.set_standardization([0.0, 0.0], [1.0, 0.0])
