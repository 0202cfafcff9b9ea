"""3D feature volumes: rigid rotation with trilinear resampling, nearest upsampling.

Volume axes: a feature volume is `[B, H, W, D, C]`: H runs down the image
(row 0 at the top), W to the right, D toward the camera. Model space is
right-handed, +x right, +y up, +z toward the camera, so voxel (i, j, k) sits at
``(x, y, z) = (j - c, c - i, k - c)`` with ``c = (N - 1) / 2``. Rotations are
:func:`tfface.rendering.camera.rotation_matrix`'s: Euler (pitch, yaw, roll),
``R = Rz·Ry·Rx``.
"""

import tensorflow as tf

from tfface.rendering import camera


def rotate_volume(volume: tf.Tensor, angles: tf.Tensor) -> tf.Tensor:
  """Rotates a feature volume about its centre, with trilinear resampling.

  The content at model-space point p moves to ``R p``: each output voxel q
  samples the input at ``R^T q``. As in HoloGAN / ConfigNet, sample
  coordinates are clamped to the volume (edge features extend outward).
  Differentiable w.r.t. ``volume`` and ``angles``.

  Args:
    volume: `[B, H, W, D, C]` float32 (axes as in the module docstring).
    angles: `[B, 3]` float32 (pitch, yaw, roll) radians.

  Returns:
    `[B, H, W, D, C]` float32.
  """
  angles = tf.convert_to_tensor(angles, tf.float32)
  if angles.shape.rank != 2 or angles.shape[-1] != 3:
    raise ValueError("rotate_volume expects angles of shape [B, 3] "
                     f"(pitch, yaw, roll), got {angles.shape}")
  shape = tf.shape(volume)
  b = shape[0]
  h, w, d = (int(s) for s in volume.shape[1:4])
  c = int(volume.shape[4])
  rotation = camera.rotation_matrix(angles)  # [B, 3, 3]
  ci, cj, ck = (h - 1) / 2.0, (w - 1) / 2.0, (d - 1) / 2.0
  ii, jj, kk = tf.meshgrid(tf.range(h, dtype=tf.float32),
                           tf.range(w, dtype=tf.float32),
                           tf.range(d, dtype=tf.float32), indexing="ij")
  points = tf.stack([tf.reshape(jj - cj, [-1]), tf.reshape(ci - ii, [-1]),
                     tf.reshape(kk - ck, [-1])], axis=-1)  # [N, 3] (x, y, z)
  # Source position R^T q for every output q: row-vector form q R.
  source = tf.einsum("nk,bkl->bnl", points, rotation)  # [B, N, 3]
  x, y, z = tf.unstack(source, axis=-1)
  si = tf.clip_by_value(ci - y, 0.0, h - 1.0)
  sj = tf.clip_by_value(x + cj, 0.0, w - 1.0)
  sk = tf.clip_by_value(z + ck, 0.0, d - 1.0)
  i0, j0, k0 = tf.floor(si), tf.floor(sj), tf.floor(sk)
  fi, fj, fk = si - i0, sj - j0, sk - k0
  i0, j0, k0 = (tf.cast(v, tf.int32) for v in (i0, j0, k0))
  i1 = tf.minimum(i0 + 1, h - 1)
  j1 = tf.minimum(j0 + 1, w - 1)
  k1 = tf.minimum(k0 + 1, d - 1)
  flat = tf.reshape(volume, [b * h * w * d, c])
  base = (tf.range(b) * (h * w * d))[:, None]

  def gather(i, j, k):
    return tf.gather(flat, base + (i * w + j) * d + k)  # [B, N, C]

  fi, fj, fk = fi[..., None], fj[..., None], fk[..., None]
  c00 = gather(i0, j0, k0) * (1 - fk) + gather(i0, j0, k1) * fk
  c01 = gather(i0, j1, k0) * (1 - fk) + gather(i0, j1, k1) * fk
  c10 = gather(i1, j0, k0) * (1 - fk) + gather(i1, j0, k1) * fk
  c11 = gather(i1, j1, k0) * (1 - fk) + gather(i1, j1, k1) * fk
  c0 = c00 * (1 - fj) + c01 * fj
  c1 = c10 * (1 - fj) + c11 * fj
  out = c0 * (1 - fi) + c1 * fi
  return tf.reshape(out, [b, h, w, d, c])


def upsample_nearest(x: tf.Tensor) -> tf.Tensor:
  """Nearest-neighbour ×2 upsampling of every spatial axis.

  Args:
    x: `[B, H, W, C]` or `[B, H, W, D, C]` float32 with static spatial sizes.

  Returns:
    `[B, 2H, 2W, C]` or `[B, 2H, 2W, 2D, C]`.
  """
  spatial = [int(s) for s in x.shape[1:-1]]
  c = int(x.shape[-1])
  split = [-1]
  for s in spatial:
    split += [s, 1]
  x = tf.reshape(x, split + [c])
  x = tf.tile(x, [1] + [1, 2] * len(spatial) + [1])
  return tf.reshape(x, [-1] + [2 * s for s in spatial] + [c])
