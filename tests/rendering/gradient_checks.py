"""Jacobian checks against central finite differences, shared by the tests.

StyleRig and DiscoFaceGAN backpropagate image and landmark losses through
the camera, lighting and face model; the rendering code computes in float32
(it casts its inputs), so the differences are float32 ones with
``tf.test.compute_gradient``'s step of 1/1024.
"""

import numpy as np
import tensorflow as tf


def assert_jacobians_match(fn, inputs, tol=2e-3):
  """Autodiff vs. numeric Jacobians of `fn` w.r.t. every input.

  Each difference must stay below `tol` times the largest entry of that
  Jacobian, and the Jacobian must not vanish (else nothing was checked).
  """
  inputs = [tf.constant(np.asarray(x, np.float32)) for x in inputs]
  theoretical, numerical = tf.test.compute_gradient(fn, inputs)
  for k, (ours, numeric) in enumerate(zip(theoretical, numerical)):
    scale = np.abs(numeric).max()
    assert scale > 1e-3, f"input {k}: zero Jacobian"
    np.testing.assert_allclose(ours, numeric, atol=tol * scale, rtol=0,
                               err_msg=f"input {k}")
