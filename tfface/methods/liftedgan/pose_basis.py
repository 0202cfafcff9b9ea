"""A linear pose model of a frozen StyleGAN2's W space, read by a face net.

LiftedGAN learns, over 50k steps, M to turn a code to any view and D_V to
read the view of a code (seasonSH/LiftedGAN trains both from scratch). A
CPU budget of a few thousand steps cannot wait for that: with M started as
the identity map, the neutral code w₀ is the input code itself, so the
canonical face is already posed, the 3D shape has nothing to explain and
the depth stays flat (measured: every loss term's gradient flattened a
convex start). :class:`PoseBasis` is the warm start that gives the depth
something to do from step 0 (a departure, off in the reference config):

* a **readout** of the view from w — a ridge regression of the pose the
  reconstruction net reads on G(w), in the LiftedGAN view's tanh logits
  (rotation / 60°);
* a **basis** that moves w to a view — the regression of w on that pose,
  E[w | pose] = w̄ + (pose − pose̅) · basis, i.e. how the codes of the
  generator's own samples differ between poses.

D_V starts as the readout and M as w' = w + (V_rot − tanh(readout(w))) ·
basis, so w₀ = M(w, ·, 0) starts frontalised and M(w, ·, V') starts turned
to V'; the residual MLPs learn what is not linear.

:func:`fit_pose_basis` computes the numbers from samples of the generator.
Angles: tfface's pose (pitch, yaw, roll) is (rx, −ry, −rz) of LiftedGAN's
view (:mod:`tfface.methods.liftedgan.evaluation`).
"""

from typing import Dict

import numpy as np
import tensorflow as tf

keras = tf.keras

# tfface pose (pitch, yaw, roll) -> LiftedGAN view rotation (rx, ry, rz).
_POSE_TO_VIEW = np.array([1.0, -1.0, -1.0])
# Views are tanh outputs; readout targets are clipped inside (−1, 1).
_MAX_VIEW = 0.95


class PoseBasis(keras.layers.Layer):
  """The fitted linear pose model (non-trainable; 0 until assigned).

  Weights: ``w_mean`` `[D]`, ``readout`` `[D, 3]`, ``readout_bias`` `[3]`
  (w -> view-rotation logits), ``basis`` `[3, D]` (view rotation -> w).
  """

  def __init__(self, style_dim: int, **kwargs):
    super().__init__(**kwargs)
    d = int(style_dim)
    self.w_mean = self.add_weight(name="w_mean", shape=(d,),
                                  initializer="zeros", trainable=False)
    self.readout = self.add_weight(name="readout", shape=(d, 3),
                                   initializer="zeros", trainable=False)
    self.readout_bias = self.add_weight(name="readout_bias", shape=(3,),
                                        initializer="zeros", trainable=False)
    self.basis = self.add_weight(name="basis", shape=(3, d),
                                 initializer="zeros", trainable=False)

  def logits(self, w: tf.Tensor) -> tf.Tensor:
    """`[B, D]` -> `[B, 3]` view-rotation logits (tanh gives the view)."""
    return tf.matmul(w - self.w_mean, self.readout) + self.readout_bias

  def move(self, w: tf.Tensor, rotation: tf.Tensor) -> tf.Tensor:
    """w `[B, D]` moved from its read rotation to ``rotation`` `[B, 3]`."""
    return w + tf.matmul(rotation - tf.tanh(self.logits(w)), self.basis)

  def without_pose(self, delta: tf.Tensor) -> tf.Tensor:
    """A code change `[B, D]` with its effect on the readout removed.

    Projects onto the readout's null space, delta − delta·R (RᵀR)⁻¹ Rᵀ, so
    ``logits(w + delta) == logits(w)``; zero readout (unassigned) keeps delta.
    """
    r = self.readout
    gram = tf.matmul(r, r, transpose_a=True) + 1e-12 * tf.eye(3)
    coeff = tf.linalg.solve(gram, tf.matmul(r, delta, transpose_a=True,
                                            transpose_b=True))  # [3, B]
    return delta - tf.transpose(tf.matmul(r, coeff))

  def assign_fit(self, fit: Dict[str, np.ndarray]) -> None:
    for name in ("w_mean", "readout", "readout_bias", "basis"):
      getattr(self, name).assign(np.asarray(fit[name], np.float32))


def fit_pose_basis(generator, reconstruction_net, num_samples: int = 4096,
                   truncation: float = 0.7, rotation_range_degrees: float = 60.0,
                   ridge: float = 1e-2, batch_size: int = 256, seed: int = 0
                   ) -> Dict[str, np.ndarray]:
  """Fits :class:`PoseBasis` on ``num_samples`` samples of the generator.

  Args:
    generator: a :class:`~tfface.methods.liftedgan.networks.FrozenGenerator`
      (with its w statistics computed).
    reconstruction_net: a face reconstruction net whose output dict has
      ``pose`` `[B, 3]` (pitch, yaw, roll) radians.
    num_samples: codes drawn (>= 2 · style dim, for the regressions).
    truncation: ψ of the codes (the training's).
    rotation_range_degrees: rotation of a view value of 1 (60°).
    ridge: readout regularisation, relative to the mean code variance.
    batch_size, seed: sampling.

  Returns:
    ``w_mean`` `[D]`, ``readout`` `[D, 3]`, ``readout_bias`` `[3]`,
    ``basis`` `[3, D]`, and ``readout_r`` `[3]` (the readout's correlation
    with the net's rotation on the samples, a fit figure).
  """
  dim = int(generator.style_dim)
  if int(num_samples) < 2 * dim:
    raise ValueError(f"fit_pose_basis needs num_samples >= 2 x style dim "
                     f"({2 * dim}), got {num_samples}")
  ws, views = [], []
  for start in range(0, int(num_samples), int(batch_size)):
    n = min(int(batch_size), int(num_samples) - start)
    z = tf.random.stateless_normal([n, generator.z_dim], [seed, start])
    w = generator.mapping(z, truncation)
    image = tf.clip_by_value(generator(w), -1.0, 1.0)
    pose = reconstruction_net(image, training=False)["pose"]
    ws.append(w.numpy())
    views.append(np.rad2deg(pose.numpy()) * _POSE_TO_VIEW /
                 float(rotation_range_degrees))
  w = np.concatenate(ws).astype(np.float64)
  view = np.clip(np.concatenate(views).astype(np.float64), -_MAX_VIEW,
                 _MAX_VIEW)
  w_mean = w.mean(0)
  wc = w - w_mean
  logit = np.arctanh(view)
  gram = wc.T @ wc
  lam = float(ridge) * np.trace(gram) / dim
  readout = np.linalg.solve(gram + lam * np.eye(dim), wc.T @ (logit -
                                                               logit.mean(0)))
  vc = view - view.mean(0)
  basis = np.linalg.solve(vc.T @ vc + 1e-9 * np.eye(3), vc.T @ wc)
  fitted = wc @ readout
  r = np.array([np.corrcoef(fitted[:, k], logit[:, k])[0, 1]
                for k in range(3)])
  return {"w_mean": w_mean, "readout": readout,
          "readout_bias": logit.mean(0), "basis": basis, "readout_r": r}
