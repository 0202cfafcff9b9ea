"""Tests for tfface.rendering.lighting: SH irradiance and Lambert shading."""

import math

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_graphics.math import math_helpers
from tensorflow_graphics.math import spherical_harmonics

from tests.rendering import gradient_checks
from tfface.rendering import camera
from tfface.rendering import lighting


def _random_normals(rng, shape):
  n = rng.normal(size=tuple(shape) + (3,))
  return (n / np.linalg.norm(n, axis=-1, keepdims=True)).astype(np.float32)


def test_constants_match_reference_products():
  # Products listed in the Deep3DFaceRecon reference notes.
  assert lighting.A0 * lighting.C0 == pytest.approx(0.8862269, abs=1e-7)
  assert lighting.A1 * lighting.C1 == pytest.approx(1.7724539, abs=1e-7)
  assert lighting.A2 * lighting.C2 == pytest.approx(2.4270324, abs=1e-7)


def test_sh_basis_matches_tf_graphics_up_to_band_factors():
  rng = np.random.default_rng(0)
  normals = _random_normals(rng, [200])
  ours = lighting.sh_basis(normals).numpy()  # [200, 9]
  spherical = math_helpers.cartesian_to_spherical_coordinates(normals)
  theta, phi = spherical[..., 1:2], spherical[..., 2:3]
  degree, order = spherical_harmonics.generate_l_m_permutations(2)
  degree = tf.broadcast_to(degree, [200, 9])
  order = tf.broadcast_to(order, [200, 9])
  theirs = spherical_harmonics.evaluate_spherical_harmonics(
      degree, order, theta, phi).numpy()
  ratio = ours / theirs
  for k in range(9):
    band_factor = lighting.BAND_FACTORS[k]
    # The ratio is one constant of magnitude a_band (sign is convention).
    np.testing.assert_allclose(np.abs(ratio[:, k]), band_factor, rtol=2e-3,
                               err_msg=f"basis {k}")
    assert np.all(np.sign(ratio[:, k]) == np.sign(ratio[0, k]))


def _numpy_deep3d_shading(albedo, normals, gamma):
  """Deep3DFaceRecon's formula, written out in float64 numpy."""
  a0, a1, a2 = np.pi, 2 * np.pi / np.sqrt(3.0), 2 * np.pi / np.sqrt(8.0)
  c0 = 1 / np.sqrt(4 * np.pi)
  c1 = np.sqrt(3.0) / np.sqrt(4 * np.pi)
  c2 = 3 * np.sqrt(5.0) / np.sqrt(12 * np.pi)
  x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
  basis = np.stack([
      np.full_like(x, a0 * c0), -a1 * c1 * y, a1 * c1 * z, -a1 * c1 * x,
      a2 * c2 * x * y, -a2 * c2 * y * z,
      a2 * c2 * 0.5 / np.sqrt(3.0) * (3 * z * z - 1), -a2 * c2 * x * z,
      a2 * c2 * 0.5 * (x * x - y * y)], -1)
  g = gamma.reshape(-1, 3, 9).copy()
  g[:, :, 0] += 0.8
  return np.stack([albedo[..., c] * np.einsum("bnk,bk->bn", basis, g[:, c])
                   for c in range(3)], -1)


def test_sh_shade_matches_reference_formula():
  rng = np.random.default_rng(1)
  normals = _random_normals(rng, [2, 30])
  albedo = rng.uniform(0, 1, (2, 30, 3)).astype(np.float32)
  gamma = rng.normal(0, 0.3, (2, 27)).astype(np.float32)
  ours = lighting.sh_shade(albedo, normals, gamma).numpy()
  expected = _numpy_deep3d_shading(albedo.astype(np.float64),
                                   normals.astype(np.float64),
                                   gamma.astype(np.float64))
  np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_zero_lighting_is_uniform_ambient_and_channels_are_separate():
  rng = np.random.default_rng(2)
  normals = _random_normals(rng, [1, 10])
  e = lighting.sh_irradiance(normals, tf.zeros([1, 27])).numpy()
  np.testing.assert_allclose(e, 0.8 * math.sqrt(math.pi) / 2, atol=1e-6)
  # Light only the red channel's z band: green and blue stay ambient, red
  # grows on normals facing +z.
  gamma = np.zeros([1, 27], np.float32)
  gamma[0, 2] = 0.5  # R row, k = 2 (z)
  e = lighting.sh_irradiance([[[0., 0., 1.], [0., 0., -1.]]], gamma).numpy()
  assert e[0, 0, 0] > e[0, 1, 0]
  np.testing.assert_allclose(e[0, :, 1:], 0.8 * math.sqrt(math.pi) / 2,
                             atol=1e-6)
  with pytest.raises(ValueError, match=r"sh must be \[B, 27\]"):
    lighting.sh_irradiance(normals, tf.zeros([1, 9]))


