"""Tests for tfface.rendering.rasterizer: both backends, gradients, export."""

import os
import tempfile

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_graphics.geometry.transformation import look_at
from tensorflow_graphics.rendering.camera import perspective

from tfface.rendering import kernel_build
from tfface.rendering import rasterizer


def _needs_kernel():
  try:
    kernel_build.ensure_rasterizer_kernel()
  except kernel_build.KernelBuildError as e:
    pytest.skip(f"TF Graphics kernel unavailable: {e}")


def _view_projection(batch, eye=(0.0, 0.0, 4.0), fov_deg=45.0, near=0.5,
                     far=10.0, aspect=1.0):
  proj = perspective.right_handed(
      np.full([batch, 1], np.deg2rad(fov_deg), np.float32),
      np.full([batch, 1], aspect, np.float32),
      np.full([batch, 1], near, np.float32),
      np.full([batch, 1], far, np.float32))
  view = look_at.right_handed(
      np.tile(np.float32([eye]), [batch, 1]),
      np.zeros([batch, 3], np.float32),
      np.tile(np.float32([[0.0, 1.0, 0.0]]), [batch, 1]))
  return tf.matmul(proj, view)


def _grid_mesh(n, bulge=0.5, size=1.0):
  """An n x n vertex height-field patch (a closed fan around every vertex)."""
  u, v = np.meshgrid(np.linspace(-size, size, n), np.linspace(-size, size, n))
  z = bulge * np.cos(0.5 * np.pi * u / size) * np.cos(0.5 * np.pi * v / size)
  verts = np.stack([u, v, z], -1).reshape(-1, 3).astype(np.float32)
  idx = np.arange(n * n).reshape(n, n)
  a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
  c, d = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
  tris = np.concatenate([np.stack([a, b, c], 1), np.stack([b, d, c], 1)])
  return verts, tris.astype(np.int32)


def _random_soup(rng, batch, num_vertices, num_triangles):
  verts = rng.uniform(-1.2, 1.2, (batch, num_vertices, 3)).astype(np.float32)
  tris = rng.integers(0, num_vertices, (num_triangles, 3)).astype(np.int32)
  return verts, tris


def _compare_backends(verts, tris, attrs, vp, size, cull=False):
  out_tf = rasterizer.rasterize(verts, tris, attrs, vp, size, backend="tf",
                                enable_cull_face=cull)
  out_cpu = rasterizer.rasterize(verts, tris, attrs, vp, size,
                                 backend="tfg_cpu", enable_cull_face=cull)
  mask_tf = out_tf["mask"].numpy() > 0
  mask_cpu = out_cpu["mask"].numpy() > 0
  assert mask_cpu.sum() > 0.05 * mask_cpu.size, "test scene nearly empty"
  iou = (mask_tf & mask_cpu).sum() / (mask_tf | mask_cpu).sum()
  assert iou >= 0.99
  both = mask_tf & mask_cpu
  same_id = (out_tf["triangle_indices"].numpy() ==
             out_cpu["triangle_indices"].numpy())[both]
  assert same_id.mean() >= 0.99
  sel = np.broadcast_to(both & (out_tf["triangle_indices"].numpy() ==
                                out_cpu["triangle_indices"].numpy()),
                        out_tf["barycentrics"].shape)
  np.testing.assert_allclose(out_tf["barycentrics"].numpy()[sel],
                             out_cpu["barycentrics"].numpy()[sel], atol=1e-4)
  for name in attrs:
    a, b = out_tf[name].numpy(), out_cpu[name].numpy()
    sel = np.broadcast_to(both & (out_tf["triangle_indices"].numpy() ==
                                  out_cpu["triangle_indices"].numpy()),
                          a.shape)
    np.testing.assert_allclose(a[sel], b[sel], atol=1e-4)
    assert np.all(a[~np.broadcast_to(mask_tf, a.shape)] == 0)
  return out_tf, out_cpu


@pytest.mark.parametrize("cull", [False, True])
def test_backends_agree_on_random_triangle_soup(cull):
  _needs_kernel()
  rng = np.random.default_rng(1 + cull)
  verts, tris = _random_soup(rng, 2, 60, 50)
  attrs = {"color": rng.uniform(0, 1, (2, 60, 3)).astype(np.float32),
           "uv": rng.uniform(-1, 1, (2, 60, 2)).astype(np.float32)}
  out_tf, _ = _compare_backends(verts, tris, attrs, _view_projection(2),
                                (32, 40), cull=cull)
  assert out_tf["color"].shape == (2, 32, 40, 3)
  assert out_tf["uv"].shape == (2, 32, 40, 2)
  assert out_tf["triangle_indices"].dtype == tf.int32


