"""Tests for tfface.rendering.camera: Euler pose and the perspective camera."""

import math

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_graphics.geometry.transformation import look_at
from tensorflow_graphics.geometry.transformation import rotation_matrix_3d
from tensorflow_graphics.rendering.camera import perspective

from tests.rendering import gradient_checks
from tfface.rendering import camera
from tfface.rendering import rasterizer


def test_rotation_matrix_matches_tf_graphics_from_euler():
  rng = np.random.default_rng(1)
  angles = rng.uniform(-np.pi, np.pi, (2, 5, 3)).astype(np.float32)
  ours = camera.rotation_matrix(angles).numpy()
  theirs = rotation_matrix_3d.from_euler(angles).numpy()
  np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_rotation_matrix_axes_and_order():
  # Explicit Rz·Ry·Rx from the Deep3DFaceRecon formulas (numpy, float64).
  def rx(a):
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)],
                     [0, np.sin(a), np.cos(a)]])

  def ry(a):
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0],
                     [-np.sin(a), 0, np.cos(a)]])

  def rz(a):
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0],
                     [0, 0, 1]])

  p, y, r = 0.3, -0.7, 1.1
  expected = rz(r) @ ry(y) @ rx(p)
  np.testing.assert_allclose(camera.rotation_matrix([p, y, r]).numpy(),
                             expected, atol=1e-6)
  # Positive yaw turns the face (+z) toward +x (image right).
  nose = camera.transform_points([[[0., 0., 1.]]], [[0., 0.5, 0.]])
  assert nose.numpy()[0, 0, 0] > 0.4
  with pytest.raises(ValueError, match=r"\[\.\.\., 3\]"):
    camera.rotation_matrix(tf.zeros([2, 2]))


def test_transform_points_row_vector_convention():
  rng = np.random.default_rng(2)
  pts = rng.normal(size=(2, 7, 3)).astype(np.float32)
  ang = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
  t = rng.normal(size=(2, 3)).astype(np.float32)
  r = camera.rotation_matrix(ang).numpy()
  # Deep3DFaceRecon writes S · Rᵀ + t with row vectors.
  expected = np.einsum("bnj,bij->bni", pts, r) + t[:, None]
  np.testing.assert_allclose(
      camera.transform_points(pts, ang, t).numpy(), expected, atol=1e-5)


def test_presets():
  c224 = camera.deep3d_camera(224)
  assert c224.focal == pytest.approx(1015.0)
  assert c224.principal_point == (112.0, 112.0)
  assert math.degrees(c224.fov_y) == pytest.approx(12.5936, abs=1e-3)
  gan = camera.discofacegan_camera(256)
  assert gan.focal == pytest.approx(1238.3, abs=1e-6)
  assert math.degrees(gan.fov_y) == pytest.approx(11.8031, abs=1e-3)
  c64 = camera.deep3d_camera(64)
  np.testing.assert_allclose(c64.fov_y, c224.fov_y, rtol=1e-9)
  pts = np.float32([[0.3, -0.4, 0.5], [-0.8, 0.9, -0.2]])
  np.testing.assert_allclose(c64.project(pts).numpy(),
                             c224.project(pts).numpy() * 64 / 224, rtol=1e-5)
  assert c224.resized(64).focal == pytest.approx(c64.focal)
  with pytest.raises(ValueError, match="near < far"):
    camera.Camera((8, 8), 10.0, near=5.0, far=2.0)
  with pytest.raises(ValueError, match="image_size"):
    camera.deep3d_camera((0, 8))


def test_project_matches_deep3d_formula():
  cam = camera.deep3d_camera(224)
  p = np.float32([0.2, 0.3, 0.5])  # posed point
  z = 10.0 - 0.5
  u, v = 1015 * 0.2 / z + 112, 1015 * 0.3 / z + 112  # Deep3D, v grows up
  np.testing.assert_allclose(cam.project(p).numpy(), [u, 224 - v], rtol=1e-6)


def test_view_projection_matches_tf_graphics_for_centred_camera():
  cam = camera.deep3d_camera((48, 48), near=2.0, far=20.0)
  ours = cam.view_projection_matrix(2).numpy()
  proj = perspective.right_handed([cam.fov_y], [1.0], [2.0], [20.0])
  view = look_at.right_handed([0.0, 0.0, 10.0], [0.0, 0.0, 0.0],
                              [0.0, 1.0, 0.0])
  theirs = tf.matmul(proj, view).numpy()
  assert ours.shape == (2, 4, 4)
  np.testing.assert_allclose(ours[0], theirs, atol=1e-5)
  np.testing.assert_allclose(ours[1], theirs, atol=1e-5)


@pytest.mark.parametrize("principal_point", [None, (13.0, 20.5)])
def test_view_projection_agrees_with_project(principal_point):
  cam = camera.Camera((40, 32), 150.0, principal_point=principal_point)
  rng = np.random.default_rng(3)
  pts = rng.uniform(-1, 1, (50, 3)).astype(np.float32)
  clip = np.einsum("ij,nj->ni", cam.view_projection_matrix(1).numpy()[0],
                   np.concatenate([pts, np.ones([50, 1], np.float32)], 1))
  ndc = clip[:, :3] / clip[:, 3:]
  # The rasterizer's pixel mapping: column = (x_ndc+1) W/2, row = (1-y_ndc) H/2.
  pix = np.stack([(ndc[:, 0] + 1) * 16, (1 - ndc[:, 1]) * 20], -1)
  np.testing.assert_allclose(pix, cam.project(pts).numpy(), atol=1e-3)
  # Depth inside the clip range.
  assert np.all(np.abs(ndc[:, 2]) < 1)
  np.testing.assert_allclose(clip[:, 3], cam.depth(pts).numpy(), rtol=1e-5)


