"""λ layout, generator shapes, attribute-preserving truncation, Δw edits and
W+ embedding on tiny random-weight networks."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.discofacegan import editing
from tfface.methods.discofacegan import generator as generator_lib
from tfface.methods.discofacegan import lambda_space as ls
from tfface.methods.discofacegan import truncation
from tests.methods.discofacegan.conftest import TinyVAEs, Z_SIZES


@pytest.fixture(scope="module")
def tiny():
  layout = ls.LambdaLayout()
  tf.keras.utils.set_random_seed(1)
  vaes = TinyVAEs(layout)
  sampler = ls.LambdaSampler(vaes, layout)
  g = generator_lib.DiscoFaceGenerator(layout.input_dim, 16, w_dim=16,
                                       mapping_layers=2, fmap_base=64,
                                       fmap_max=16)
  g.build_all()
  return layout, sampler, g


def test_layouts_split_join_and_render_parameters():
  layout = ls.LambdaLayout()
  assert layout.lambda_dim == 25 + 10 + 24 + 3 + 27 == 89
  assert layout.input_dim == 89 + 32
  bfm = ls.LambdaLayout("bfm")
  assert bfm.lambda_dim == 254 and bfm.input_dim == 286
  lam = tf.random.normal([2, 89], seed=1)
  parts = layout.split(lam)
  assert {k: v.shape[-1] for k, v in parts.items()} == {
      "identity": 35, "expression": 24, "pose": 3, "sh": 27}
  np.testing.assert_array_equal(layout.join(parts), lam)
  # The reference's names work too.
  np.testing.assert_array_equal(layout.join(
      {"id": parts["identity"], "exp": parts["expression"],
       "rot": parts["pose"], "gamma": parts["sh"]}), lam)
  from tfface.analysis import reconstruction  # pylint: disable=g-import-not-at-top
  from tfface.rendering import face_renderer  # pylint: disable=g-import-not-at-top
  renderer = face_renderer.FaceRenderer(reconstruction.procedural_model(2), 8)
  params = layout.render_parameters(lam, renderer)
  np.testing.assert_array_equal(params["albedo"], lam[:, 25:35])
  np.testing.assert_array_equal(params["sh"], lam[:, 62:89])
  np.testing.assert_array_equal(params["translation"], np.zeros([2, 3]))
  np.testing.assert_array_equal(params["gaze"], np.zeros([2, 2]))
  np.testing.assert_array_equal(layout.from_groups(params), lam)
  with pytest.raises(ValueError, match=r"\[B, 89\]"):
    layout.split(tf.zeros([2, 88]))
  with pytest.raises(ValueError, match="layout must be one of"):
    ls.LambdaLayout("flame")


def test_sampler_uses_vae_decoders_and_stops_gradients(tiny):
  layout, sampler, _ = tiny
  assert sampler.z_dim == sum(Z_SIZES.values())
  assert list(sampler.z_sizes) == ["identity", "expression", "sh", "pose"]
  z, lam, noise = sampler.sample(3, tf.constant([1, 2]))
  assert lam.shape == (3, 89) and noise.shape == (3, 32)
  expected = sampler.vaes.decoders["exp"](z["expression"])
  np.testing.assert_allclose(layout.split(lam)["expression"], expected,
                             rtol=1e-6)
  z2, lam2, _ = sampler.sample(3, tf.constant([1, 2]))
  np.testing.assert_array_equal(lam, lam2)  # stateless
  with tf.GradientTape() as tape:
    tape.watch(z["pose"])
    out = sampler.decode(z)
  assert tape.gradient(out, z["pose"]) is None
  flat = sampler.join_z(z)
  np.testing.assert_array_equal(sampler.split_z(flat)["sh"], z["sh"])


@pytest.mark.parametrize("synthesis", ["stylegan1", "stylegan2"])
def test_generator_and_discriminator_shapes(synthesis):
  g = generator_lib.DiscoFaceGenerator(121, 16, w_dim=16, mapping_layers=2,
                                       synthesis=synthesis, fmap_base=64,
                                       fmap_max=16, stylegan2_divisor=64)
  g.build_all()
  assert g.num_layers == 6 and g.num_lods == 3
  x = tf.random.normal([2, 121], seed=2)
  assert g.w_plus(x).shape == (2, 6, 16)
  assert g(x).shape == (2, 16, 16, 3)
  assert g(x, lod=1, alpha=0.5).shape == (2, 8, 8, 3)
  # No pixel norm of the input: scaling [λ, ε] changes w.
  assert not np.allclose(g.map(x), g.map(2.0 * x))
  with pytest.raises(ValueError, match=r"\[B, 121\]"):
    g.map(tf.zeros([2, 120]))
  d = generator_lib.ProgressiveDiscriminator(16, fmap_base=64, fmap_max=16)
  d.build_all()
  for lod in range(3):
    size = 4 * 2**lod
    assert d(tf.zeros([4, size, size, 3]), lod=lod, alpha=0.5).shape == (4, 1)


def test_truncation_only_moves_the_identity_path(tiny):
  layout, sampler, g = tiny
  w_avg = truncation.average_identity_w(g, sampler, num_samples=64,
                                        batch_size=32)
  _, lam, noise = sampler.sample(2, tf.constant([4, 4]))
  # Same identity, other expression / pose / light.
  other = layout.join(dict(layout.split(lam),
                           expression=tf.random.normal([2, 24], seed=5),
                           pose=tf.random.normal([2, 3], seed=6),
                           sh=tf.random.normal([2, 27], seed=7)))
  w = g.w_plus(layout.with_noise(lam, noise))
  for psi in (0.0, 0.7):
    t1 = truncation.truncate(g, layout, lam, noise, w_avg, psi, cutoff=4)
    t2 = truncation.truncate(g, layout, other, noise, w_avg, psi, cutoff=4)
    w2 = g.w_plus(layout.with_noise(other, noise))
    # The shift depends on λ_id only: equal for both faces.
    np.testing.assert_allclose(t1 - w, t2 - w2, atol=1e-5)
    # Fine layers untouched.
    np.testing.assert_array_equal(t1[:, 4:], w[:, 4:])
  # ψ = 1: no change; ψ = 0 on the identity path: exactly w̄_id (coarse).
  np.testing.assert_allclose(
      truncation.truncate(g, layout, lam, noise, w_avg, 1.0), w, atol=1e-6)
  lam_id = layout.identity_only(lam)
  t0 = truncation.truncate(g, layout, lam_id, tf.zeros_like(noise), w_avg,
                           0.0, cutoff=4)
  np.testing.assert_allclose(t0[:, :4], np.broadcast_to(w_avg, [2, 4, 16]),
                             atol=1e-5)
  # λ of expression / pose / light of the identity path are zeros.
  parts = layout.split(lam_id)
  for f in ("expression", "pose", "sh"):
    np.testing.assert_array_equal(parts[f], 0.0)


def test_delta_w_edit_is_eq_11(tiny):
  layout, sampler, g = tiny
  _, lam, noise = sampler.sample(2, tf.constant([8, 8]))
  w_plus = tf.random.normal([2, g.num_layers, 16], seed=3)
  pose = tf.constant([[0.0, 0.4, 0.0]])
  edited = editing.edit_factor(g, layout, w_plus, lam, "rot", pose, noise)
  target = layout.replace(lam, "pose", pose)
  expected = (w_plus.numpy() + (g.map(layout.with_noise(target, noise)) -
                                g.map(layout.with_noise(lam, noise))
                                ).numpy()[:, None])
  np.testing.assert_allclose(edited, expected, atol=1e-5)
  # Editing to the same λ is the identity.
  np.testing.assert_allclose(
      editing.delta_w_edit(g, layout, w_plus, lam, lam, noise), w_plus,
      atol=1e-6)


def test_embedding_lowers_its_loss(tiny):
  layout, sampler, g = tiny
  _, lam, noise = sampler.sample(2, tf.constant([9, 9]))
  target = g.synthesize(g.w_plus(layout.with_noise(lam, noise)) +
                        0.5, noise_mode="const")

  def landmarks(images):  # a smooth stand-in: intensity-weighted centroid
    weights = tf.reduce_mean(images, -1) + 1.0
    grid = tf.cast(tf.range(16), tf.float32) + 0.5
    total = tf.reduce_sum(weights, [1, 2])
    x = tf.reduce_sum(weights * grid[None, None, :], [1, 2]) / total
    y = tf.reduce_sum(weights * grid[None, :, None], [1, 2]) / total
    return tf.tile(tf.stack([x, y], -1)[:, None], [1, 68, 1])

  loss = editing.EmbeddingLoss(
      perceptual=lambda a, b: tf.reduce_mean(tf.square(
          tf.nn.avg_pool2d(a, 4, 4, "VALID") -
          tf.nn.avg_pool2d(b, 4, 4, "VALID")), [1, 2, 3]),
      landmarks_fn=landmarks)
  out = editing.embed(g, target, editing.mean_w(g, sampler, 64), loss,
                      steps=25, learning_rate=0.05)
  history = out["history"]
  assert history.shape == (26,)
  assert history[-1] < 0.7 * history[0]
  assert out["w_plus"].shape == (2, g.num_layers, 16)
  assert set(out["terms"]) == {"pixel", "perceptual", "landmarks", "total"}
