"""Converting DiscoFaceGAN's TF1 VAE checkpoints (vae_convert)."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.discofacegan import vae as vae_lib
from tfface.methods.discofacegan import vae_convert

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
RELEASED = os.path.join(REPO, "..", "shared", "weights", "discofacegan_vae")


def tf1_decode(prefix, scope, z):
  """The reference decoder as a TF1 graph restored by tf.compat.v1.Saver."""
  shapes = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
  graph = tf.Graph()
  with graph.as_default():
    z_in = tf.compat.v1.placeholder(tf.float32, [None, z.shape[1]])
    y = z_in
    layers = [f"fc{i}" for i in range(8)
              if f"{scope}/stage1/decoder/fc{i}/kernel" in shapes] + ["x_hat"]
    with tf.compat.v1.variable_scope(f"{scope}/stage1/decoder"):
      for name in layers:
        with tf.compat.v1.variable_scope(name):
          full = f"{scope}/stage1/decoder/{name}"
          kernel = tf.compat.v1.get_variable("kernel", shapes[full + "/kernel"])
          bias = tf.compat.v1.get_variable("bias", shapes[full + "/bias"])
        y = tf.matmul(y, kernel) + bias
        if name != "x_hat":
          y = tf.nn.relu(y)
    saver = tf.compat.v1.train.Saver(tf.compat.v1.global_variables())
    with tf.compat.v1.Session(graph=graph) as sess:
      saver.restore(sess, prefix)
      return sess.run(y, {z_in: z})


def write_tf1_checkpoint(prefix, scope, sizes):
  """A random-weight checkpoint with the reference's variable names."""
  rng = np.random.default_rng(0)
  os.makedirs(os.path.dirname(prefix), exist_ok=True)
  graph = tf.Graph()
  with graph.as_default():
    for name, shape in sizes.items():
      tf.compat.v1.get_variable(
          f"{scope}/{name}",
          initializer=rng.normal(0, 0.3, shape).astype(np.float32))
    tf.compat.v1.get_variable(f"{scope}/global_step", initializer=1234)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      saver.save(sess, prefix)


def _sizes(n, z, w):
  out = {}
  for part, first in (("encoder", n), ("decoder", z)):
    out[f"stage1/{part}/fc0/kernel"] = [first, w]
    for i in range(3):
      if i:
        out[f"stage1/{part}/fc{i}/kernel"] = [w, w]
      out[f"stage1/{part}/fc{i}/bias"] = [w]
  for head in ("dense", "dense_1"):
    out[f"stage1/encoder/{head}/kernel"] = [w, z]
    out[f"stage1/encoder/{head}/bias"] = [z]
  out["stage1/decoder/x_hat/kernel"] = [w, n]
  out["stage1/decoder/x_hat/bias"] = [n]
  out["stage1/decoder/loggamma_x"] = []
  return out


def test_synthetic_id_checkpoint_converts_and_round_trips(tmp_path):
  prefix = str(tmp_path / "weights" / "id" / "stage1_epoch_5.ckpt")
  write_tf1_checkpoint(prefix, "id", _sizes(160, 8, 16))
  vaes = vae_convert.convert_checkpoints(str(tmp_path / "weights"))
  assert vaes.factors == ("identity",)
  assert vaes.specs["identity"]["latent_size"] == 8
  assert vaes.specs["identity"]["width"] == 16
  assert vaes.weights_metadata["checkpoints"]["identity"]["global_step"] == 1234
  z = np.random.default_rng(1).normal(size=[5, 8]).astype(np.float32)
  expected = tf1_decode(prefix, "id", z)
  np.testing.assert_allclose(vaes["identity"].decode(z).numpy(), expected,
                             atol=1e-5)
  reader = tf.train.load_checkpoint(prefix)
  assert float(vaes["identity"].decoder.loggamma_x) == pytest.approx(
      float(reader.get_tensor("id/stage1/decoder/loggamma_x")))
  # The tfface file reloads to the same decoder, frozen.
  path = str(tmp_path / "vae.npz")
  counts = vae_convert.convert_to_file(prefix, path)
  assert counts == {"identity": 21}  # 19 + identity x_shift / x_scale
  loaded = vae_lib.load_factor_vaes(path)
  assert not loaded.trainable
  np.testing.assert_allclose(loaded["identity"].decode(z).numpy(), expected,
                             atol=1e-5)
  groups = loaded.decode_groups(z)
  assert groups["identity"].shape == (5, 80) and groups["albedo"].shape == (
      5, 80)


def test_bad_sources_raise(tmp_path):
  with pytest.raises(vae_convert.ConversionError, match="neither"):
    vae_convert.find_checkpoints(str(tmp_path / "nothing"))
  with pytest.raises(vae_convert.ConversionError, match="no TF1 checkpoint"):
    vae_convert.find_checkpoints(str(tmp_path))
  prefix = str(tmp_path / "exp" / "stage1_epoch_0.ckpt")
  write_tf1_checkpoint(prefix, "exp", _sizes(60, 4, 8))   # BFM exp is 64
  with pytest.raises(vae_convert.ConversionError, match="BFM layout"):
    vae_convert.convert_checkpoints(prefix)


@pytest.mark.skipif(not os.path.isdir(RELEASED),
                    reason=f"the released DiscoFaceGAN VAE checkpoints are not "
                    f"at {RELEASED} (../shared/weights beside the repo)")
def test_released_checkpoints_reproduce_the_tf1_decoders():
  vaes = vae_convert.convert_checkpoints(RELEASED)
  found = vae_convert.find_checkpoints(RELEASED)
  assert {"expression", "illumination", "pose"} <= set(vaes.factors)
  assert vaes.latent_sizes["expression"] == 32
  assert vaes.latent_sizes["illumination"] == 16
  assert vaes.latent_sizes["pose"] == 3
  rng = np.random.default_rng(0)
  errors = {}
  for factor in vaes.factors:
    z = rng.normal(size=[64, vaes.latent_sizes[factor]]).astype(np.float32)
    expected = tf1_decode(found[factor], vae_convert.CHECKPOINT_SCOPES[factor],
                          z)
    got = vaes.decode({f: (z if f == factor else
                           np.zeros([64, vaes.latent_sizes[f]], np.float32))
                       for f in vaes.factors})[factor].numpy()
    errors[factor] = float(np.abs(got - expected).max())
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # Not a trivial decoder: the outputs vary with z.
    assert np.std(expected, axis=0).mean() > 1e-3
  print("max abs conversion error per factor:", errors)
