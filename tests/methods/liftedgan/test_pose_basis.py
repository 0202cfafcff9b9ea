"""The linear pose model of W: the fit recovers a known linear pose, moving a
code reaches the requested view, D_V and M start from it."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.liftedgan import networks
from tfface.methods.liftedgan import pose_basis

DIM = 6
# tfface pose (pitch, yaw, roll) radians = w · _POSE (a known linear pose).
_POSE = np.random.default_rng(3).normal(0.0, 0.05, (DIM, 3)).astype(np.float32)


class _CodeImageGenerator:
  """A stand-in G whose 1x1 'image' is the code itself (small values)."""
  z_dim = style_dim = DIM

  def mapping(self, z, truncation=0.7):
    return 0.5 * truncation * z

  def __call__(self, w):
    return w[:, None, None, :]


def _pose_net(image, training=False):
  del training
  return {"pose": tf.matmul(image[:, 0, 0, :], _POSE)}


def _true_view(w):
  """LiftedGAN view rotation of codes w, in view units (60° = 1)."""
  deg = np.rad2deg(np.asarray(w) @ _POSE)
  return deg * np.array([1.0, -1.0, -1.0]) / 60.0


@pytest.fixture(scope="module")
def fit():
  return pose_basis.fit_pose_basis(_CodeImageGenerator(), _pose_net,
                                   num_samples=512, ridge=1e-6,
                                   batch_size=128)


def test_fit_reads_a_linear_pose_and_moves_codes_to_a_requested_view(fit):
  assert fit["readout"].shape == (DIM, 3) and fit["basis"].shape == (3, DIM)
  assert np.all(fit["readout_r"] > 0.99)
  layer = pose_basis.PoseBasis(DIM)
  layer.assign_fit(fit)
  w = tf.random.stateless_normal([16, DIM], [5, 6]) * 0.35
  read = np.tanh(layer.logits(w).numpy())
  np.testing.assert_allclose(read, _true_view(w), atol=0.02)
  target = np.tile(np.array([[0.1, -0.3, 0.0]], np.float32), [16, 1])
  moved = layer.move(w, tf.constant(target))
  np.testing.assert_allclose(_true_view(moved), target, atol=0.02)
  # The move is along the basis only: frontalising twice changes nothing.
  front = layer.move(w, tf.zeros([16, 3]))
  np.testing.assert_allclose(layer.move(front, tf.zeros([16, 3])).numpy(),
                             front.numpy(), atol=0.02)


def test_fit_needs_enough_samples():
  with pytest.raises(ValueError, match="num_samples >= 2 x style dim"):
    pose_basis.fit_pose_basis(_CodeImageGenerator(), _pose_net,
                              num_samples=8)


def test_view_net_and_composition_start_from_the_pose_basis(fit):
  w = tf.random.stateless_normal([4, DIM], [7, 8]) * 0.35
  light, view = tf.random.normal([4, 4]), tf.random.normal([4, 6]) * 0.3
  decomposition = networks.StyleDecomposition(16, 2, style_dim=DIM)
  composition = networks.StyleComposition(DIM, 16, 2, residual=True,
                                          pose_basis=True)
  decomposition(w)
  composition((w, light, view))
  decomposition.pose_basis.assign_fit(fit)
  composition.pose_basis.assign_fit(fit)
  read = decomposition(w)[1].numpy()
  np.testing.assert_allclose(read[:, :3], _true_view(w), atol=0.02)
  np.testing.assert_allclose(read[:, 3:], 0.0)
  np.testing.assert_allclose(
      composition((w, light, view)).numpy(),
      composition.pose_basis.move(w, view[:, :3]).numpy(), atol=1e-6)
  # The basis is a start, not a trainable part.
  names = [v.name for v in composition.trainable_variables]
  assert not any("basis" in n or "readout" in n for n in names)
  with pytest.raises(ValueError, match="needs residual=True"):
    networks.StyleComposition(DIM, 16, 2, pose_basis=True)


def test_locked_composition_cannot_change_the_pose_readout(fit):
  layer = pose_basis.PoseBasis(DIM)
  layer.assign_fit(fit)
  w = tf.random.stateless_normal([5, DIM], [1, 1]) * 0.35
  delta = tf.random.stateless_normal([5, DIM], [2, 2])
  projected = layer.without_pose(delta)
  np.testing.assert_allclose(layer.logits(w + projected).numpy(),
                             layer.logits(w).numpy(), atol=1e-5)
  # Only the readout's 3 directions are removed.
  assert float(tf.norm(projected)) > 0.3 * float(tf.norm(delta))
  m = networks.StyleComposition(DIM, 16, 2, residual=True, pose_basis=True,
                                lock_pose=True)
  light, view = tf.random.normal([5, 4]), tf.random.normal([5, 6]) * 0.3
  m((w, light, view))
  m.pose_basis.assign_fit(fit)
  m.compose.dense[-1].kernel.assign(
      tf.random.normal(m.compose.dense[-1].kernel.shape))
  # Locked, a large learned residual leaves the readout where the linear
  # move put it; unlocked, the same residual re-poses the code.
  moved = m.pose_basis.logits(m.pose_basis.move(w, view[:, :3])).numpy()
  np.testing.assert_allclose(m.pose_basis.logits(m((w, light, view))).numpy(),
                             moved, atol=1e-4)
  m.lock_pose = False
  unlocked = m.pose_basis.logits(m((w, light, view))).numpy()
  assert np.abs(unlocked - moved).max() > 0.1
  with pytest.raises(ValueError, match="lock_pose needs pose_basis"):
    networks.StyleComposition(DIM, 16, 2, residual=True, lock_pose=True)