def _bump_grid(n=9):
  u, v = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
  z = 0.4 * np.cos(0.5 * np.pi * u) * np.cos(0.5 * np.pi * v)
  verts = np.stack([u, v, z], -1).reshape(-1, 3).astype(np.float32)
  idx = np.arange(n * n).reshape(n, n)
  a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
  c, d = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
  tris = np.concatenate([np.stack([a, b, c], 1), np.stack([b, d, c], 1)])
  return verts, tris.astype(np.int32)


def test_rasterized_pixels_agree_with_projected_points():
  verts, tris = _bump_grid()
  cam = camera.Camera((24, 20), 120.0, principal_point=(9.0, 13.0))
  posed = camera.transform_points(verts[None], [[0.2, -0.3, 0.1]],
                                  [[0.05, -0.1, 0.3]])
  out = rasterizer.rasterize(posed, tris, {"position": posed},
                             cam.view_projection_matrix(1), cam.image_size)
  mask = out["mask"].numpy()[0, ..., 0] > 0
  assert mask.sum() > 100
  # The surface point seen through each pixel centre projects onto it.
  hit = out["position"].numpy()[0][mask]
  rows, cols = np.nonzero(mask)
  np.testing.assert_allclose(cam.project(hit).numpy(),
                             np.stack([cols + 0.5, rows + 0.5], -1), atol=2e-3)
  # A projected vertex ("landmark") lies in a pixel drawn by one of its
  # triangles.
  pix = cam.project(posed[0]).numpy()
  ids = out["triangle_indices"].numpy()[0, ..., 0]
  checked = 0
  for v in range(len(verts)):
    col, row = np.floor(pix[v]).astype(int)
    if not (0 <= row < 24 and 0 <= col < 20 and mask[row, col]):
      continue
    adjacent = np.nonzero(np.any(tris == v, axis=1))[0]
    if len(adjacent) < 6:  # border vertex
      continue
    assert ids[row, col] in adjacent, v
    checked += 1
  assert checked >= 20


# -----------------------------------------------------------------------------
# Jacobians against central finite differences. StyleRig and DiscoFaceGAN
# backpropagate image and landmark losses through the pose and projection.
# The camera computes in float32 (it casts its inputs), so the differences
# are float32 ones with tf.test.compute_gradient's step of 1/1024.


@pytest.mark.parametrize("angles", [
    [[0.3, -0.7, 1.1], [-1.2, 0.4, -2.5]],
    [[0.2, np.pi / 2, -0.3], [0.5, -np.pi / 2, 0.1]],  # gimbal lock
])
def test_rotation_matrix_jacobian_matches_finite_differences(angles):
  gradient_checks.assert_jacobians_match(camera.rotation_matrix, [angles])


def test_transform_points_jacobian_matches_finite_differences():
  rng = np.random.default_rng(10)
  points = rng.normal(size=(2, 2, 3))
  angles = rng.uniform(-1, 1, (2, 3))
  translation = rng.normal(size=(2, 3))
  gradient_checks.assert_jacobians_match(camera.transform_points,
                          [points, angles, translation])
  gradient_checks.assert_jacobians_match(camera.rotate_vectors, [points, angles])


def test_project_jacobian_matches_finite_differences_and_formula():
  cam = camera.Camera((40, 32), 150.0, principal_point=(13.0, 20.5))
  rng = np.random.default_rng(11)
  points = rng.uniform(-1, 1, (4, 3)).astype(np.float32)
  gradient_checks.assert_jacobians_match(cam.project, [points])
  gradient_checks.assert_jacobians_match(cam.depth, [points])
  # d(x, y)/d(p) of the pinhole model, written out.
  x = tf.constant(points)
  with tf.GradientTape() as tape:
    tape.watch(x)
    pix = cam.project(x)
  jac = tape.batch_jacobian(pix, x).numpy()  # [N, 2, 3]
  z = 10.0 - points[:, 2]
  expected = np.zeros_like(jac)
  expected[:, 0, 0] = 150.0 / z
  expected[:, 0, 2] = 150.0 * points[:, 0] / z**2
  expected[:, 1, 1] = -150.0 / z
  expected[:, 1, 2] = -150.0 * points[:, 1] / z**2
  np.testing.assert_allclose(jac, expected, rtol=1e-5, atol=1e-5)


def test_posed_landmark_jacobian_matches_finite_differences():
  # Landmark pixels as a function of pose and shape, as the landmark losses
  # see them: project(R(angles) · points + translation).
  cam = camera.deep3d_camera(224)
  rng = np.random.default_rng(12)
  points = rng.uniform(-0.8, 0.8, (2, 3, 3))
  angles = rng.uniform(-0.5, 0.5, (2, 3))
  translation = rng.uniform(-0.2, 0.2, (2, 3))

  def landmarks(p, a, t):
    return cam.project(camera.transform_points(p, a, t))

  gradient_checks.assert_jacobians_match(landmarks, [points, angles, translation])
