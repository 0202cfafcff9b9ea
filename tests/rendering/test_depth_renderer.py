"""Tests for tfface.rendering.depth_renderer (LiftedGAN's renderer)."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.rendering import depth_renderer
from tfface.rendering import kernel_build

S = 32
_FOCAL_RENDER = S / 2 / np.tan(np.deg2rad(5.0))  # OpenGL camera, fov 10°


def _blob_albedo(sigma=2.5):
  yy, xx = np.mgrid[0:S, 0:S]
  blob = np.exp(-((xx - (S - 1) / 2)**2 + (yy - (S - 1) / 2)**2) /
                (2 * sigma**2))
  return np.float32(blob * 2 - 1)[None, ..., None].repeat(3, -1)


def _centroid(image, mask):
  weight = (image[..., 0] + 1) / 2 * mask[..., 0]
  yy, xx = np.mgrid[0:S, 0:S]
  return ((weight * xx).sum() / weight.sum() - (S - 1) / 2,
          (weight * yy).sum() / weight.sum() - (S - 1) / 2)


def test_flat_frontal_render_is_albedo_times_analytic_shading():
  renderer = depth_renderer.DepthMapRenderer(S)
  depth = np.ones((2, S, S, 1), np.float32)
  ramp = np.arange(S, dtype=np.float32) / (S - 1) * 1.6 - 0.8
  albedo = np.zeros((2, S, S, 3), np.float32)
  albedo[..., 0] = ramp[None, :]
  albedo[..., 1] = ramp[:, None]
  albedo[1] *= -0.5
  light = np.float32([[0.2, 0.6, 0.3, -0.4], [-0.4, 0.0, 0.0, 0.0]])
  out = renderer.render(depth, albedo, np.zeros((2, 6), np.float32), light)
  ambient = light[:, 0] / 2 + 0.5
  diffuse = light[:, 1] / 2 + 0.5
  cosine = 1 / np.sqrt(light[:, 2]**2 + light[:, 3]**2 + 1)  # normal = +z
  shading = ambient + diffuse * cosine
  np.testing.assert_allclose(out["normals"].numpy()[..., 2], 1.0, atol=1e-5)
  np.testing.assert_allclose(out["shading"].numpy()[..., 0],
                             np.broadcast_to(shading[:, None, None],
                                             (2, S, S)), atol=1e-5)
  assert out["mask"].numpy().min() == 1.0
  np.testing.assert_allclose(out["depth"].numpy(), 1.0, atol=1e-5)
  # Pixel i sees grid column (S-1)/2 + (i - (S-1)/2)(S-1)/S (the 256/255
  # zoom of LiftedGAN's renderer); the albedo ramp is linear, so exact.
  i = np.arange(S, dtype=np.float64)
  seen = ((S - 1) / 2 + (i - (S - 1) / 2) * (S - 1) / S) / (S - 1) * 1.6 - 0.8
  for b in range(2):
    scale = 1.0 if b == 0 else -0.5
    expected_r = ((scale * seen / 2 + 0.5) * shading[b]) * 2 - 1
    np.testing.assert_allclose(out["image"].numpy()[b, :, :, 0],
                               np.broadcast_to(expected_r[None, :], (S, S)),
                               atol=1e-4)
    np.testing.assert_allclose(out["image"].numpy()[b, :, :, 1],
                               np.broadcast_to(expected_r[:, None], (S, S)),
                               atol=1e-4)


def test_min_diffuse_rescales_the_diffuse_strength():
  light = tf.constant([[0.2, -1.0, 0.3, 0.0], [0.2, 1.0, 0.3, 0.0],
                       [0.2, 0.0, 0.3, 0.0]])
  reference = depth_renderer.DepthMapRenderer(8)
  floored = depth_renderer.DepthMapRenderer(8, min_diffuse=0.3)
  ambient, diffuse, direction = floored.parse_light(light)
  ref_ambient, ref_diffuse, ref_direction = reference.parse_light(light)
  np.testing.assert_allclose(ref_diffuse.numpy()[:, 0], [0.0, 1.0, 0.5])
  # m + (1 - m)(l1/2 + 1/2): l1 = -1 -> 0.3, 1 -> 1, 0 -> 0.65.
  np.testing.assert_allclose(diffuse.numpy()[:, 0], [0.3, 1.0, 0.65],
                             atol=1e-6)
  np.testing.assert_allclose(ambient, ref_ambient)
  np.testing.assert_allclose(direction, ref_direction)


@pytest.mark.parametrize("yaw_degrees", [20.0, -20.0])
def test_yaw_moves_content_horizontally(yaw_degrees):
  # A plane at depth 0.95 is in front of the rotation centre (0, 0, 1): a
  # positive yaw (about +y, which points down the image) swings its centre
  # to -x, the image left.
  renderer = depth_renderer.DepthMapRenderer(S)
  depth = np.full((1, S, S, 1), 0.95, np.float32)
  view = np.float32([[0, yaw_degrees / 60, 0, 0, 0, 0]])
  out = renderer.render(depth, _blob_albedo(), view,
                        np.float32([[1, -1, 0, 0]]))
  cx, cy = _centroid(out["image"].numpy()[0], out["mask"].numpy()[0])
  theta = np.deg2rad(yaw_degrees)
  expected = _FOCAL_RENDER * -0.05 * np.sin(theta) / (1 - 0.05 * np.cos(theta))
  assert np.sign(cx) == -np.sign(yaw_degrees)
  assert abs(cx - expected) < 0.25
  assert abs(cy) < 0.05
  # The tilted plane no longer fills the frame on one side.
  assert out["mask"].numpy().mean() < 0.95


def test_translation_and_pitch_move_content():
  renderer = depth_renderer.DepthMapRenderer(S)
  depth = np.full((2, S, S, 1), 0.95, np.float32)
  view = np.float32([[0, 0, 0, 0.5, 0, 0], [10 / 60, 0, 0, 0, 0, 0]])
  out = renderer.render(depth, np.repeat(_blob_albedo(), 2, 0), view,
                        np.float32([[1, -1, 0, 0]] * 2))
  cx, cy = _centroid(out["image"].numpy()[0], out["mask"].numpy()[0])
  assert abs(cx - _FOCAL_RENDER * 0.05 / 0.95) < 0.25 and abs(cy) < 0.05
  cx, cy = _centroid(out["image"].numpy()[1], out["mask"].numpy()[1])
  assert cy > 1.0 and abs(cx) < 0.05  # positive pitch: centre moves down


def test_zero_transformation_map_keeps_the_canonical_view():
  renderer = depth_renderer.DepthMapRenderer(S)
  rng = np.random.default_rng(0)
  depth = np.float32(rng.uniform(0.95, 1.05, (1, S, S, 1)))
  albedo = np.float32(rng.uniform(-1, 1, (1, S, S, 3)))
  light = np.float32([[0.0, 0.5, 0.2, 0.1]])
  frontal = renderer.render(depth, albedo, np.zeros((1, 6), np.float32),
                            light)
  view = np.float32([[0.2, 0.5, 0.1, 0.3, -0.2, 0.5]])
  frozen = renderer.render(depth, albedo, view, light,
                           transformation_map=np.zeros((1, S, S, 1)))
  np.testing.assert_allclose(frozen["image"].numpy(),
                             frontal["image"].numpy(), atol=1e-5)
  moved = renderer.render(depth, albedo, view, light,
                          transformation_map=np.ones((1, S, S, 1)))
  assert np.abs(moved["image"].numpy() - frontal["image"].numpy()).mean() > 0.1
  # Blend: T = 0.5 puts every vertex halfway.
  half = renderer.posed_vertices(depth, view, np.full((1, S, S, 1), 0.5))
  full = renderer.posed_vertices(depth, view)
  still = renderer.posed_vertices(depth, np.zeros((1, 6), np.float32))
  np.testing.assert_allclose(half.numpy(), 0.5 * (full + still).numpy(),
                             atol=1e-6)


def test_shapes_ranges_background_and_gradients():
  renderer = depth_renderer.DepthMapRenderer((24, 32))
  rng = np.random.default_rng(1)
  depth = tf.constant(rng.uniform(0.9, 1.1, (2, 24, 32, 1)), tf.float32)
  albedo = tf.constant(rng.uniform(-1, 1, (2, 24, 32, 3)), tf.float32)
  view = tf.constant(rng.uniform(-0.3, 0.3, (2, 6)), tf.float32)
  light = tf.constant(rng.uniform(-1, 1, (2, 4)), tf.float32)
  with tf.GradientTape() as tape:
    tape.watch([depth, albedo, view, light])
    out = renderer.render(depth, albedo, view, light)
    loss = tf.reduce_sum(out["image"] * out["mask"])
  assert out["image"].shape == (2, 24, 32, 3)
  assert out["mask"].shape == (2, 24, 32, 1)
  assert out["depth"].shape == (2, 24, 32, 1)
  mask = out["mask"].numpy()
  assert set(np.unique(mask)) <= {0.0, 1.0} and 0.3 < mask.mean() < 1.0
  rendered_depth = out["depth"].numpy()
  assert np.all(rendered_depth[mask == 1] > 0.75)
  assert np.all(rendered_depth[mask == 1] < 1.25)
  np.testing.assert_allclose(rendered_depth[mask == 0], 1.2, atol=1e-6)
  image = out["image"].numpy()
  np.testing.assert_allclose(image[np.broadcast_to(mask, image.shape) == 0],
                             1.0)
  # Shading a + b * cos lies in [0, 2]; so the image lies in [-3, 3].
  assert np.abs(image).max() <= 3.0
  for name, grad in zip(("depth", "albedo", "view", "light"),
                        tape.gradient(loss, [depth, albedo, view, light])):
    assert grad is not None and np.isfinite(grad.numpy()).all(), name
    assert np.abs(grad.numpy()).max() > 0, name


def test_backends_agree():
  try:
    kernel_build.ensure_rasterizer_kernel()
  except kernel_build.KernelBuildError as e:
    pytest.skip(f"TF Graphics kernel unavailable: {e}")
  rng = np.random.default_rng(2)
  yy, xx = np.mgrid[0:S, 0:S]
  face = np.exp(-((xx - 15.5)**2 + (yy - 15.5)**2) / (2 * 7.0**2))
  depth = np.float32(1.05 - 0.12 * face)[None, ..., None].repeat(2, 0)
  albedo = np.float32(rng.uniform(-1, 1, (2, S, S, 3)))
  view = np.float32([[0.1, 0.3, 0.05, 0.1, -0.1, 0.2],
                     [-0.2, -0.4, 0.0, -0.2, 0.1, -0.5]])
  light = np.float32(rng.uniform(-1, 1, (2, 4)))
  tmap = np.float32(np.clip(face * 3, 0, 1))[None, ..., None].repeat(2, 0)
  outs = [depth_renderer.DepthMapRenderer(S, backend=b).render(
      depth, albedo, view, light, tmap) for b in ("tf", "tfg_cpu")]
  mask_a = outs[0]["mask"].numpy() > 0
  mask_b = outs[1]["mask"].numpy() > 0
  assert (mask_a & mask_b).sum() / (mask_a | mask_b).sum() >= 0.99
  np.testing.assert_allclose(outs[0]["image"].numpy(),
                             outs[1]["image"].numpy(), atol=1e-4)
  np.testing.assert_allclose(outs[0]["depth"].numpy(),
                             outs[1]["depth"].numpy(), atol=1e-5)


def test_bad_inputs_raise_clear_errors():
  renderer = depth_renderer.DepthMapRenderer(8)
  depth = np.ones((1, 8, 8, 1), np.float32)
  albedo = np.zeros((1, 8, 8, 3), np.float32)
  view, light = np.zeros((1, 6), np.float32), np.zeros((1, 4), np.float32)
  with pytest.raises(ValueError, match="depth must be"):
    renderer.render(depth[:, :4], albedo, view, light)
  with pytest.raises(ValueError, match="albedo must be"):
    renderer.render(depth, albedo[..., :1], view, light)
  with pytest.raises(ValueError, match="view must be"):
    renderer.render(depth, albedo, view[:, :3], light)
  with pytest.raises(ValueError, match="light must be"):
    renderer.render(depth, albedo, view, light[:, :2])
  with pytest.raises(ValueError, match="transformation_map must be"):
    renderer.render(depth, albedo, view, light, np.ones((1, 8, 8, 2)))
  with pytest.raises(ValueError, match="image_size"):
    depth_renderer.DepthMapRenderer(1)
  with pytest.raises(ValueError, match="backend"):
    depth_renderer.DepthMapRenderer(8, backend="opengl")
  with pytest.raises(ValueError, match="min_diffuse must be in"):
    depth_renderer.DepthMapRenderer(8, min_diffuse=1.0)


def test_grid_triangles_cover_each_quad_once():
  tris = depth_renderer.grid_triangles(3, 4)
  assert tris.shape == (2 * 2 * 3, 3) and tris.dtype == np.int32
  assert len({tuple(sorted(t)) for t in tris.tolist()}) == len(tris)
  # Every interior edge is shared by exactly two triangles.
  edges = {}
  for t in tris.tolist():
    for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
      edges[tuple(sorted((a, b)))] = edges.get(tuple(sorted((a, b))), 0) + 1
  assert max(edges.values()) == 2
  assert sum(1 for v in edges.values() if v == 1) == 2 * (2 + 3)  # boundary


def test_depth_from_network_range_mean_invariance_and_border():
  rng = np.random.default_rng(4)
  raw = rng.normal(0, 2, (2, 8, 12, 1)).astype(np.float32)
  depth = depth_renderer.depth_from_network(raw).numpy()
  shifted = depth_renderer.depth_from_network(raw + 3.0).numpy()
  np.testing.assert_allclose(depth, shifted, atol=1e-6)
  inner = depth[:, :, 2:-2]
  assert inner.min() > 0.9 and inner.max() < 1.1
  np.testing.assert_allclose(depth[:, :, [0, 1, -2, -1]], 1.05)
  # tanh(raw - mean): the pixel at the image mean has depth 1.0.
  plain = depth_renderer.depth_from_network(raw, clamp_border=False).numpy()
  centred = raw - raw.mean(axis=(1, 2, 3), keepdims=True)
  np.testing.assert_allclose(plain, 1.0 + 0.1 * np.tanh(centred), atol=1e-6)


def test_gaussian_blur_kernel_and_reflect_padding():
  image = np.zeros((1, 25, 25, 2), np.float32)
  image[0, 12, 12, 0] = 1.0
  image[..., 1] = 0.7
  out = depth_renderer.gaussian_blur(image, size=3, sigma=1.5).numpy()
  x = np.arange(7) - 3.0
  k = np.exp(-(x / 3.0)**2)
  k /= k.sum()
  np.testing.assert_allclose(out[0, 9:16, 9:16, 0], np.outer(k, k),
                             atol=1e-6)
  np.testing.assert_allclose(out[..., 1], 0.7, atol=1e-6)  # constant kept


def test_transformation_map_from_network():
  depth = np.full((1, 32, 32, 1), 1.05, np.float32)
  depth[:, 8:24, 10:22] = 0.95  # the face
  raw = np.full((1, 32, 32, 1), -20.0, np.float32)  # background T ~ 0
  t = depth_renderer.transformation_map_from_network(raw, depth).numpy()
  assert t.min() >= 0.0 and t.max() <= 1.0
  assert t[0, 16, 16, 0] > 0.9 * t.max() and t[0, 16, 16, 0] > 0.5
  assert t[0, 16, 3, 0] < t[0, 16, 12, 0]  # blurred falloff off the face
  np.testing.assert_array_equal(t[:, [0, -1]], 0.0)
  np.testing.assert_array_equal(t[:, :, [0, 1, -2, -1]], 0.0)
  # raw ~ 0 everywhere: T = sigmoid(5) ~ 0.993 even off the face.
  t0 = depth_renderer.transformation_map_from_network(
      np.zeros_like(raw), depth).numpy()
  assert t0[0, 3, 5, 0] > 0.99
  with pytest.raises(ValueError, match="must match"):
    depth_renderer.transformation_map_from_network(raw, depth[:, :16])


def test_contour_gradient_clip_drops_the_gradient_ring():
  depth = tf.constant(np.random.default_rng(6).uniform(0.9, 1.1,
                                                       (1, 12, 12, 1)),
                      tf.float32)
  region = np.zeros((1, 12, 12, 1), np.float32)
  region[:, 3:9, 2:10] = np.float32(
      np.random.default_rng(7).uniform(0.5, 1.5, (6, 8)))[None, ..., None]
  with tf.GradientTape() as tape:
    tape.watch(depth)
    clipped = depth_renderer.contour_gradient_clip(depth)
    loss = tf.reduce_sum(clipped * region)
  np.testing.assert_array_equal(clipped.numpy(), depth.numpy())
  grad = tape.gradient(loss, depth).numpy()
  expected = np.zeros_like(region)
  expected[:, 4:8, 3:9] = region[:, 4:8, 3:9]  # inside minus its 1-px ring
  np.testing.assert_allclose(grad, expected, atol=1e-7)


def test_clip_render_grad_keeps_the_image_and_changes_depth_gradients():
  rng = np.random.default_rng(8)
  yy, xx = np.mgrid[0:S, 0:S]
  depth = tf.constant(
      (1.05 - 0.1 * np.exp(-((xx - 15.5)**2 + (yy - 15.5)**2) / 60.0))
      [None, ..., None], tf.float32)
  albedo = tf.constant(rng.uniform(-1, 1, (1, S, S, 3)), tf.float32)
  view = np.float32([[0.0, 0.3, 0.0, 0.0, 0.0, 0.0]])
  light = np.float32([[0.0, 0.0, 0.0, 0.0]])
  grads, images = [], []
  for clip in (False, True):
    renderer = depth_renderer.DepthMapRenderer(S, clip_render_grad=clip)
    with tf.GradientTape() as tape:
      tape.watch(depth)
      out = renderer.render(depth, albedo, view, light)
      loss = tf.reduce_sum(out["image"] * out["mask"])
    grads.append(tape.gradient(loss, depth).numpy())
    images.append(out["image"].numpy())
  np.testing.assert_allclose(images[0], images[1])
  assert np.abs(grads[0] - grads[1]).max() > 0


def test_tf_backend_traces_with_a_dynamic_batch():
  renderer = depth_renderer.DepthMapRenderer(16)

  @tf.function(input_signature=[
      tf.TensorSpec([None, 16, 16, 1], tf.float32),
      tf.TensorSpec([None, 16, 16, 3], tf.float32),
      tf.TensorSpec([None, 6], tf.float32),
      tf.TensorSpec([None, 4], tf.float32)])
  def render(depth, albedo, view, light):
    return renderer.render(depth, albedo, view, light)["image"]

  depth = np.full((3, 16, 16, 1), 1.0, np.float32)
  albedo = np.zeros((3, 16, 16, 3), np.float32)
  out = render(depth, albedo, np.zeros((3, 6), np.float32),
               np.float32([[1, -1, 0, 0]] * 3))
  assert out.shape == (3, 16, 16, 3)
  np.testing.assert_allclose(out.numpy(), 0.0, atol=1e-5)  # grey x shade 1
  assert render(depth[:1], albedo[:1], np.zeros((1, 6), np.float32),
                np.float32([[1, -1, 0, 0]])).shape == (1, 16, 16, 3)
