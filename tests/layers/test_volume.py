"""3D feature volumes: rotation by a head pose, nearest upsampling."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfface.layers import volume as volume_lib
from tfface.rendering import camera


def test_rotate_volume_moves_a_voxel_as_the_pose_says():
  volume = np.zeros([1, 16, 16, 16, 1], np.float32)
  volume[0, 7, 12, 7, 0] = 1.0  # x = +4.5 (image right), y = +0.5, z = -0.5
  out = volume_lib.rotate_volume(tf.constant(volume),
                             tf.constant([[0.0, math.pi / 2, 0.0]]))
  # Yaw +90° about +y takes +x to -z (away from the camera): depth index 3.
  i, j, k, _ = np.unravel_index(np.argmax(out[0].numpy()), out.shape[1:])
  assert (i, k) == (7, 3) and j in (7, 8)
  same = volume_lib.rotate_volume(tf.constant(volume), tf.zeros([1, 3]))
  np.testing.assert_allclose(same.numpy(), volume, atol=1e-6)


def test_rotate_volume_is_differentiable_in_angles():
  volume = tf.random.normal([1, 4, 4, 4, 2], seed=1)
  angles = tf.constant([[0.1, 0.2, 0.05]])
  with tf.GradientTape() as tape:
    tape.watch(angles)
    out = tf.reduce_sum(tf.square(volume_lib.rotate_volume(volume, angles)))
  assert float(tf.reduce_sum(tf.abs(tape.gradient(out, angles)))) > 0


def test_volume_rotation_matrix_is_rz_ry_rx():
  angles = tf.constant([[0.3, -0.4, 0.2]])
  r = camera.rotation_matrix(angles)[0].numpy()
  np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)
  p, y, ro = 0.3, -0.4, 0.2
  rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
  ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
  rz = np.array([[np.cos(ro), -np.sin(ro), 0], [np.sin(ro), np.cos(ro), 0], [0, 0, 1]])
  np.testing.assert_allclose(r, rz @ ry @ rx, atol=1e-6)
  with pytest.raises(ValueError, match="pitch, yaw, roll"):
    volume_lib.rotate_volume(tf.zeros([1, 4, 4, 4, 1]), tf.zeros([2, 2]))


def test_rotate_volume_gradient_matches_finite_differences():
  # A smooth field sampled on the grid, weighted away from the clamped
  # border: the trilinear resampling is then close to smooth in the angles.
  n = 8
  c = (n - 1) / 2.0
  i, j, k = np.meshgrid(*[np.arange(n, dtype=np.float32)] * 3, indexing="ij")
  x, y, z = j - c, c - i, k - c
  field = np.sin(0.5 * x) * np.cos(0.4 * y) + 0.3 * z
  vol = tf.constant(field[None, ..., None], tf.float32)
  inner = ((np.abs(x) < 2) & (np.abs(y) < 2) & (np.abs(z) < 2))
  weights = tf.constant((inner * (1.0 + 0.1 * x))[None, ..., None],
                        tf.float32)
  angles = np.array([[0.11, 0.23, -0.07]], np.float64)

  def loss(a):
    return tf.reduce_sum(weights * volume_lib.rotate_volume(
        vol, tf.constant(a, tf.float32)))

  a = tf.constant(angles, tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(a)
    value = loss(a)
  grad = tape.gradient(value, a).numpy()[0]
  eps = 2e-2
  for axis in range(3):
    step = np.zeros_like(angles)
    step[0, axis] = eps
    fd = (float(loss(angles + step)) - float(loss(angles - step))) / (2 * eps)
    assert grad[axis] == pytest.approx(fd, rel=0.1, abs=0.05), axis
  assert np.abs(grad).max() > 0.1


def test_upsample_nearest_repeats_each_cell_in_2d_and_3d():
  x = tf.reshape(tf.range(4, dtype=tf.float32), [1, 2, 2, 1])
  up = volume_lib.upsample_nearest(x)[0, ..., 0].numpy()
  np.testing.assert_array_equal(up, [[0, 0, 1, 1], [0, 0, 1, 1],
                                     [2, 2, 3, 3], [2, 2, 3, 3]])
  v = tf.reshape(tf.range(8, dtype=tf.float32), [1, 2, 2, 2, 1])
  up3 = volume_lib.upsample_nearest(v)[0, ..., 0].numpy()
  assert up3.shape == (4, 4, 4)
  for i, j, k in np.ndindex(4, 4, 4):
    assert up3[i, j, k] == v[0, i // 2, j // 2, k // 2, 0]
