"""A few-step DiscoFaceGAN run under MirroredStrategy (2 logical CPUs)."""

import numpy as np
import pytest

from tests.methods.discofacegan.conftest import arrays


def test_losses_finite_and_imitative_terms_reported(trained):
  method, losses, _, _ = trained
  for name, value in losses.items():
    assert np.isfinite(float(value)), name
  # 16 px (LOD 2) is above pixel_max_resolution 8: the net terms run.
  assert float(losses["lod"]) == 2.0
  assert float(losses["imitative_landmarks"]) > 0
  assert float(losses["imitative_identity"]) >= 3 * 0.3 - 1e-6
  assert float(losses["imitative_skin"]) > 0
  assert "imitative_pixel" not in losses  # only used at <= 8 px
  assert float(losses["d_r1"]) >= 0
  assert int(method.global_step.numpy()) == 3


def test_generator_changed_frozen_nets_did_not(trained):
  method, _, before, _ = trained
  after = arrays(method.generator.trainable_variables)
  assert any(np.abs(a - b).max() > 0 for a, b in zip(before["generator"],
                                                      after))
  for a, b in zip(before["vae"], arrays(method.vaes.decoder_variables)):
    np.testing.assert_array_equal(a, b)
  nets = (method.reconstruction_net, method.identity_net, method.parser_net)
  for old, net in zip(before["nets"], nets):
    for a, b in zip(old, arrays(net.weights)):
      np.testing.assert_array_equal(a, b)


def test_progressive_lods_eagerly(trained):
  """Each LOD's D and G losses (a Python LOD: no switch), the schedule and
  the resolution switch of the imitative terms."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfface.methods.discofacegan import method as method_lib  # pylint: disable=g-import-not-at-top
  from tests.methods.discofacegan.conftest import dfg_test_vaes  # pylint: disable=g-import-not-at-top
  trained_method = trained[0]
  method = method_lib.DiscoFaceGANMethod(
      resolution=16, w_dim=16, mapping_layers=2, fmap_base=64, fmap_max=16,
      start_lod=1, first_lod_images=4, images_per_lod=8, fade_images=4,
      lod_batch_sizes=[4], pixel_max_resolution=8, vaes=dfg_test_vaes(),
      reconstruction=trained_method.reconstruction_net,
      identity=trained_method.identity_net, parser=None,
      num_image_samples=2)
  method.build()
  # 8 px for one step, a 4-image fade-in to 16 px, then 16 px.
  assert [method.lod_and_alpha_at(s) for s in range(3)] == [(1, 1.0), (2, 0.0),
                                                     (2, 1.0)]
  real = tf.random.uniform([4, 16, 16, 3], -1, 1, seed=1)
  _, lam, noise = method.sampler.sample(4, tf.constant([1, 1]))
  render = method.render(lam)
  assert render["mask"].numpy().mean() > 0.05  # the face region is drawn
  low = method.generator_losses({}, 1, 1.0, 4, render, lam, noise)
  assert float(low["imitative_pixel"]) > 0
  assert float(low["imitative_landmarks"]) == 0.0
  fade = method.generator_losses({}, 2, 0.5, 4, render, lam, noise)
  assert float(fade["imitative_landmarks"]) > 0
  assert float(fade["imitative_pixel"]) == 0.0
  assert sorted(low) == sorted(fade)  # one structure for every branch
  d = method.discriminator_losses(real, 1, 1.0, 4)
  assert np.isfinite(float(d["d_total"])) and float(d["d_r1"]) >= 0
  # Reals at a LOD: pooled, and at α = 0 exactly the previous LOD upsampled.
  faded = method.images_at_lod(real, 2, 0.0)
  np.testing.assert_allclose(
      faded, np.repeat(np.repeat(method.images_at_lod(real, 1, 1.0), 2, 1), 2, 2),
      atol=1e-6)
  images, lam = method.sample(lod=1)
  assert images.shape == (2, 16, 16, 3)
  # With every imitative weight 0 (the adversarial-only ablation) no step
  # renders λ and G has only its GAN term.
  assert method.uses_render()
  method.imitative.weights = {k: 0.0 for k in method.imitative.weights}
  assert not method.uses_render()
  _, lam, noise = method.sampler.sample(4, tf.constant([1, 1]))
  bare = method.generator_losses({}, 2, 1.0, 4, None, lam, noise)
  assert set(bare) == {"g_gan", "g_total"} | {
      k for k in bare if float(bare[k]) == 0.0}
  assert float(bare["g_total"]) == pytest.approx(float(bare["g_gan"]))


def test_stage2_contrastive_terms_eagerly(trained):
  """Stage 2 at the top LOD: one expression pair and one lighting pair, the
  contrastive terms of part A's losses, w_lm 100."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfface.methods.discofacegan import method as method_lib  # pylint: disable=g-import-not-at-top
  from tests.methods.discofacegan.conftest import dfg_test_vaes  # pylint: disable=g-import-not-at-top
  t = trained[0]
  method = method_lib.DiscoFaceGANMethod(
      resolution=16, w_dim=16, mapping_layers=2, fmap_base=64, fmap_max=16,
      start_lod=2, lod_batch_sizes=[4], pixel_max_resolution=8,
      vaes=dfg_test_vaes(), reconstruction=t.reconstruction_net,
      identity=t.identity_net, parser=t.parser_net, stage=2,
      num_image_samples=2)
  method.build()
  assert method.imitative.weights["landmarks"] == 100.0
  inputs, lam = method.contrastive_inputs(tf.constant([3, 4]), 1)
  parts = [method.layout.split(l) for l in tf.split(lam, 4)]
  np.testing.assert_array_equal(parts[0]["identity"], parts[1]["identity"])
  np.testing.assert_array_equal(parts[0]["sh"], parts[1]["sh"])
  assert np.abs(parts[0]["expression"] - parts[1]["expression"]).max() > 0
  np.testing.assert_array_equal(parts[2]["expression"],
                                parts[3]["expression"])
  assert np.abs(parts[2]["sh"] - parts[3]["sh"]).max() > 0
  np.testing.assert_array_equal(inputs[2:3, -32:], inputs[3:4, -32:])
  _, lam4, noise = method.sampler.sample(4, tf.constant([1, 1]))
  terms = method.generator_losses({}, 2, 1.0, 4, method.render(lam4), lam4,
                                  noise)
  for key in ("contrastive_exp_warp", "contrastive_gamma_change",
              "g_gan_contrastive"):
    assert np.isfinite(float(terms[key])) and float(terms[key]) > 0, key
  assert sorted(terms) == method.generator_loss_keys()
  # The same terms inside a traced function, as the training step runs them.
  images = method.generator(inputs, lod=2)
  traced = tf.function(lambda x, l: method.contrastive_losses(x, l, 1))(
      images, lam)
  eager = method.contrastive_losses(images, lam, 1)
  for key, value in eager.items():
    np.testing.assert_allclose(float(traced[key]), float(value), rtol=1e-4)
