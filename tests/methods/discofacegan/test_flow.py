"""The rendered expression flow (tfface.methods.discofacegan.flow)."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from tfface.layers.image_warp import dense_image_warp
from tfface.losses import contrastive
from tfface.methods.discofacegan import flow as flow_lib
from tfface.rendering import camera as camera_lib
from tfface.rendering import face_model
from tfface.rendering import face_renderer
from tfface.rendering import procedural_model

SIZE = 16


class PlaneModel(face_model.FaceModel):
  """A square grid at z = 0: every vertex projects with the same scale, so a
  translation (tx, ty, 0) moves every projected vertex by (f tx, -f ty) / 10
  pixels exactly. Albedo is a smooth pattern, so warps can be checked."""

  def __init__(self, n=9, half=0.7):
    xs = np.linspace(-half, half, n, dtype=np.float32)
    gx, gy = np.meshgrid(xs, -xs)  # row 0 at the top (+y)
    self._vertices = np.stack([gx, gy, np.zeros_like(gx)], -1).reshape(-1, 3)
    tris = []
    for r in range(n - 1):
      for c in range(n - 1):
        a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
        tris += [[a, d, b], [b, d, e]]  # counter-clockwise seen from +z
    self._triangles = np.array(tris, np.int32)
    u = (gx.reshape(-1) + half) / (2 * half)
    v = (gy.reshape(-1) + half) / (2 * half)
    self._albedo = np.stack([u, v, 0.5 + 0.4 * np.sin(6 * u * v)], -1)

  triangles = property(lambda self: self._triangles)
  num_vertices = property(lambda self: len(self._vertices))
  landmark_indices = property(lambda self: np.zeros([68], np.int32))
  parameter_sizes = property(
      lambda self: collections.OrderedDict([("identity", 1)]))
  expression_names = property(lambda self: ())

  def region_weights(self):
    return {}

  def vertices(self, params):
    batch = tf.shape(params["identity"])[0]
    return tf.tile(tf.constant(self._vertices)[None], [batch, 1, 1])

  def albedo(self, params):
    batch = tf.shape(params["identity"])[0]
    return tf.tile(tf.constant(self._albedo.astype(np.float32))[None],
                   [batch, 1, 1])


def _plane_params(renderer, shift_rows, shift_cols):
  params = renderer.default_parameters(1)
  f = renderer.camera.focal
  params["translation"] = tf.constant(
      [[shift_cols * camera_lib.CAMERA_DISTANCE / f,
        -shift_rows * camera_lib.CAMERA_DISTANCE / f, 0.0]])
  return params


@pytest.mark.parametrize("shift", [(2.0, -3.0), (0.75, 1.5)])
def test_translated_plane_gives_that_translation(shift):
  renderer = face_renderer.FaceRenderer(PlaneModel(), SIZE)
  params_1 = _plane_params(renderer, 0.0, 0.0)
  params_2 = _plane_params(renderer, *shift)
  flow, mask_1, mask_2 = flow_lib.render_expression_flow(
      renderer, params_1, params_2)
  assert flow.shape == (1, SIZE, SIZE, 2) and mask_2.shape == (1, SIZE, SIZE, 1)
  on = mask_2.numpy()[0, ..., 0] > 0
  assert 30 < on.sum() < SIZE * SIZE - 30
  np.testing.assert_allclose(flow.numpy()[0][on], np.tile(shift, [on.sum(), 1]),
                             atol=1e-4)
  np.testing.assert_array_equal(flow.numpy()[0][~on], 0.0)
  assert mask_1.numpy().sum() > 30
  if shift == (2.0, -3.0):
    # Integer shift: face 2's mask is face 1's moved by the shift, and
    # dense_image_warp(face 1 render, flow) reproduces face 2's render there.
    np.testing.assert_array_equal(
        np.roll(mask_1.numpy(), (2, -3), axis=(1, 2)), mask_2.numpy())
    image_1 = renderer.render(params_1)["image"]
    image_2 = renderer.render(params_2)["image"].numpy()
    warped = dense_image_warp(image_1, flow).numpy()
    np.testing.assert_allclose(warped[0][on], image_2[0][on], atol=1e-4)
    # A flat vector in the renderer's layout gives the same flow.
    layout = renderer.coefficient_layout
    again, _, _ = flow_lib.render_expression_flow(
        renderer, layout.join(params_1), layout.join(params_2))
    np.testing.assert_allclose(again.numpy(), flow.numpy(), atol=1e-6)


def test_procedural_expression_flow_aligns_the_renders():
  model = procedural_model.ProceduralFaceModel(resolution=1)
  renderer = face_renderer.FaceRenderer(model, 32, enable_cull_face=True)
  params_1 = renderer.default_parameters(1)
  params_2 = dict(params_1)
  expression = np.zeros([1, 24], np.float32)
  expression[0, 0] = 1.0                                  # jawOpen
  params_2["expression"] = tf.constant(expression)
  flow, mask_1, mask_2 = flow_lib.render_expression_flow(
      renderer, params_1, params_2, region="face")
  flow, mask_2 = flow.numpy(), mask_2.numpy()
  assert np.all(np.isfinite(flow))
  np.testing.assert_array_equal(flow[mask_2[..., 0] == 0], 0.0)
  # The open jaw moves the chin down (positive rows), nothing moves up much.
  assert flow[..., 0].max() > 1.0 and flow[..., 0].min() > -0.5
  image_1 = renderer.render(params_1)["image"]
  image_2 = renderer.render(params_2)["image"]
  unwarped = contrastive.expression_warp_loss(
      image_1, image_2, tf.zeros_like(flow), mask_1, mask_2)
  warped = contrastive.expression_warp_loss(image_1, image_2, flow, mask_1,
                                            mask_2)
  wrong_sign = contrastive.expression_warp_loss(image_1, image_2, -flow,
                                                mask_1, mask_2)
  # Measured: 0.0052 unwarped, 0.0041 warped, 0.0106 with the sign flipped
  # (the open mouth interior has no counterpart in face 1).
  assert float(warped) < 0.9 * float(unwarped)
  assert float(warped) < 0.5 * float(wrong_sign)
  with pytest.raises(ValueError, match="region"):
    flow_lib.render_expression_flow(renderer, params_1, params_2,
                                    region="nose")
