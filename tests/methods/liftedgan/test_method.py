"""LiftedGAN training on the shared runtime: a few steps of test.gin under
MirroredStrategy with 2 logical CPUs on a tiny random G; then control, mesh
export and the SavedModel round trip from the same run."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.liftedgan import control
from tfface.methods.liftedgan import mesh_io
from tfface.methods.liftedgan import method as method_lib
from tests.methods.liftedgan import fixtures


def test_few_steps_under_mirrored_strategy(run):
  assert run["replicas"] == 2
  losses = run["losses"]
  for name in ("total", "rec_l1", "rec_perc", "flip_l1", "perturb_a",
               "perturb_b", "cycle", "identity", "latent_prior",
               "albedo_rank"):
    assert name in losses and np.isfinite(losses[name]), name
  method = run["method"]
  changed = [not np.allclose(a, v.numpy())
             for a, v in zip(run["record"]["trainable"], method.variables)]
  assert all(changed[:3]) and np.mean(changed) > 0.9
  for before, v in zip(run["record"]["generator"],
                       method.model.generator.generator.weights):
    np.testing.assert_array_equal(before, v.numpy())
  assert int(method.optimizer.iterations.numpy()) == fixtures.STEPS
  # The optimizer holds exactly the four networks' weights.
  names = {id(v) for v in method.variables}
  assert not names & {id(v) for v in
                      method.model.generator.generator.weights}


def test_settings_are_checked():
  with pytest.raises(ValueError, match="identity_weights"):
    method_lib.LiftedGANMethod(generator="g.npz", identity_weights=None,
                               identity_weight=1.0)
  with pytest.raises(ValueError, match="rec_weight"):
    method_lib.LiftedGANMethod(generator="g.npz", identity_weight=0.0,
                               rec_weight=-1.0)
  with pytest.raises(ValueError, match="min_diffuse must be in"):
    method_lib.LiftedGANMethod(generator="g.npz", identity_weight=0.0,
                               min_diffuse=1.0)


def test_pose_basis_start_is_fitted_at_build_and_checkpointed(tmp_path):
  from tfface.analysis import reconstruction as rec  # pylint: disable=g-import-not-at-top
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="residual_composition = True"):
    method_lib.LiftedGANMethod(generator="g.npz", identity_weight=0.0,
                               pose_basis_network="rec.npz")
  tf.keras.utils.set_random_seed(0)
  config = dict(input_size=16, widths=(8, 16), pooled_size=2, hidden=16)
  net = rec.ReconstructionNet(**config)
  net(tf.zeros([1, 16, 16, 3]))
  analysis_weights.save_network(str(tmp_path / "rec.npz"), net, config)
  method = method_lib.LiftedGANMethod(
      generator=fixtures.write_generator(str(tmp_path / "g.npz")),
      identity_weight=0.0, residual_composition=True,
      pose_basis_network=str(tmp_path / "rec.npz"), pose_basis_samples=64,
      w_statistics_samples=500, num_perceptual_scales=2,
      **fixtures.NETWORK_ARGS)
  method.build()
  model = method.model
  basis = model.composition.pose_basis
  assert float(np.abs(basis.basis.numpy()).max()) > 0
  np.testing.assert_array_equal(basis.readout.numpy(),
                                model.decomposition.pose_basis.readout.numpy())
  # D_V starts as the readout: its view is tanh(readout(w)), no translation.
  w = model.generator.mapping(tf.random.normal([3, fixtures.Z_DIM]))
  view = model.decomposition(w)[1].numpy()
  np.testing.assert_allclose(view[:, :3], np.tanh(basis.logits(w).numpy()),
                             atol=1e-6)
  np.testing.assert_allclose(view[:, 3:], 0.0)
  # The basis travels with the networks' checkpoint, outside the optimizer.
  ckpt_vars = {v.name for v in
               method.checkpoint_items()["composition"].variables}
  assert {"basis", "readout"} <= ckpt_vars
  assert not {id(basis.basis)} & {id(v) for v in method.variables}


def test_restored_run_matches_the_trained_weights(run, restored):
  for a, b in zip(run["method"].variables, restored.variables):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
  np.testing.assert_allclose(run["method"].model.generator.w_mu.numpy(),
                             restored.model.generator.w_mu.numpy())


def test_render_at_a_yaw_moves_the_image(restored):
  model = restored.model
  z = tf.random.stateless_normal([2, model.z_dim], [4, 5])
  comps = control.sample_components(model, z)
  frontal = control.render(model, comps, yaw=0.0, pitch=0.0).numpy()
  turned = control.render(model, comps, yaw=np.deg2rad(40.0),
                          pitch=0.0).numpy()
  again = control.render(model, comps, yaw=0.0, pitch=0.0).numpy()
  np.testing.assert_allclose(frontal, again, atol=1e-6)
  assert np.abs(turned - frontal).mean() > 0.02
  view = control.make_view(model, np.deg2rad(30.0), 0.0).numpy()
  np.testing.assert_allclose(view[0, :3], [0.0, 0.5, 0.0], atol=1e-6)
  lit = control.render(model, comps, yaw=0.0, pitch=0.0,
                       light=control.make_light(0.2, 0.8, 1.0, 0.0)).numpy()
  assert np.abs(lit - frontal).mean() > 1e-3


def test_mesh_export_parses_back(restored, tmp_path):
  model = restored.model
  z = tf.random.stateless_normal([1, model.z_dim], [6, 7])
  comps = control.sample_components(model, z)
  paths = control.export_components(model, comps, str(tmp_path))
  s = fixtures.SIZE
  obj = mesh_io.read_obj(paths["obj"])
  assert obj["vertices"].shape == (s * s, 3)
  assert obj["uv"].shape == (s * s, 2)
  assert obj["faces"].shape == (2 * (s - 1) ** 2, 3)
  ply = mesh_io.read_ply(paths["ply"])
  assert ply["vertices"].shape == (s * s, 3)
  assert ply["faces"].shape == (2 * (s - 1) ** 2, 3)
  assert ply["colors"].shape == (s * s, 3)
  np.testing.assert_allclose(ply["vertices"], obj["vertices"], atol=1e-5)
  # Depth round trip: -z of the vertices is depth - 1 (the rotation centre).
  depth = np.load(paths["depth_npy"])
  np.testing.assert_allclose(-obj["vertices"][:, 2] + 1.0, depth.ravel(),
                             atol=1e-5)
  assert os.path.isfile(os.path.splitext(paths["obj"])[0] + ".mtl")
  for kind in ("depth", "albedo", "normal", "texture"):
    png = tf.io.decode_png(tf.io.read_file(paths[kind])).numpy()
    assert png.shape == (s, s, 3)
  assert not [n for n in os.listdir(tmp_path) if ".tmp" in n]
  face_only = control.mesh_from_components(model, comps, face_only=True)
  assert 0 < len(face_only["faces"]) <= 2 * (s - 1) ** 2


def test_generate_writes_sweeps_and_components(restored, tmp_path):
  summary = control.generate(restored.model, str(tmp_path), num_samples=2,
                             num_meshes=1)
  s = fixtures.SIZE
  yaw = tf.io.decode_png(tf.io.read_file(summary["files"]["yaw_sweep"]))
  assert yaw.shape == (2 * s, 7 * s, 3)  # 2 faces x 7 yaws (-45..45)
  light = tf.io.decode_png(tf.io.read_file(summary["files"]["light_sweep"]))
  assert light.shape == (2 * s, 5 * s, 3)
  for key in ("pitch_sweep", "samples", "obj_0", "ply_0", "depth_0"):
    assert os.path.isfile(summary["files"][key]), key
