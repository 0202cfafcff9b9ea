"""The two StyleRig trainers on the shared runtime, under MirroredStrategy
with 2 logical CPUs, on the tiny random generator and the coarsest
procedural face model: F for 2 steps, then a pose RigNet for 2 steps over it.
"""

import numpy as np

from tfface.networks import stylegan2_weights
from tests.methods.stylerig.conftest import arrays


def test_estimator_trains_with_finite_losses(runs):
  losses = runs["f_losses"]
  for key in ("total", "render", "photometric", "landmark", "regularizer",
              "warm_start"):
    assert np.isfinite(losses[key]), key
  # The written file holds the trained weights (not the initial ones).
  trained = arrays(runs["f_method"].estimator.trainable_variables)
  stored = arrays(runs["f_file"].trainable_variables)
  for a, b in zip(trained, stored):
    np.testing.assert_array_equal(a, b)
  assert runs["f_method"].optimizer.iterations.numpy() == 2


def test_rignet_trains_with_frozen_f_and_g(runs, frozen_files):
  method = runs["r_method"]
  losses = runs["r_losses"]
  for key in ("total", "reconstruction", "edit", "consistency"):
    assert np.isfinite(losses[key]), key
  assert losses["edit"] > 0 and losses["consistency"] > 0
  # RigNet moved (its decoder starts at zero, so any change is training).
  decoder = np.array(method.rignet.decoder_kernel.numpy())
  assert np.abs(decoder).max() > 0
  # F is the file's, unchanged.
  for a, b in zip(arrays(method.estimator.weights),
                  arrays(runs["f_file"].weights)):
    np.testing.assert_array_equal(a, b)
  # G is the file's, unchanged.
  _, stored = stylegan2_weights.load_weights(frozen_files["generator"])
  for name, variable in method.generator.named_variables().items():
    np.testing.assert_array_equal(variable.numpy(),
                                  stored[f"generator/{name}"])
  assert not method.estimator.trainable_variables


def test_rignet_losses_are_the_two_way_cycle_of_a_4_4(runs, data_dir):
  """The method's losses equal A.4's terms written out by hand for a batch
  of two codes (v = the other code; forward and reverse averaged)."""
  from tfface.methods.stylerig import data  # pylint: disable=g-import-not-at-top
  from tfface.methods.stylerig import losses  # pylint: disable=g-import-not-at-top
  m = runs["r_method"]
  batch = next(iter(data.stylerig_dataset(2, data_dir=data_dir,
                                          shuffle=False, repeat=False)))
  out = m.losses(batch)
  f, rig, k, s = m.estimator, m.rignet, m.indices, m.settings
  w, v = batch["w_plus"], batch["w_plus"][::-1]
  mine = {key: batch[key] for key in ("image", "landmarks", "mask")}
  theirs = {key: batch[key][::-1] for key in ("image", "landmarks", "mask")}
  p_w, p_v = f(w), f(v)

  def render(p, target):
    return m.setup.loss(p, target["image"], target["landmarks"],
                        target["mask"], s["landmark_weight"],
                        s["mask_mode"])[0].numpy()

  def mode(p):
    return np.asarray(p)[:, k]

  p_hat = f(rig(w, mode(p_v)))           # w takes v's pose
  q_hat = f(rig(v, mode(p_w)))           # v takes w's pose
  edit = (render(losses.edit_parameters(p_v, p_hat, k), theirs) +
          render(losses.edit_parameters(p_w, q_hat, k), mine)) / 2
  consist = (render(losses.consistency_parameters(p_hat, p_w, k), mine) +
             render(losses.consistency_parameters(q_hat, p_v, k), theirs)) / 2
  rec = np.mean(np.square(rig(w, mode(p_w)).numpy() - w.numpy()))
  np.testing.assert_allclose(out["edit"].numpy(), edit, rtol=1e-4)
  np.testing.assert_allclose(out["consistency"].numpy(), consist, rtol=1e-4)
  np.testing.assert_allclose(out["reconstruction"].numpy(), rec, rtol=1e-4,
                             atol=1e-9)
  np.testing.assert_allclose(
      out["total"].numpy(), rec + edit + consist, rtol=1e-4)
