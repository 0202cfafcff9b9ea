"""Rig control: an edit changes exactly the requested slots of RigNet's input."""

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.stylerig import control as control_lib


@pytest.fixture(scope="module")
def control(runs):
  m = runs["r_method"]
  return control_lib.StyleRigControl(
      m.generator, m.estimator, {"pose": (m.rignet, m.condition_on)},
      m.layout_name)


def test_edit_changes_exactly_the_requested_slots(control):
  w = control.sample(3, seed=1)
  p = control.estimator(w).numpy()
  fed = control.rig_inputs(w, {"pose.yaw": 0.35})
  assert list(fed) == ["pose"]
  expected = p[:, 64:67].copy()
  expected[:, 1] = 0.35
  np.testing.assert_allclose(fed["pose"].numpy(), expected, rtol=1e-6)
  both = control.rig_inputs(w, {"pose": [0.1, -0.2, 0.05]})["pose"].numpy()
  np.testing.assert_allclose(both, np.tile([[0.1, -0.2, 0.05]], [3, 1]),
                             rtol=1e-6)
  out = control.rig(w, {"pose.yaw": 0.35})
  assert out["w_plus"].shape == w.shape and out["image"].shape[0] == 3
  requested = p.copy()
  requested[:, 65] = 0.35
  np.testing.assert_allclose(out["requested"].numpy(), requested, rtol=1e-6)
  # The same through the rig: RigNet fed exactly that.
  np.testing.assert_allclose(
      out["w_plus"].numpy(), control.rignets["pose"][0](w, expected).numpy(),
      rtol=1e-6)


def test_edit_names_and_errors(control):
  mask, values = control.resolve({"expression.jawOpen": 0.8,
                                  "light": (-1.0, 0.0, 0.5)})
  assert np.flatnonzero(mask[25:49]).tolist() == [0] and values[25] == 0.8
  np.testing.assert_allclose(values[67:94], control_lib.light_coefficients(
      (-1.0, 0.0, 0.5)))
  assert mask.sum() == 1 + 27
  # Light from the image left shades a normal facing left (-x) brighter.
  from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
  gamma = control_lib.light_coefficients((-1, 0, 0)).reshape(3, 9)[0]
  left, right = synthetic.sh_basis(np.array([[-1.0, 0, 0], [1.0, 0, 0]]))
  assert left @ gamma > right @ gamma + 0.1
  w = control.sample(1)
  with pytest.raises(ValueError, match="modes .'expression'"):
    control.rig_inputs(w, {"expression.jawOpen": 0.8})
  with pytest.raises(ValueError, match="no control mode"):
    control.rig_inputs(w, {"translation": 0.0})
  with pytest.raises(ValueError, match="jawOpen"):
    control.resolve({"expression.jawShut": 1.0})
  with pytest.raises(ValueError, match="takes 3 values"):
    control.resolve({"pose": [1.0, 2.0]})


def test_transfer_and_conditional_generation(control):
  w = control.sample(2, seed=2)
  source = tf.reverse(w, [0])
  out = control.transfer(w, source, "pose")
  p_source = control.estimator(source).numpy()
  np.testing.assert_allclose(out["requested"].numpy()[:, 64:67],
                             p_source[:, 64:67], rtol=1e-6)
  cond = control.conditional(2, {"pose.yaw": -0.3}, seed=3)
  assert cond["image"].shape == (2, 16, 16, 3)
  np.testing.assert_allclose(cond["requested"].numpy()[:, 65], -0.3)
