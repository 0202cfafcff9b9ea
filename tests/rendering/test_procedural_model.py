"""Tests for the procedural face model (tfface.rendering.procedural_model)."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from tfface.rendering import face_model
from tfface.rendering import procedural_model
from tfface.rendering.procedural import builder
from tfface.rendering.procedural import grid as grid_lib

RES = 1


@pytest.fixture(scope="module")
def model():
  return procedural_model.ProceduralFaceModel(resolution=RES)


def _params(model, batch=1, **overrides):
  params = model.default_parameters(batch)
  names = list(model.expression_names)
  for key, value in overrides.items():
    if key in names:
      expr = params["expression"].numpy()
      expr[:, names.index(key)] = value
      params["expression"] = tf.constant(expr)
    else:
      params[key] = tf.constant(np.tile(np.asarray(value, np.float32),
                                        (batch, 1)))
  return params


def _verts(model, **overrides):
  return model.vertices(_params(model, **overrides))[0].numpy()


def test_interface_and_sizes(model):
  assert isinstance(model, face_model.FaceModel)
  sizes = model.parameter_sizes
  assert list(sizes) == ["identity", "expression", "albedo", "gaze",
                         "hair_color", "hair_style", "beard_color",
                         "beard_style"]
  assert sizes["expression"] == len(model.expression_names) >= 12
  assert sizes["identity"] >= 20
  required = {"jawOpen", "mouthSmileLeft", "mouthSmileRight", "mouthPucker",
              "mouthFrownLeft", "mouthFrownRight", "browInnerUp",
              "browDownLeft", "browDownRight", "eyeBlinkLeft",
              "eyeBlinkRight", "cheekPuff", "eyeWideLeft", "eyeWideRight"}
  assert required <= set(model.expression_names)
  params = model.default_parameters(3)
  assert set(params) == set(sizes)
  v = model.vertices(params)
  a = model.albedo(params)
  assert v.shape == (3, model.num_vertices, 3) and v.dtype == tf.float32
  assert a.shape == (3, model.num_vertices, 3)
  assert model.triangles.dtype == np.int32
  assert model.triangles.min() >= 0
  assert model.triangles.max() < model.num_vertices
  lm = model.landmark_indices
  assert lm.shape == (68,) and lm.dtype == np.int32
  assert len(set(lm.tolist())) == 68


def test_deterministic_construction():
  a = builder.build_face_arrays(1)
  b = builder.build_face_arrays(1)
  for field in ("mean", "triangles", "identity_basis", "expression_basis",
                "albedo_logits", "albedo_basis", "landmarks", "beard_field"):
    np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_vertex_count_scales_with_resolution(model):
  finer = procedural_model.ProceduralFaceModel(resolution=2)
  assert 2000 < model.num_vertices < 4000
  assert finer.num_vertices > 2.5 * model.num_vertices
  assert len(finer.triangles) > 2.5 * len(model.triangles)


def test_bad_arguments(model):
  with pytest.raises(ValueError, match="resolution"):
    procedural_model.ProceduralFaceModel(resolution=0)
  params = model.default_parameters(2)
  del params["gaze"]
  with pytest.raises(ValueError, match="gaze"):
    model.vertices(params)
  params = model.default_parameters(2)
  params["expression"] = tf.zeros([2, 3])
  with pytest.raises(ValueError, match="expression"):
    model.albedo(params)


def _triangle_normals(v, tris):
  return np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])


def test_mesh_sanity(model):
  v = _verts(model)
  tris = model.triangles
  areas = 0.5 * np.linalg.norm(_triangle_normals(v, tris), axis=1)
  assert areas.min() > 1e-7
  # Consistent orientation: every directed edge at most once.
  directed = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]],
                             tris[:, [2, 0]]])
  assert len(np.unique(directed, axis=0)) == len(directed)
  # Closed except along the eye and mouth slits.
  undirected = collections.Counter(map(tuple, np.sort(directed, axis=1)))
  grid = builder.grid_lib.build_grid(RES)
  slit_vertices = set(np.nonzero(grid.slit)[0].tolist())
  open_edges = [e for e, n in undirected.items() if n != 2]
  assert open_edges, "the eye and mouth slits must be open edges"
  for edge in open_edges:
    assert undirected[edge] == 1
    assert edge[0] in slit_vertices and edge[1] in slit_vertices
  # Outward normals: skin away from the grid origin, eyeballs/mouth from
  # their centres.
  normals = _triangle_normals(v, tris)
  centroids = v[tris].mean(axis=1)
  num_skin = grid.elevation.shape[0]
  skin_tri = tris.max(axis=1) < num_skin
  out = np.einsum("ij,ij->i", normals[skin_tri],
                  centroids[skin_tri] - grid_lib.ORIGIN)
  assert np.mean(out > 0) > 0.995
  for start, stop in model.eye_vertex_slices:
    sel = (tris.min(axis=1) >= start) & (tris.max(axis=1) < stop)
    centre = v[start:stop].mean(axis=0)
    assert np.all(np.einsum("ij,ij->i", normals[sel],
                            centroids[sel] - centre) > 0)


def test_scale_and_framing_match_deep3d_camera(model):
  """Deep3DFaceRecon camera (f 1015, 224 px, distance 10) frames the face."""
  v = _verts(model)
  lm = v[model.landmark_indices]
  u = 1015.0 * lm[:, 0] / (10.0 - lm[:, 2]) + 112.0
  row = 112.0 - 1015.0 * lm[:, 1] / (10.0 - lm[:, 2])
  assert np.all((u > 5) & (u < 219) & (row > 5) & (row < 219))
  eye_span = u[45] - u[36]
  assert 70 < eye_span < 110
  assert 90 < row[8] - row[19] < 150  # brow to chin
  # Head centred near the origin.
  assert np.all(np.abs(v.mean(axis=0)) < 0.7)


def test_landmarks_follow_ibug_order(model):
  v = _verts(model)[model.landmark_indices]
  x, y, z = v[:, 0], v[:, 1], v[:, 2]
  # Subject's right eye (36-41) is on the image left (-x).
  assert x[36] < x[39] < 0 < x[42] < x[45]
  assert y[37] > y[41] and y[38] > y[40] and y[43] > y[47]
  assert np.argmax(z) == 30  # nose tip most forward
  assert np.argmin(y) == 8  # chin lowest
  assert np.all(np.diff(x[0:9]) > 0) and np.all(np.diff(x[8:17]) > 0)
  assert np.all(np.diff(x[17:27]) > 0)
  assert np.all(np.diff(y[27:31]) < 0)
  assert np.all(np.diff(x[31:36]) > 0)
  assert x[48] < x[51] < x[54] and x[60] < x[62] < x[64]
  assert y[51] > y[62] >= y[66] > y[57]
  assert min(y[17:27]) > max(y[36:48])  # brows above the eyes
  assert y[33] > y[51] and y[30] > y[33]


def _moved(model, name, threshold=1e-5):
  delta = _verts(model, **{name: 1.0}) - _verts(model)
  return np.linalg.norm(delta, axis=1) > threshold


@pytest.mark.parametrize("name", [n for n in procedural_model.EXPRESSION_NAMES
                                  if n.endswith(("Left", "Right"))])
def test_sided_blendshapes_stay_on_their_side(model, name):
  mean = _verts(model)
  moved = _moved(model, name)
  assert moved.sum() > 2, f"{name} moves nothing"
  sign = 1.0 if name.endswith("Left") else -1.0  # subject's left is +x
  if name.startswith("jaw"):
    # jawLeft/Right shift the whole lower jaw sideways toward that side.
    delta = _verts(model, **{name: 1.0}) - mean
    assert np.all(np.sign(delta[moved, 0]) == sign)
    assert np.all(mean[moved, 1] < 0.2)
  else:
    assert np.all(mean[moved, 0] * sign > 0), name


def test_region_of_each_blendshape(model):
  mean = _verts(model)
  lm = mean[model.landmark_indices]
  left_eye = model.eye_centres[1]
  blink = _moved(model, "eyeBlinkLeft")
  assert np.all(np.linalg.norm(mean[blink] - left_eye, axis=1) < 0.35)
  # Blinks never move the eyeballs.
  for start, stop in model.eye_vertex_slices:
    assert not blink[start:stop].any()
  assert np.all(mean[_moved(model, "jawOpen"), 1] < lm[29, 1])
  assert np.all(mean[_moved(model, "browInnerUp"), 1] > lm[29, 1])
  assert np.all(mean[_moved(model, "mouthPucker"), 1] < lm[30, 1])
  assert np.all(mean[_moved(model, "cheekPuff"), 1] < lm[39, 1])


def test_jaw_open_parts_the_lips(model):
  lm = model.landmark_indices
  closed = _verts(model)
  opened = _verts(model, jawOpen=1.0)
  gap_closed = np.linalg.norm(closed[lm[62]] - closed[lm[66]])
  gap_open = np.linalg.norm(opened[lm[62]] - opened[lm[66]])
  assert gap_closed < 0.01
  assert gap_open > 0.15  # 1.5 cm
  assert opened[lm[8], 1] < closed[lm[8], 1] - 0.1  # chin drops


def test_blinks_close_the_right_eye(model):
  lm = model.landmark_indices

  def aperture(v, upper, lower):
    return np.linalg.norm(v[lm[upper]] - v[lm[lower]])

  neutral = _verts(model)
  left_blink = _verts(model, eyeBlinkLeft=1.0)
  # Subject's left eye = landmarks 42-47 (upper 43, lower 47).
  assert aperture(neutral, 43, 47) > 0.05
  assert aperture(left_blink, 43, 47) < 0.01
  np.testing.assert_allclose(aperture(left_blink, 37, 41),
                             aperture(neutral, 37, 41), atol=1e-6)
  wide = _verts(model, eyeWideRight=1.0)
  assert aperture(wide, 37, 41) > aperture(neutral, 37, 41) + 0.01


def test_gaze_rotates_the_irises(model):
  regions = model.region_weights()
  neutral = _verts(model)
  right = _verts(model, gaze=[0.0, 0.4])  # yaw > 0: toward +x
  down = _verts(model, gaze=[0.4, 0.0])  # pitch > 0: downward
  for name, k in (("iris_right", 0), ("iris_left", 1)):
    iris = regions[name] > 0.5
    assert iris.sum() > 5
    centre = model.eye_centres[k]
    assert right[iris, 0].mean() > neutral[iris, 0].mean() + 0.02
    assert down[iris, 1].mean() < neutral[iris, 1].mean() - 0.02
    np.testing.assert_allclose(
        np.linalg.norm(right[iris] - centre, axis=1),
        np.linalg.norm(neutral[iris] - centre, axis=1), atol=1e-5)
  # The skin does not move with the gaze.
  skin = regions["skin"] + regions["hair"] > 0
  np.testing.assert_array_equal(right[skin], neutral[skin])


def test_hair_and_beard_parameters(model):
  bald = _params(model, hair_style=[0.0, 0.5, 0.0])
  full = _params(model, hair_style=[1.0, 0.5, 0.0])
  long = _params(model, hair_style=[1.0, 0.5, 1.0])
  w = {k: model.parametric_region_weights(p)["hair"][0].numpy()
       for k, p in (("bald", bald), ("full", full), ("long", long))}
  assert w["full"].sum() > w["bald"].sum() + 50
  assert w["long"].sum() > w["full"].sum() + 50
  top = np.argmax(_verts(model)[:, 1])
  assert w["full"][top] > 0.9 and w["bald"][top] < 0.1
  # Hair colour changes only hair-covered vertices (and brows).
  a0 = model.albedo(full)[0].numpy()
  a1 = model.albedo(_params(model, hair_style=[1.0, 0.5, 0.0],
                            hair_color=[0.9, 0.8, 0.1]))[0].numpy()
  changed = np.abs(a1 - a0).max(axis=1) > 1e-3
  regions = model.region_weights()
  assert np.all((w["full"] > 1e-3)[changed] | (regions["brows"] > 0)[changed])
  # Volume pushes the hair shell outward.
  v0 = model.vertices(_params(model, hair_style=[1.0, 0.0, 0.0]))[0].numpy()
  v1 = model.vertices(_params(model, hair_style=[1.0, 1.0, 0.0]))[0].numpy()
  assert np.linalg.norm(v1 - v0, axis=1)[top] > 0.05
  # Beard grows from the chin with coverage and stays on the lower face.
  chin = model.landmark_indices[8]
  beards = [model.parametric_region_weights(
      _params(model, beard_style=[c, 1.0, 0.3]))["beard"][0].numpy()
            for c in (0.0, 0.4, 1.0)]
  assert beards[0].max() < 0.05
  assert beards[1][chin] > 0.5
  assert beards[2].sum() > beards[1].sum() + 30
  mean = _verts(model)
  lm = mean[model.landmark_indices]
  bearded = mean[beards[2] > 0.5]
  assert np.all(bearded[:, 1] < lm[36, 1])  # sideburns stay below the eyes
  central = np.abs(bearded[:, 0]) < lm[45, 0] - lm[42, 0]
  assert np.all(bearded[central, 1] < lm[30, 1])  # and below the nose tip


def test_albedo_range_and_regions(model):
  rng = np.random.default_rng(0)
  params = {k: tf.constant(rng.normal(size=v.shape).astype(np.float32) * 2)
            for k, v in model.default_parameters(4).items()}
  a = model.albedo(params).numpy()
  assert a.min() >= 0.0 and a.max() <= 1.0
  regions = model.region_weights()
  for name in ("skin", "iris_left", "iris_right", "eyes", "hair", "beard",
               "mouth", "lips", "brows", "teeth", "face"):
    w = regions[name]
    assert w.shape == (model.num_vertices,) and w.dtype == np.float32
    assert w.min() >= 0.0 and w.max() <= 1.0
  neutral = model.albedo(model.default_parameters(1))[0].numpy()
  pupil = (regions["iris_left"] > 0.5)
  sclera = (regions["eyes"] > 0.5) & (regions["iris_left"] + regions[
      "iris_right"] < 0.01)
  assert neutral[sclera].mean() > 0.75
  assert neutral[pupil].mean() < neutral[sclera].mean() - 0.3
  teeth = regions["teeth"] > 0.5
  cavity = (regions["mouth"] > 0.5) & ~teeth
  assert neutral[teeth].mean() > 0.7 and neutral[cavity].mean() < 0.3


def test_gradients_finite_and_nonzero_for_every_parameter(model):
  rng = np.random.default_rng(1)
  params = _params(model, beard_style=[0.6, 0.8, 0.3],
                   hair_style=[0.8, 0.4, 0.5])
  params["expression"] = tf.constant(
      rng.uniform(0.1, 0.4, size=(1, len(model.expression_names))),
      tf.float32)
  params["gaze"] = tf.constant([[0.1, -0.2]])
  params = {k: tf.Variable(v) for k, v in params.items()}
  wv = tf.constant(rng.normal(size=(1, model.num_vertices, 3)), tf.float32)
  wa = tf.constant(rng.normal(size=(1, model.num_vertices, 3)), tf.float32)
  with tf.GradientTape() as tape:
    loss = (tf.reduce_sum(model.vertices(params) * wv) +
            tf.reduce_sum(model.albedo(params) * wa))
  grads = tape.gradient(loss, params)
  for name, grad in grads.items():
    assert grad is not None, name
    g = grad.numpy()
    assert np.all(np.isfinite(g)), name
    assert np.all(np.abs(g) > 0), (name, g)


def test_rendered_mouth_opens_and_blink_hides_the_iris(model):
  """Through the face renderer: the open mouth and the irises show."""
  from tfface.rendering import face_renderer  # pylint: disable=g-import-not-at-top
  renderer = face_renderer.FaceRenderer(model, 48)
  names = list(model.expression_names)
  expression = np.zeros([4, len(names)], np.float32)
  expression[1, names.index("jawOpen")] = 1.0
  expression[2, names.index("eyeBlinkLeft")] = 1.0
  expression[2, names.index("eyeBlinkRight")] = 1.0
  params = renderer.default_parameters(4)
  params["expression"] = tf.constant(expression)
  params["gaze"] = tf.constant([[0, 0], [0, 0], [0, 0], [0, 0.5]],
                               tf.float32)
  out = renderer.render(params)
  regions = {k: v.numpy()[..., 0] for k, v in out["regions"].items()}
  mouth = regions["mouth"].sum(axis=(1, 2))
  iris = (regions["iris_left"] + regions["iris_right"]).sum(axis=(1, 2))
  assert mouth[0] < 1.0 and mouth[1] > 10.0
  assert iris[0] > 4.0 and iris[2] < 0.1 * iris[0]
  # Gaze toward +x moves the iris pixels toward the image right.
  cols = np.arange(48)[None, :]
  centre = lambda m: (m.sum(axis=0) * cols[0]).sum() / m.sum()
  assert centre(regions["iris_left"][3]) > centre(regions["iris_left"][0]) + 0.5


def test_nonlinear_parts_match_finite_differences(model):
  rng = np.random.default_rng(3)
  base = _params(model, beard_style=[0.6, 0.8, 0.3],
                 hair_style=[0.7, 0.4, 0.5])
  base["gaze"] = tf.constant([[0.2, -0.3]])
  wv = tf.constant(rng.normal(size=(1, model.num_vertices, 3)), tf.float32)
  wa = tf.constant(rng.normal(size=(1, model.num_vertices, 3)), tf.float32)

  def loss(params):
    return (tf.reduce_sum(model.vertices(params) * wv) +
            tf.reduce_sum(model.albedo(params) * wa))

  for name in ("gaze", "hair_style", "beard_style"):
    var = tf.Variable(base[name])
    with tf.GradientTape() as tape:
      value = loss(dict(base, **{name: var}))
    grad = tape.gradient(value, var).numpy()[0]
    eps = 1e-2
    for k in range(grad.shape[0]):
      delta = np.zeros(base[name].shape, np.float32)
      delta[0, k] = eps
      plus = loss(dict(base, **{name: base[name] + delta})).numpy()
      minus = loss(dict(base, **{name: base[name] - delta})).numpy()
      numeric = (plus - minus) / (2 * eps)
      np.testing.assert_allclose(grad[k], numeric, rtol=0.05,
                                 atol=0.02 * abs(numeric) + 0.05,
                                 err_msg=f"{name}[{k}]")


def test_region_weights_are_the_same_inside_a_traced_function(model):
  """A tf.function may ask for the regions while it traces (DiscoFaceGAN's
  stage-2 expression flow does): the same numpy arrays come back."""
  eager = model.region_weights()
  seen = {}

  @tf.function
  def traced():
    seen.update(model.region_weights())
    return tf.constant(0)

  traced()
  assert sorted(seen) == sorted(eager)
  for name, weights in eager.items():
    assert isinstance(seen[name], np.ndarray), name
    np.testing.assert_array_equal(seen[name], weights)