def test_backends_agree_on_closed_mesh_with_shared_edges():
  _needs_kernel()
  verts, tris = _grid_mesh(12)
  rng = np.random.default_rng(3)
  verts = np.stack([verts, verts * np.float32([1.1, 0.9, -1.0])])
  colors = rng.uniform(0, 1, (2, verts.shape[1], 3)).astype(np.float32)
  out_tf, _ = _compare_backends(verts, tris, {"color": colors},
                                _view_projection(2, eye=(0.3, -0.2, 3.0)),
                                (48, 48))
  # Watertight: inside the projected patch there is no hole.
  assert out_tf["mask"].numpy()[:, 16:32, 16:32].min() == 1.0


def test_triangles_crossing_the_near_plane_agree():
  _needs_kernel()
  rng = np.random.default_rng(5)
  verts = rng.uniform(-1.0, 1.0, (1, 30, 3)).astype(np.float32)
  verts[..., 2] *= 4.0  # from behind the camera (z = 4) to far in front
  tris = rng.integers(0, 30, (40, 3)).astype(np.int32)
  vp = _view_projection(1, eye=(0.0, 0.0, 2.5), near=0.5)
  _compare_backends(verts, tris, {}, vp, (24, 24))


def test_row_zero_is_the_top_and_column_zero_the_left():
  _needs_kernel()
  # A small triangle up (+y) and left (-x) of the view centre.
  verts = np.float32([[[-1.2, 0.2, 0.0], [-0.2, 0.2, 0.0], [-0.7, 1.2, 0.0]]])
  tris = np.int32([[0, 1, 2]])
  for backend in rasterizer.BACKENDS:
    out = rasterizer.rasterize(verts, tris, None, _view_projection(1),
                               (32, 32), backend=backend)
    rows, cols = np.nonzero(out["mask"].numpy()[0, ..., 0])
    assert rows.size > 0
    assert rows.max() < 16 and cols.max() < 16, backend
    # The apex (+y) is narrower than the base: fewer pixels on the top row.
    assert (rows == rows.min()).sum() < (rows == rows.max()).sum(), backend


def test_chunked_loop_matches_single_chunk():
  rng = np.random.default_rng(7)
  verts, tris = _random_soup(rng, 2, 40, 60)
  clip = rasterizer.to_clip_space(verts, _view_projection(2))
  ids_one, mask_one = rasterizer.rasterize_triangle_ids(clip, tris, (20, 24))
  ids_many, mask_many = rasterizer.rasterize_triangle_ids(
      clip, tris, (20, 24), chunk_size=37)
  np.testing.assert_array_equal(mask_one.numpy(), mask_many.numpy())
  np.testing.assert_array_equal(ids_one.numpy(), ids_many.numpy())
  assert mask_one.numpy().sum() > 50


