"""Tests for tfface.rendering.face_renderer on a synthetic BFM-format model."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from tfface.rendering import bfm
from tfface.rendering import camera as camera_lib
from tfface.rendering import face_model
from tfface.rendering import face_renderer
from tfface.rendering import kernel_build
from tfface.rendering import rasterizer
from tests.rendering import test_face_model

SIZE = 32


class _BlobModel(face_model.FaceModel):
  """A smooth deformable ellipsoid: a FaceModel using the generic normals."""

  def __init__(self):
    verts, self._tris = test_face_model.icosphere(2)
    self._dirs = verts.astype(np.float32)
    self._base = verts * np.float32([0.8, 1.0, 0.7])
    x, y, z = verts.T
    # Smooth displacement fields along the radial direction.
    self._id_fields = np.stack([x, y, x * y, z * z], -1).astype(np.float32)
    self._exp_fields = np.stack([y * z, x * x - y * y], -1).astype(np.float32)
    self._albedo_fields = np.stack([np.ones_like(x), x, y], -1).astype(
        np.float32)

  triangles = property(lambda self: self._tris)
  num_vertices = property(lambda self: len(self._base))
  landmark_indices = property(
      lambda self: np.arange(68, dtype=np.int32) % len(self._base))
  expression_names = property(lambda self: ("a", "b"))

  @property
  def parameter_sizes(self):
    return collections.OrderedDict(identity=4, expression=2, albedo=9)

  def region_weights(self):
    return {"skin": (0.5 + 0.5 * self._dirs[:, 1]).astype(np.float32)}

  def vertices(self, params):
    radial = 0.1 * (
        tf.einsum("vk,bk->bv", self._id_fields, params["identity"]) +
        tf.einsum("vk,bk->bv", self._exp_fields, params["expression"]))
    return self._base[None] + radial[..., None] * self._dirs[None]

  def albedo(self, params):
    coefficients = tf.reshape(params["albedo"], [-1, 3, 3])
    return 0.6 + 0.1 * tf.einsum("vk,bck->bvc", self._albedo_fields,
                                 coefficients)


@pytest.fixture(scope="module")
def model():
  return bfm.BfmFaceModel(bfm.synthetic_bfm_fields(rows=14, cols=12, seed=5))


@pytest.fixture(scope="module")
def renderer(model):
  return face_renderer.FaceRenderer(model, SIZE, background=(0.5, -0.25, 0.0))


def _params(renderer, batch, seed=0, **overrides):
  rng = np.random.default_rng(seed)
  params = renderer.default_parameters(batch)
  params["identity"] = tf.constant(rng.normal(0, 0.5, (batch, 80)),
                                   tf.float32)
  params["expression"] = tf.constant(rng.normal(0, 0.5, (batch, 64)),
                                     tf.float32)
  params["albedo"] = tf.constant(rng.normal(0, 0.5, (batch, 80)), tf.float32)
  params["sh"] = tf.constant(rng.normal(0, 0.1, (batch, 27)), tf.float32)
  for name, value in overrides.items():
    params[name] = tf.constant(value, tf.float32)
  return params


def test_output_shapes_and_ranges(renderer):
  out = renderer.render(_params(renderer, 2))
  assert out["image"].shape == (2, SIZE, SIZE, 3)
  assert out["mask"].shape == (2, SIZE, SIZE, 1)
  assert out["depth"].shape == (2, SIZE, SIZE, 1)
  assert out["normals"].shape == (2, SIZE, SIZE, 3)
  assert out["landmarks"].shape == (2, 68, 2)
  assert set(out["regions"]) == {"skin", "front", "gan"}
  image, mask = out["image"].numpy(), out["mask"].numpy()
  assert image.min() >= -1 and image.max() <= 1
  assert 0.2 < mask.mean() < 0.9  # the face fills the frame, not all of it
  assert set(np.unique(mask)) == {0.0, 1.0}
  bg = mask[..., 0] == 0
  np.testing.assert_allclose(image[bg], np.broadcast_to([0.5, -0.25, 0.0],
                                                        image[bg].shape))
  for name, region in out["regions"].items():
    r = region.numpy()
    assert r.min() >= 0 and r.max() <= 1 + 1e-6, name
    assert np.all(r[bg] == 0), name
  assert out["regions"]["skin"].numpy().sum() < mask.sum()
  # Depth ~ camera distance on the face, zero on the background.
  depth = out["depth"].numpy()[..., 0]
  assert np.all(depth[bg] == 0)
  assert 9.0 < depth[~bg].min() and depth[~bg].max() < 11.0
  normals = out["normals"].numpy()
  np.testing.assert_allclose(np.linalg.norm(normals[~bg], axis=-1), 1.0,
                             atol=1e-4)
  assert normals[~bg][:, 2].mean() > 0.5  # facing the camera


def test_batch_elements_are_independent(renderer):
  params = _params(renderer, 2, seed=1, pose=[[0.1, 0.2, 0.0],
                                              [-0.2, -0.3, 0.1]])
  both = renderer.render(params)
  for i in range(2):
    single = renderer.render({k: v[i:i + 1] for k, v in params.items()})
    for key in ("image", "mask", "depth", "normals", "landmarks"):
      np.testing.assert_allclose(both[key].numpy()[i:i + 1],
                                 single[key].numpy(), atol=1e-5)


def test_landmarks_land_where_the_vertices_are_drawn(renderer, model):
  params = _params(renderer, 1, seed=2, pose=[[0.1, -0.15, 0.05]],
                   translation=[[0.05, -0.03, 0.2]])
  out = renderer.render(params)
  posed = renderer.posed_vertices(params).numpy()[0]
  lm = out["landmarks"].numpy()[0]
  np.testing.assert_allclose(lm, renderer.landmarks(params).numpy()[0],
                             atol=1e-5)
  depth = out["depth"].numpy()[0, ..., 0]
  visible = 0
  for k, v in enumerate(model.landmark_indices):
    col, row = np.floor(lm[k]).astype(int)
    assert 0 <= col < SIZE and 0 <= row < SIZE
    # The drawn surface at the landmark's pixel is at the vertex's depth.
    if depth[row, col] > 0 and abs(depth[row, col] -
                                   (10.0 - posed[v, 2])) < 0.03:
      visible += 1
  assert visible >= 60


def test_pose_and_lighting_act_in_the_documented_directions(renderer):
  nose = 30  # iBUG nose tip
  front = renderer.render(_params(renderer, 1, seed=3))
  yawed = renderer.render(_params(renderer, 1, seed=3, pose=[[0, 0.4, 0]]))
  pitched = renderer.render(_params(renderer, 1, seed=3, pose=[[0.4, 0, 0]]))
  x0, y0 = front["landmarks"].numpy()[0, nose]
  assert yawed["landmarks"].numpy()[0, nose, 0] > x0 + 1  # toward image right
  # Positive pitch (about +x) tilts the face toward -y: the nose moves down.
  assert pitched["landmarks"].numpy()[0, nose, 1] > y0 + 1
  assert (yawed["normals"].numpy()[..., 0].mean() >
          front["normals"].numpy()[..., 0].mean())
  moved = renderer.render(_params(renderer, 1, seed=3,
                                  translation=[[0.2, 0, 0]]))
  np.testing.assert_array_less(front["landmarks"].numpy()[0, :, 0],
                               moved["landmarks"].numpy()[0, :, 0])
  # Light from +x (the SH x term is -a1 c1 x): the image-right half brightens.
  sh = np.zeros([1, 27], np.float32)
  sh[0, [3, 12, 21]] = -0.5
  lit = renderer.render(_params(renderer, 1, seed=3, sh=sh))
  diff = lit["image"].numpy()[0] - front["image"].numpy()[0]
  mask = front["mask"].numpy()[0, ..., 0] > 0
  right = diff[:, SIZE // 2:][mask[:, SIZE // 2:]].mean()
  left = diff[:, :SIZE // 2][mask[:, :SIZE // 2]].mean()
  assert right > 0.05 > -0.05 > left


def test_background_image_and_colour_override(renderer):
  params = _params(renderer, 2, seed=4)
  rng = np.random.default_rng(0)
  bg_image = rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
  out = renderer.render(params, background=bg_image)
  bg = out["mask"].numpy()[..., 0] == 0
  np.testing.assert_allclose(out["image"].numpy()[bg], bg_image[bg])
  colour = np.float32([[1, 0, -1], [0, 0, 0]])
  out = renderer.render(dict(params, background=colour))
  np.testing.assert_allclose(out["image"].numpy()[0][bg[0]],
                             np.broadcast_to([1, 0, -1], (bg[0].sum(), 3)))
  with pytest.raises(ValueError, match=r"background has shape"):
    renderer.render(params, background=np.zeros([2, 8, 8, 3], np.float32))


def test_bad_parameters_raise(renderer, model):
  params = _params(renderer, 1)
  del params["sh"]
  with pytest.raises(ValueError, match=r"missing parameter group 'sh'"):
    renderer.render(params)
  with pytest.raises(ValueError, match=r"'pose' has shape .*\[B, 3\]"):
    renderer.render(dict(_params(renderer, 1), pose=tf.zeros([1, 2])))
  with pytest.raises(ValueError, match="backend must be one of"):
    face_renderer.FaceRenderer(model, SIZE, backend="opengl")
  with pytest.raises(ValueError, match="model must be a FaceModel"):
    face_renderer.FaceRenderer(object(), SIZE)
  with pytest.raises(ValueError, match="background must be a scalar or 3"):
    face_renderer.FaceRenderer(model, SIZE, background=(0.0, 1.0))


def test_renders_a_257_coefficient_vector(renderer):
  params = _params(renderer, 2, seed=12, pose=[[0.1, 0.2, 0.0]] * 2)
  coeffs = bfm.join_coefficients(params)
  assert coeffs.shape == (2, 257)
  # The renderer's own layout of a BFM model is Deep3DFaceRecon's.
  assert (renderer.coefficient_layout.describe() ==
          bfm.DEEP3D_LAYOUT.describe())
  a = renderer.render(bfm.split_coefficients(coeffs))["image"].numpy()
  np.testing.assert_array_equal(a, renderer.render(params)["image"].numpy())


def test_camera_presets_and_rescaling(model):
  gan = face_renderer.FaceRenderer(model, 16,
                                   camera=camera_lib.discofacegan_camera(256))
  assert gan.camera.focal == pytest.approx(1015 * 1.22 * 16 / 256)
  default = face_renderer.FaceRenderer(model, (16, 16))
  assert default.camera.focal == pytest.approx(1015 * 16 / 224)
  # Same scene at 16 px vs 32 px: landmarks scale by 2.
  params = default.default_parameters(1)
  big = face_renderer.FaceRenderer(model, 32)
  np.testing.assert_allclose(big.landmarks(params).numpy(),
                             2 * default.landmarks(params).numpy(), rtol=1e-5)


def test_triangle_indices_match_the_rasterizer(renderer, model):
  params = _params(renderer, 1, seed=10, pose=[[0.0, 0.3, 0.0]])
  out = renderer.render(params)
  raster = rasterizer.rasterize(
      renderer.posed_vertices(params), model.triangles, None,
      renderer.camera.view_projection_matrix(1), (SIZE, SIZE))
  np.testing.assert_array_equal(out["triangle_indices"].numpy(),
                                raster["triangle_indices"].numpy())
  np.testing.assert_array_equal(out["mask"].numpy(), raster["mask"].numpy())


def test_savedmodel_round_trip_with_dynamic_batch(renderer, tmp_path):
  module = tf.Module()
  module.render = tf.function(
      lambda p: renderer.render(p)["image"],
      input_signature=[{k: tf.TensorSpec([None, n], tf.float32)
                        for k, n in renderer.parameter_sizes.items()}])
  tf.saved_model.save(module, str(tmp_path / "renderer"))
  loaded = tf.saved_model.load(str(tmp_path / "renderer"))
  params = _params(renderer, 2, seed=11)
  np.testing.assert_allclose(loaded.render(params).numpy(),
                             renderer.render(params)["image"].numpy(),
                             atol=1e-5)


def test_backends_agree(model):
  try:
    kernel_build.ensure_rasterizer_kernel()
  except kernel_build.KernelBuildError as e:
    pytest.skip(f"TF Graphics kernel unavailable: {e}")
  tf_renderer = face_renderer.FaceRenderer(model, SIZE, backend="tf")
  cpu_renderer = face_renderer.FaceRenderer(model, SIZE, backend="tfg_cpu")
  params = _params(tf_renderer, 2, seed=7, pose=[[0.1, 0.3, 0], [0, -0.2, 0]])
  a, b = tf_renderer.render(params), cpu_renderer.render(params)
  mask_a, mask_b = a["mask"].numpy() > 0, b["mask"].numpy() > 0
  assert (mask_a == mask_b).mean() > 0.99
  both = (mask_a & mask_b)[..., 0]
  difference = a["image"].numpy()[both] - b["image"].numpy()[both]
  assert np.abs(difference).mean() < 1e-3


@pytest.mark.parametrize("model_name", ["bfm", "blob"])
def test_gradients_match_finite_differences(model, model_name):
  """Directional derivatives of every parameter group vs central differences.

  Visibility is not differentiable, so the loss only weighs pixels whose
  triangle is the same in the base and both perturbed renders. Run for the
  BFM loader (point_buf normals) and a generic FaceModel (generic normals).
  """
  if model_name == "blob":
    model = _BlobModel()
  renderer = face_renderer.FaceRenderer(model, 24)
  rng = np.random.default_rng(8)
  base = renderer.default_parameters(1)
  for name, size in model.parameter_sizes.items():
    base[name] = tf.constant(rng.normal(0, 0.5, (1, size)), tf.float32)
  base["pose"] = tf.constant([[0.1, -0.2, 0.05]])
  base["translation"] = tf.constant([[0.02, -0.05, 0.1]])
  base["sh"] = tf.constant(rng.normal(0, 0.1, (1, 27)), tf.float32)
  weights = {"image": rng.normal(size=(1, 24, 24, 3)),
             "depth": rng.normal(size=(1, 24, 24, 1)),
             "normals": rng.normal(size=(1, 24, 24, 3))}
  weights = {k: tf.constant(v, tf.float32) for k, v in weights.items()}
  steps = {"identity": 0.02, "expression": 0.02, "albedo": 0.02,
           "pose": 2e-3, "translation": 2e-3, "sh": 0.01}
  assert set(steps) == set(renderer.parameter_sizes)

  def loss(params, stable):
    out = renderer.render(params)
    return sum(tf.reduce_sum(stable * weights[k] * out[k]) for k in weights)

  def triangle_ids(params):
    out = renderer.render(params)
    return out["mask"].numpy() * (1.0 + out["triangle_indices"].numpy())

  base_ids = triangle_ids(base)
  for name, step in steps.items():
    direction = tf.constant(
        rng.normal(size=base[name].shape), tf.float32)
    plus = dict(base, **{name: base[name] + step * direction})
    minus = dict(base, **{name: base[name] - step * direction})
    stable = tf.constant(
        (triangle_ids(plus) == base_ids) & (triangle_ids(minus) == base_ids),
        tf.float32)
    assert stable.numpy().mean() > 0.9, name
    numeric = (loss(plus, stable) - loss(minus, stable)).numpy() / (2 * step)
    variable = tf.Variable(base[name])
    with tf.GradientTape() as tape:
      value = loss(dict(base, **{name: variable}), stable)
    grad = tape.gradient(value, variable)
    assert grad is not None, name
    analytic = float(tf.reduce_sum(grad * direction))
    assert abs(analytic) > 1e-3, name
    np.testing.assert_allclose(analytic, numeric, rtol=0.01, atol=1e-3,
                               err_msg=name)


def test_procedural_hair_region_follows_hair_style():
  from tfface.rendering import procedural_model  # pylint: disable=g-import-not-at-top
  model = procedural_model.ProceduralFaceModel(resolution=1)
  renderer = face_renderer.FaceRenderer(model, 32)
  params = renderer.default_parameters(2)
  style = params["hair_style"].numpy()
  style[0, 0] = 1.0   # full coverage
  style[1, 0] = 0.0   # bald crown
  params["hair_style"] = tf.constant(style)
  hair = renderer.render(params)["regions"]["hair"].numpy()
  assert hair[0].sum() > 2.0 * hair[1].sum() + 1.0
