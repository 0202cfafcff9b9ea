"""Masked image losses and landmark-box masks (tfface.losses.masked)."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.losses import masked


def test_mouth_mask_boxes_the_mouth_landmarks():
  landmarks = np.zeros([1, 68, 2], np.float32)
  landmarks[0, 48:68] = [10.0, 20.0]
  landmarks[0, 54] = [14.0, 22.0]
  mask = masked.landmark_box_mask(tf.constant(landmarks), 32, margin=1.0)
  rows, cols = np.nonzero(mask[0, ..., 0].numpy())
  assert (rows.min(), rows.max(), cols.min(), cols.max()) == (19, 22, 9, 14)


def test_eye_box_uses_the_eye_landmarks_only():
  landmarks = np.zeros([1, 68, 2], np.float32)
  landmarks[0, :] = [30.0, 30.0]        # everything else far away
  landmarks[0, 36:48] = [8.0, 6.0]
  mask = masked.landmark_box_mask(tf.constant(landmarks), 32,
                                  masked.EYE_LANDMARKS, margin=0.0)
  rows, cols = np.nonzero(mask[0, ..., 0].numpy())
  # One point and no margin: a zero-size box no pixel centre falls in.
  assert rows.size == 0
  mask = masked.landmark_box_mask(tf.constant(landmarks), 32,
                                  masked.EYE_LANDMARKS, margin=1.0)
  rows, cols = np.nonzero(mask[0, ..., 0].numpy())
  assert (rows.min(), rows.max(), cols.min(), cols.max()) == (5, 6, 7, 8)
  assert masked.MOUTH_LANDMARKS == tuple(range(48, 68))
  assert masked.EYE_LANDMARKS == tuple(range(36, 48))


def _pair():
  rng = np.random.default_rng(0)
  a = rng.uniform(-1, 1, [2, 6, 6, 3]).astype(np.float32)
  b = rng.uniform(-1, 1, [2, 6, 6, 3]).astype(np.float32)
  m = np.zeros([2, 6, 6, 1], np.float32)
  m[0, 1:3, 2:5] = 1.0
  m[1, 4:6, 0:2] = 0.5
  return a, b, m


def test_masked_l1_is_mean_abs_error_inside_the_mask():
  a, b, m = _pair()
  got = float(masked.masked_l1(tf.constant(a), tf.constant(b), tf.constant(m)))
  per = [np.sum(np.abs(a[i] - b[i]) * m[i]) / (3 * max(m[i].sum(), 1.0))
         for i in range(2)]
  assert got == pytest.approx(np.mean(per), rel=1e-5)
  # Differences outside the mask do not count; an empty mask gives 0.
  b2 = b.copy()
  b2[m[..., 0] == 0] += 5.0
  assert float(masked.masked_l1(a, b2, m)) == pytest.approx(got, rel=1e-5)
  assert float(masked.masked_l1(a, b, np.zeros_like(m))) == 0.0


def test_masked_squared_error_is_confignets_eye_loss():
  a, b, m = _pair()
  got = float(masked.masked_squared_error(a, b, m))
  per = [np.sum(((a[i] - b[i]) * m[i])**2) / (1.0 + m[i].sum())
         for i in range(2)]
  assert got == pytest.approx(np.mean(per), rel=1e-5)
  assert float(masked.masked_squared_error(a, a, m)) == 0.0
