"""Tests for tfface.rendering.face_model: interface helpers and normals."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from tests.rendering import gradient_checks
from tfface.rendering import face_model


def icosphere(subdivisions=1):
  """Unit icosphere, counter-clockwise seen from outside."""
  t = (1.0 + 5.0 ** 0.5) / 2.0
  verts = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t),
           (0, 1, t), (0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1),
           (-t, 0, -1), (-t, 0, 1)]
  faces = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11),
           (1, 5, 9), (5, 11, 4), (11, 10, 2), (10, 7, 6), (7, 1, 8),
           (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9),
           (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
  verts = [np.array(v, np.float64) / np.linalg.norm(v) for v in verts]
  for _ in range(subdivisions):
    cache, new_faces = {}, []

    def midpoint(a, b):
      key = (min(a, b), max(a, b))
      if key not in cache:
        m = verts[a] + verts[b]
        verts.append(m / np.linalg.norm(m))
        cache[key] = len(verts) - 1
      return cache[key]

    for a, b, c in faces:
      ab, bc, ca = midpoint(a, b), midpoint(b, c), midpoint(c, a)
      new_faces += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
    faces = new_faces
  return np.float32(verts), np.int32(faces)


class _TinyModel(face_model.FaceModel):
  """A sphere whose radius is `identity` and colour is `albedo`."""

  def __init__(self):
    self._verts, self._tris = icosphere(1)

  triangles = property(lambda self: self._tris)
  num_vertices = property(lambda self: len(self._verts))
  landmark_indices = property(lambda self: np.arange(68, dtype=np.int32) % 42)
  expression_names = property(lambda self: ("smile",))

  @property
  def parameter_sizes(self):
    return collections.OrderedDict(identity=1, expression=1, albedo=3)

  def region_weights(self):
    return {"skin": np.ones([self.num_vertices], np.float32)}

  def vertices(self, params):
    return self._verts[None] * (1.0 + params["identity"][:, None, :])

  def albedo(self, params):
    return tf.broadcast_to(0.5 + 0.1 * params["albedo"][:, None, :],
                           [tf.shape(params["albedo"])[0],
                            self.num_vertices, 3])


def test_abstract_model_cannot_be_instantiated():
  with pytest.raises(TypeError):
    face_model.FaceModel()  # pylint: disable=abstract-class-instantiated


def test_default_parameters_and_validate():
  model = _TinyModel()
  params = model.default_parameters(4)
  assert list(params) == ["identity", "expression", "albedo"]
  assert params["albedo"].shape == (4, 3)
  model.validate(dict(params, pose=tf.zeros([4, 3])))  # extra keys are fine
  with pytest.raises(ValueError, match="missing parameter group 'albedo'"):
    model.validate({"identity": params["identity"],
                    "expression": params["expression"]})
  with pytest.raises(ValueError,
                     match=r"'albedo' has shape .*expected \[B, 3\]"):
    model.validate(dict(params, albedo=tf.zeros([4, 2])))
  with pytest.raises(ValueError, match="batch size 2"):
    model.validate(dict(params, albedo=tf.zeros([2, 3])))
  with pytest.raises(ValueError, match="must be a dict"):
    model.validate(tf.zeros([4, 5]))


def test_face_normals_ccw_point_outward():
  verts = tf.constant([[[0., 0., 0.], [1., 0., 0.], [0., 1., 0.]]])
  n = face_model.face_normals(verts, [[0, 1, 2]]).numpy()
  np.testing.assert_allclose(n[0, 0], [0, 0, 1], atol=1e-6)
  n_area = face_model.face_normals(verts * 2.0, [[0, 1, 2]], normalize=False)
  np.testing.assert_allclose(n_area.numpy()[0, 0], [0, 0, 4], atol=1e-6)


@pytest.mark.parametrize("area_weighted", [False, True])
def test_vertex_normals_of_sphere_are_radial(area_weighted):
  verts, tris = icosphere(2)
  scaled = np.stack([verts, 3.0 * verts])  # batch of two radii
  n = face_model.vertex_normals(scaled, tris, area_weighted).numpy()
  np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-5)
  cos = np.sum(n * verts[None], axis=-1)
  assert cos.min() > 0.995


def test_vertex_normals_match_explicit_sum_and_unused_vertex_is_zero():
  rng = np.random.default_rng(0)
  verts = rng.normal(size=(2, 6, 3)).astype(np.float32)
  tris = np.int32([[0, 1, 2], [0, 2, 3], [1, 3, 4]])  # vertex 5 unused
  fn = face_model.face_normals(verts, tris).numpy()
  expected = np.zeros_like(verts)
  for t, tri in enumerate(tris):
    for v in tri:
      expected[:, v] += fn[:, t]
  norms = np.linalg.norm(expected, axis=-1, keepdims=True)
  expected = np.where(norms > 0, expected / np.maximum(norms, 1e-12), 0)
  got = face_model.vertex_normals(verts, tris).numpy()
  np.testing.assert_allclose(got, expected, atol=1e-5)
  assert np.all(got[:, 5] == 0)


def test_vertex_normals_gradient_is_finite_for_degenerate_triangle():
  verts = tf.Variable([[[0., 0., 0.], [1., 0., 0.], [2., 0., 0.]]])
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(face_model.vertex_normals(verts, [[0, 1, 2]]))
  assert np.all(np.isfinite(tape.gradient(loss, verts).numpy()))


def test_coefficient_layout_round_trip_and_errors():
  layout = face_model.CoefficientLayout([("a", 2), ("b", 3), ("c", 1)])
  assert layout.size == 6
  assert layout.slices["b"] == (2, 5)
  flat = tf.reshape(tf.range(12, dtype=tf.float32), [2, 6])
  parts = layout.split(flat)
  np.testing.assert_array_equal(parts["b"].numpy(), [[2, 3, 4], [8, 9, 10]])
  np.testing.assert_array_equal(layout.join(parts).numpy(), flat.numpy())
  with pytest.raises(ValueError, match=r"expected \[\.\.\., 6\]"):
    layout.split(tf.zeros([2, 5]))
  with pytest.raises(ValueError, match="missing coefficient group 'c'"):
    layout.join({"a": parts["a"], "b": parts["b"]})
  with pytest.raises(ValueError, match="'b' has shape"):
    layout.join(dict(parts, b=tf.zeros([2, 4])))
  with pytest.raises(ValueError, match="duplicate"):
    face_model.CoefficientLayout([("a", 1), ("a", 2)])
  with pytest.raises(ValueError, match="positive"):
    face_model.CoefficientLayout([("a", 0)])


# -----------------------------------------------------------------------------
# Jacobians of the normals against central finite differences (the renderer
# shades with vertex normals, and StyleRig / DiscoFaceGAN backpropagate the
# image loss through them into shape). The helpers cast to float32, so these
# are float32 differences with tf.test.compute_gradient's step of 1/1024.


def _bumpy_icosahedron(seed):
  """The 12-vertex icosahedron with its vertices pushed in and out."""
  verts, tris = icosphere(0)
  rng = np.random.default_rng(seed)
  return verts * rng.uniform(0.8, 1.2, (12, 1)), tris


@pytest.mark.parametrize("normalize", [True, False])
def test_face_normals_jacobian_matches_finite_differences(normalize):
  verts, tris = _bumpy_icosahedron(1)
  gradient_checks.assert_jacobians_match(
      lambda v: face_model.face_normals(v, tris[:6], normalize), [verts[None]])


@pytest.mark.parametrize("area_weighted", [False, True])
def test_vertex_normals_jacobian_matches_finite_differences(area_weighted):
  verts, tris = _bumpy_icosahedron(2)
  gradient_checks.assert_jacobians_match(
      lambda v: face_model.vertex_normals(v, tris, area_weighted),
      [verts[None]])


def test_vertex_normals_only_depend_on_the_one_ring():
  verts, tris = _bumpy_icosahedron(3)
  v = tf.constant(verts[None], tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(v)
    n = face_model.vertex_normals(v, tris)
  jac = tape.jacobian(n, v).numpy()[0, :, :, 0]  # [V, 3, V, 3]
  for i in range(len(verts)):
    ring = set(tris[np.any(tris == i, axis=1)].ravel().tolist())
    depends = {j for j in range(len(verts)) if np.any(jac[i, :, j] != 0)}
    assert depends == ring, i
  # Unit length is kept to first order: n · dn = 0.
  tangent = np.einsum("vi,viwk->vwk", n.numpy()[0], jac)
  np.testing.assert_allclose(tangent, 0.0, atol=1e-5)


def test_safe_normalize_jacobian_matches_finite_differences():
  rng = np.random.default_rng(4)
  vectors = rng.normal(size=(4, 3))
  gradient_checks.assert_jacobians_match(face_model.safe_normalize, [vectors])
  # Scaling a vector leaves its direction alone: the Jacobian kills it.
  x = tf.constant(vectors, tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = face_model.safe_normalize(x)
  jac = tape.batch_jacobian(y, x).numpy()  # [4, 3, 3]
  np.testing.assert_allclose(np.einsum("nij,nj->ni", jac, vectors), 0.0,
                             atol=1e-5)