def test_lambert_shading_values_and_gradient():
  normals = tf.constant([[0., 0., 1.], [1., 0., 0.], [0., 0., -1.]])
  direction = tf.Variable([[0., 0., 2.]])  # normalized inside
  ambient = tf.Variable([[0.25]])
  diffuse = tf.Variable([[0.5]])
  with tf.GradientTape() as tape:
    shading = lighting.lambert_shading(normals, ambient, diffuse, direction)
    loss = tf.reduce_sum(shading)
  np.testing.assert_allclose(shading.numpy()[:, 0], [0.75, 0.25, 0.25],
                             atol=1e-6)
  assert shading.shape == (3, 1)
  g_amb, g_dif = tape.gradient(loss, [ambient, diffuse])
  np.testing.assert_allclose(g_amb.numpy(), [[3.0]])
  np.testing.assert_allclose(g_dif.numpy(), [[1.0]])
  # An oblique light: cos = n · d / |d|.
  s = lighting.lambert_shading([[0., 0., 1.]], [[0.]], [[1.]], [[1., 0., 1.]])
  np.testing.assert_allclose(s.numpy(), [[1 / math.sqrt(2)]], atol=1e-6)


# -----------------------------------------------------------------------------
# Jacobians against central finite differences (StyleRig and DiscoFaceGAN
# backpropagate through the shading into normals, albedo, lighting and pose).
# The shading casts to float32, so these are float32 differences with
# tf.test.compute_gradient's step of 1/1024.


def test_sh_basis_jacobian_matches_finite_differences():
  rng = np.random.default_rng(10)
  gradient_checks.assert_jacobians_match(lighting.sh_basis, [_random_normals(rng, [6])])


def test_sh_shade_jacobian_matches_finite_differences():
  rng = np.random.default_rng(11)
  albedo = rng.uniform(0.2, 0.9, (2, 4, 3))
  normals = _random_normals(rng, [2, 4])
  gamma = rng.normal(0, 0.3, (2, 27))
  gradient_checks.assert_jacobians_match(lighting.sh_shade,
                          [albedo[:1], normals[:1], gamma[:1]])
  # The shading is linear in the lighting: its Jacobian is the SH basis.
  g = tf.constant(gamma, tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(g)
    e = lighting.sh_irradiance(normals, g)  # [2, 4, 3]
  jac = tape.jacobian(e, g).numpy()  # [2, 4, 3, 2, 27]
  basis = lighting.sh_basis(normals).numpy()  # [2, 4, 9]
  for c in range(3):
    np.testing.assert_allclose(jac[0, :, c, 0, 9 * c:9 * c + 9], basis[0],
                               atol=1e-6)
    others = np.delete(np.arange(27), np.arange(9 * c, 9 * c + 9))
    assert np.all(jac[0, :, c, 0, others] == 0)
  assert np.all(jac[0, :, :, 1] == 0)  # batch elements are independent


def test_lambert_shading_jacobian_matches_finite_differences():
  rng = np.random.default_rng(12)
  direction = np.array([[0.3, -0.2, 0.9]])
  unit = direction / np.linalg.norm(direction)
  normals = _random_normals(rng, [40])
  # Stay away from the kink of max(0, cos): lit and unlit normals only.
  cos = normals @ unit[0]
  normals = normals[np.abs(cos) > 0.2][:8]
  assert np.any(normals @ unit[0] > 0) and np.any(normals @ unit[0] < 0)
  ambient = [[0.3]]
  diffuse = [[0.6]]
  gradient_checks.assert_jacobians_match(lighting.lambert_shading,
                          [normals, ambient, diffuse, direction])
  # Unlit normals get no gradient through the diffuse term.
  n = tf.constant(normals, tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(n)
    s = lighting.lambert_shading(n, ambient, diffuse, direction)
  grad = tape.gradient(s, n).numpy()
  unlit = normals @ unit[0] < 0
  assert np.all(grad[unlit] == 0)
  np.testing.assert_allclose(grad[~unlit],
                             np.broadcast_to(0.6 * unit, grad[~unlit].shape),
                             atol=1e-6)


def test_posed_sh_shading_jacobian_matches_finite_differences():
  # The renderer's path: irradiance of normals rotated by the head pose.
  rng = np.random.default_rng(13)
  normals = _random_normals(rng, [1, 4])
  angles = rng.uniform(-0.6, 0.6, (1, 3))
  gamma = rng.normal(0, 0.3, (1, 27))

  def shading(a, g):
    return lighting.sh_irradiance(camera.rotate_vectors(normals, a), g)

  gradient_checks.assert_jacobians_match(shading, [angles, gamma])