def test_nearest_triangle_wins():
  # Two overlapping squares; the one nearer the camera (+z) must show.
  quad = np.float32([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]])
  verts = np.concatenate([quad, quad * np.float32([0.5, 0.5, 1]) +
                          np.float32([0, 0, 0.5])])[None]
  tris = np.int32([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
  out = rasterizer.rasterize(verts, tris, None, _view_projection(1),
                             (16, 16), backend="tf")
  ids = out["triangle_indices"].numpy()[0, ..., 0]
  assert set(np.unique(ids[7:9, 7:9])) <= {2, 3}
  assert set(np.unique(ids[0, :])) <= {0, 1}


def _fd_loss_fn(backend, tris, vp, size, weights):
  @tf.function
  def loss(verts, colors):
    out = rasterizer.rasterize(verts, tris, {"color": colors}, vp, size,
                               backend=backend)
    return tf.reduce_sum(out["color"] * weights)
  return loss


@pytest.mark.parametrize("backend", rasterizer.BACKENDS)
def test_gradients_match_finite_differences(backend):
  if backend == "tfg_cpu":
    _needs_kernel()
  verts, tris = _grid_mesh(4, bulge=0.3, size=2.0)  # covers the whole frame
  rng = np.random.default_rng(11)
  verts = (verts + rng.normal(0, 0.05, verts.shape)).astype(np.float32)[None]
  colors = rng.uniform(0, 1, (1, verts.shape[1], 3)).astype(np.float32)
  size = (12, 12)
  weights = tf.constant(rng.uniform(0, 1, (1,) + size + (3,)), tf.float32)
  vp = _view_projection(1, eye=(0.0, 0.0, 3.0))
  loss = _fd_loss_fn(backend, tris, vp, size, weights)
  v, c = tf.constant(verts), tf.constant(colors)
  with tf.GradientTape() as tape:
    tape.watch([v, c])
    value = loss(v, c)
  grad_v, grad_c = tape.gradient(value, [v, c])
  grad_v, grad_c = grad_v.numpy(), grad_c.numpy()
  assert np.abs(grad_v).max() > 0 and np.abs(grad_c).max() > 0
  # Interior vertices only: moving them does not change the coverage.
  eps = 2e-3
  checked = 0
  for vertex in (5, 6, 9, 10):
    for axis in range(3):
      plus, minus = verts.copy(), verts.copy()
      plus[0, vertex, axis] += eps
      minus[0, vertex, axis] -= eps
      fd = (loss(tf.constant(plus), c) -
            loss(tf.constant(minus), c)).numpy() / (2 * eps)
      np.testing.assert_allclose(grad_v[0, vertex, axis], fd, rtol=0.05,
                                 atol=0.02 * (np.abs(grad_v).max() + 1e-6))
      checked += 1
  for vertex in (0, 5, 10, 15):
    for channel in range(3):
      plus, minus = colors.copy(), colors.copy()
      plus[0, vertex, channel] += 0.1
      minus[0, vertex, channel] -= 0.1
      fd = (loss(v, tf.constant(plus)) -
            loss(v, tf.constant(minus))).numpy() / 0.2
      np.testing.assert_allclose(grad_c[0, vertex, channel], fd, rtol=1e-3,
                                 atol=1e-4)
  assert checked == 12


def test_tf_backend_exports_to_savedmodel_with_dynamic_batch():
  verts, tris = _grid_mesh(6)
  module = tf.Module()

  @tf.function(input_signature=[
      tf.TensorSpec([None, verts.shape[0], 3], tf.float32),
      tf.TensorSpec([None, 4, 4], tf.float32)])
  def render(v, vp):
    out = rasterizer.rasterize(v, tris, {"pos": v}, vp, (16, 16))
    return {"mask": out["mask"], "pos": out["pos"]}

  module.render = render
  batch = np.stack([verts, verts * 0.8])
  vp = _view_projection(2)
  expected = render(batch, vp)
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "model")
    tf.saved_model.save(module, path)
    loaded = tf.saved_model.load(path)
    got = loaded.render(tf.constant(batch[:1]), vp[:1])
    saved_ops = set()
    graph = loaded.render.get_concrete_function().graph.as_graph_def()
    for fn in graph.library.function:
      saved_ops.update(node.op for node in fn.node_def)
  assert "RasterizeTriangles" not in saved_ops
  np.testing.assert_allclose(got["mask"].numpy(),
                             expected["mask"].numpy()[:1])
  np.testing.assert_allclose(got["pos"].numpy(), expected["pos"].numpy()[:1],
                             atol=1e-6)


def test_bad_inputs_raise_clear_errors():
  verts, tris = _grid_mesh(3)
  vp = _view_projection(1)
  with pytest.raises(ValueError, match="backend"):
    rasterizer.rasterize(verts[None], tris, None, vp, (8, 8), backend="gl")
  with pytest.raises(ValueError, match="image_size"):
    rasterizer.rasterize(verts[None], tris, None, vp, (8, 0))
  with pytest.raises(ValueError, match="vertices"):
    rasterizer.rasterize(verts, tris, None, vp, (8, 8))
  with pytest.raises(ValueError, match="triangles"):
    rasterizer.rasterize(verts[None], tris[:, :2], None, vp, (8, 8))
  with pytest.raises(ValueError, match="view_projection_matrix"):
    rasterizer.rasterize(verts[None], tris, None, vp[:, :3], (8, 8))
  with pytest.raises(ValueError, match="attribute 'c'"):
    rasterizer.rasterize(verts[None], tris, {"c": verts[None, :4]}, vp,
                         (8, 8))
  with pytest.raises(ValueError, match="triangles is empty"):
    rasterizer.rasterize(verts[None], tris[:0], None, vp, (8, 8))
  with pytest.raises(ValueError, match="reserved"):
    rasterizer.rasterize(verts[None], tris, {"mask": verts[None]}, vp, (8, 8))
  with pytest.raises(ValueError, match="chunk_size"):
    rasterizer.rasterize(verts[None], tris, None, vp, (8, 8), chunk_size=0)


def test_tfg_cpu_backend_needs_a_static_batch():
  verts, tris = _grid_mesh(3)

  @tf.function(input_signature=[tf.TensorSpec([None, 9, 3], tf.float32),
                                tf.TensorSpec([None, 4, 4], tf.float32)])
  def render(v, vp):
    return rasterizer.rasterize(v, tris, None, vp, (8, 8),
                                backend="tfg_cpu")["mask"]

  with pytest.raises(ValueError, match="static batch size"):
    render.get_concrete_function()


def test_tf_backend_is_scale_invariant_for_distant_cameras():
  # Scaling scene and camera distance together leaves the image unchanged.
  # At w ~ 60 TF Graphics' kernel overflows its int64 determinant and drops
  # triangles; the pure-TF backend takes the sign in float64.
  rng = np.random.default_rng(13)
  verts, tris = _random_soup(rng, 1, 40, 30)
  near = _view_projection(1, eye=(0.0, 0.0, 4.0), far=100.0)
  far = _view_projection(1, eye=(0.0, 0.0, 60.0), far=100.0)
  ids_near = rasterizer.rasterize(verts, tris, None, near, (24, 24))
  ids_far = rasterizer.rasterize(verts * 15.0, tris, None, far, (24, 24))
  assert ids_near["mask"].numpy().sum() > 50
  np.testing.assert_array_equal(ids_near["mask"].numpy(),
                                ids_far["mask"].numpy())
  same = (ids_near["triangle_indices"].numpy() ==
          ids_far["triangle_indices"].numpy())
  assert same.mean() >= 0.99


def test_tf_backend_ops_all_have_gpu_kernels():
  # No GPU here, but the wheel's kernel registry says where each op can run:
  # every op of a forward + backward rasterization must have a GPU kernel for
  # its dtype, apart from int32 shape bookkeeping that TensorFlow keeps in
  # host memory anyway and functional control flow.
  if not tf.test.is_built_with_cuda():
    pytest.skip("TensorFlow built without CUDA: no GPU kernel registry")
  from tensorflow.core.framework import types_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow.python.framework import kernels  # pylint: disable=g-import-not-at-top
  _, tris = _grid_mesh(4)

  @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32),
                                tf.TensorSpec([None, 4, 4], tf.float32)])
  def render_and_grad(v, vp):
    with tf.GradientTape() as tape:
      tape.watch(v)
      out = rasterizer.rasterize(v, tris, {"c": v}, vp, (16, 16))
      loss = tf.reduce_sum(out["c"])
    return loss, tape.gradient(loss, v)

  graph = render_and_grad.get_concrete_function().graph.as_graph_def()
  nodes = list(graph.node)
  for function in graph.library.function:
    nodes.extend(function.node_def)
  missing = set()
  for node in nodes:
    if node.op in ("StatelessWhile", "StatelessIf", "While", "If",
                   "Placeholder", "NoOp", "ConcatOffset"):
      continue
    dtypes = {key: node.attr[key].type for key in ("T", "Tparams", "dtype")
              if key in node.attr and node.attr[key].type}
    if dtypes and all(t == types_pb2.DT_INT32 for t in dtypes.values()):
      continue  # host-memory int32 shape ops
    ok = False
    for kernel in kernels.get_registered_kernels_for_op(node.op).kernel:
      if kernel.device_type != "GPU":
        continue
      allowed = {c.name: set(c.allowed_values.list.type)
                 for c in kernel.constraint}
      if all(key not in allowed or t in allowed[key]
             for key, t in dtypes.items()):
        ok = True
    if not ok:
      missing.add((node.op, tuple(sorted(dtypes.items()))))
  assert not missing, missing
