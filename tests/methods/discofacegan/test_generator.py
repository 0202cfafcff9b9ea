"""The generator's λ standardization: what the mapping sees, where the shift
and scale come from, and that checkpoints carry them."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.discofacegan import generator as generator_lib
from tfface.methods.discofacegan import lambda_space as ls
from tfface.methods.discofacegan import method as method_lib
from tfface.methods.discofacegan import vae as vae_lib


def _generator(layout):
  tf.keras.utils.set_random_seed(1)
  g = generator_lib.DiscoFaceGenerator(layout.input_dim, 8, w_dim=8,
                                       mapping_layers=2, fmap_base=16,
                                       fmap_max=8)
  g.build_all()
  return g


def test_mapping_sees_standardized_inputs():
  layout = ls.LambdaLayout()
  g = _generator(layout)
  rng = np.random.default_rng(0)
  x = rng.normal(size=[3, layout.input_dim]).astype(np.float32)
  w_raw = g.map(x).numpy()
  shift = rng.normal(size=[layout.input_dim]).astype(np.float32)
  scale = rng.uniform(0.01, 2.0, size=[layout.input_dim]).astype(np.float32)
  g.set_input_standardization(shift, scale)
  # G with (shift, scale) on x maps like the plain G on (x - shift) / scale.
  np.testing.assert_allclose(g.map(x * scale + shift).numpy(), w_raw,
                             rtol=1e-4, atol=1e-5)
  assert not np.allclose(g.map(x).numpy(), w_raw, atol=1e-3)
  assert not any(v is g.input_shift or v is g.input_scale
                 for v in g.trainable_variables)
  with pytest.raises(ValueError, match="scale > 0"):
    g.set_input_standardization(shift, np.zeros_like(scale))
  with pytest.raises(ValueError, match=f"\\[{layout.input_dim}\\]"):
    g.set_input_standardization(shift[:5], scale[:5])


def test_input_standardization_from_the_vaes():
  layout = ls.LambdaLayout()
  vaes = vae_lib.FactorVAEs.for_layout("procedural")
  n = layout.factor_sizes["expression"]
  vaes["expression"].set_standardization(np.full([n], 0.1),
                                         np.full([n], 0.02))
  shift, scale = method_lib.input_standardization(vaes, layout)
  a, b = layout.slices["expression"]
  np.testing.assert_allclose(shift[a:b], 0.1, rtol=1e-6)
  np.testing.assert_allclose(scale[a:b], 0.02, rtol=1e-6)
  # Other factors (no standardization) and ε: the reference's raw inputs.
  np.testing.assert_array_equal(np.delete(shift, np.s_[a:b]), 0.0)
  np.testing.assert_array_equal(np.delete(scale, np.s_[a:b]), 1.0)
  # A stand-in without per-factor VAEs leaves the inputs raw.
  stand_in = ls.GaussianVAEs(layout, {"identity": 4, "expression": 4,
                                      "sh": 4, "pose": 3})
  shift, scale = method_lib.input_standardization(stand_in, layout)
  assert np.all(shift == 0) and np.all(scale == 1)


def test_checkpoint_carries_the_standardization(tmp_path):
  layout = ls.LambdaLayout()
  g = _generator(layout)
  shift = np.linspace(-1, 1, layout.input_dim)
  scale = np.linspace(0.1, 2, layout.input_dim)
  g.set_input_standardization(shift, scale)
  path = tf.train.Checkpoint(g=g).save(str(tmp_path / "ckpt"))
  h = _generator(layout)
  tf.train.Checkpoint(g=h).restore(path).assert_existing_objects_matched()
  np.testing.assert_allclose(h.input_shift.numpy(), shift, rtol=1e-6)
  np.testing.assert_allclose(h.input_scale.numpy(), scale, rtol=1e-6)
