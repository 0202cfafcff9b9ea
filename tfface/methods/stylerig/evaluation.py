"""Measuring a StyleRig: rig accuracy, disentanglement, F's fit, a baseline.

For each trained mode, held-out codes w (the tail of the data that training
left out, ``max_examples``) get a request, and the frozen reconstruction net
re-estimates the parameters of G(w) and G(ŵ) (an independent meter: it saw
only images, never F):

* pose: set yaw to a target uniform in ±25°; error |achieved − requested| in
  degrees (the edited angle);
* expression: set ``jawOpen`` to a target in [0, 0.8]; Pearson correlation of
  requested and achieved weights;
* illumination: take the SH lighting of another held-out face; correlation
  of requested and achieved SH coefficient changes.

Disentanglement: the mean absolute change of the *other* modes' parameters
(in units of each entry's spread, :meth:`ParameterLayout.scale`) and the
identity-embedding change 1 − cos(e(G(w)), e(G(ŵ))).

Baseline: ŵ = w + B_k (target_k − p_k), with B the ridge regression of the
codes on the meter's estimates of the training images (one linear direction
per parameter), for the same requests.

F's fit: L_render (Eq. 1) of F(w) on held-out images, and the RMS landmark
distance in pixels between F's projected mesh landmarks and the detected ones.
"""

import json
import os
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfface.methods.stylerig import control as control_lib
from tfface.methods.stylerig import data as data_lib
from tfface.methods.stylerig import method as method_lib
from tfface.methods.stylerig import networks
from tfface.metrics import analysis_meters


def angle_error_degrees(requested: np.ndarray, achieved: np.ndarray) -> float:
  """Mean |achieved − requested| in degrees (inputs in radians)."""
  return float(np.degrees(np.mean(np.abs(np.asarray(achieved) -
                                         np.asarray(requested)))))


def correlation(requested: np.ndarray, achieved: np.ndarray) -> float:
  """Pearson correlation of the flattened arrays (NaN if one is constant)."""
  a = np.asarray(requested, np.float64).ravel()
  b = np.asarray(achieved, np.float64).ravel()
  a, b = a - a.mean(), b - b.mean()
  denominator = np.sqrt((a * a).sum() * (b * b).sum())
  return float((a * b).sum() / denominator) if denominator > 0 else float("nan")


def other_mode_change(before: np.ndarray, after: np.ndarray,
                      layout: networks.ParameterLayout, mode: str) -> float:
  """Mean |Δp| / spread over the entries of every mode except ``mode``."""
  others = [layout.mode_indices(m) for m in networks.MODES
            if m != mode and m in ("pose", "expression", "illumination",
                                   "identity")]
  k = np.concatenate(others)
  scale = layout.scale()[k]
  return float(np.mean(np.abs(np.asarray(after)[:, k] -
                              np.asarray(before)[:, k]) / scale))


def identity_change(before: np.ndarray, after: np.ndarray) -> float:
  """Mean 1 − cos of unit (or any) embeddings `[B, E]`."""
  a = np.asarray(before, np.float64)
  b = np.asarray(after, np.float64)
  cos = (a * b).sum(-1) / np.maximum(
      np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
  return float(np.mean(1.0 - cos))


def regression_directions(w: np.ndarray, p: np.ndarray,
                          ridge: float = 1e-3) -> np.ndarray:
  """`[N, L·D]` B of the ridge regression w ≈ a + p B (codes on parameters).

  Args:
    w: `[M, L, D]` codes; p: `[M, N]` their parameters.
  """
  x = np.asarray(p, np.float64)
  y = np.asarray(w, np.float64).reshape(len(w), -1)
  x_mean, y_mean = x.mean(0), y.mean(0)
  xc, yc = x - x_mean, y - y_mean
  std = np.maximum(xc.std(0), 1e-8)
  xs = xc / std
  gram = xs.T @ xs + ridge * len(x) * np.eye(x.shape[1])
  b = np.linalg.solve(gram, xs.T @ yc) / std[:, None]
  return b.astype(np.float32)


def baseline_rig(w: np.ndarray, current: np.ndarray, target: np.ndarray,
                 directions: np.ndarray) -> np.ndarray:
  """ŵ = w + (target − current) B for the naive linear baseline."""
  delta = (np.asarray(target) - np.asarray(current)) @ directions
  return (np.asarray(w) + delta.reshape(np.shape(w))).astype(np.float32)


def _requests(mode, p_w, p_other, layout, control, rng):
  """(edits per face, requested values [B, n], the index set)."""
  if mode == "pose":
    yaw = rng.uniform(-np.radians(25), np.radians(25), len(p_w))
    return [{"pose.yaw": float(y)} for y in yaw], yaw[:, None], \
        np.array([layout.slices["pose"][0] + 1])
  if mode == "expression":
    name = "jawOpen" if "jawOpen" in control.expression_names else "0"
    amount = rng.uniform(0.0, 0.8, len(p_w))
    index = layout.slices["expression"][0] + (
        control.expression_names.index(name) if name != "0" else 0)
    return [{f"expression.{name}": float(a)} for a in amount], \
        amount[:, None], np.array([index])
  if mode == "illumination":
    a, b = layout.slices["sh"]
    return [{"sh": p_other[i, a:b]} for i in range(len(p_w))], \
        p_other[:, a:b], np.arange(a, b)
  a, b = layout.slices["identity"]
  return [{"identity": p_other[i, a:b]} for i in range(len(p_w))], \
      p_other[:, a:b], np.arange(a, b)


def _meter(reconstruction, identity, images):
  out = reconstruction(images)
  emb = identity(images) if identity is not None else None
  return out["coefficients"].numpy(), (None if emb is None else emb.numpy())


def evaluate_stylerig(rignet_paths: Sequence[str], data_dir: str,
                      reconstruction_path: str,
                      identity_path: Optional[str] = None,
                      heldout_start: Optional[int] = None,
                      num_heldout: int = 64, num_regression: int = 1024,
                      output_json: Optional[str] = None,
                      seed: int = 0) -> Dict[str, object]:
  """Measures the rig (module docstring); writes ``output_json`` if given.

  Args:
    rignet_paths: RigNet runs / files of one F.
    data_dir: the StyleRig data; held-out codes start at ``heldout_start``
      (default: after the first ``num_examples − num_heldout``).
    reconstruction_path: the meter (a ``reconstruction`` weights file whose
      layout is F's).
    identity_path: optional identity net (embedding change).
    num_regression: training codes for the baseline's regression.
  """
  from tfface.analysis import weights  # pylint: disable=g-import-not-at-top
  control = control_lib.StyleRigControl.from_runs(rignet_paths)
  layout = control.layout
  meter = weights.load_network(reconstruction_path)
  identity = weights.load_network(identity_path) if identity_path else None
  spec = data_lib.read_spec(data_dir)
  start = (spec["num_examples"] - num_heldout if heldout_start is None
           else int(heldout_start))
  held = data_lib.load_examples(data_dir, start, num_heldout)
  train = data_lib.load_examples(data_dir, 0, min(num_regression, start))
  w = tf.constant(held["w_plus"])
  images = control.generate(w)
  p_meter, e_before = _meter(meter, identity, images)
  if p_meter.shape[-1] != layout.size:
    raise ValueError(f"the reconstruction net gives {p_meter.shape[-1]} "
                     f"coefficients; F's layout has {layout.size}")
  train_p = _meter(meter, None, control.generate(
      tf.constant(train["w_plus"])))[0]
  directions = regression_directions(train["w_plus"], train_p)
  rng = np.random.default_rng(seed)
  p_f = control.estimator(w).numpy()
  other = np.roll(p_f, 1, axis=0)
  results: Dict[str, object] = {"num_heldout": int(num_heldout),
                                "heldout_start": int(start), "modes": {}}
  for mode in control.modes:
    edits, requested, k = _requests(mode, p_f, other, layout, control, rng)
    rigged = tf.concat([control.rig(w[i:i + 1], e)["w_plus"]
                        for i, e in enumerate(edits)], 0)
    target = p_meter.copy()
    target[:, k] = requested
    base = tf.constant(baseline_rig(w.numpy(), p_meter, target, directions))
    # F's own reading of the rigged codes: tells a RigNet that misses its
    # target (F disagrees too) from an F whose scale differs from the meter's.
    by_f = control.estimator(rigged).numpy()[:, k]
    row = {"stylerig_read_by_f": (
        {"yaw_error_deg": angle_error_degrees(requested, by_f)}
        if mode == "pose" else
        {"correlation": correlation(requested - p_f[:, k], by_f - p_f[:, k])})}
    for name, w_hat in (("stylerig", rigged), ("baseline", base)):
      p_after, e_after = _meter(meter, identity, control.generate(w_hat))
      achieved = p_after[:, k]
      entry = {"other_modes_change": other_mode_change(p_meter, p_after,
                                                       layout, mode)}
      if mode == "pose":
        entry["yaw_error_deg"] = angle_error_degrees(requested, achieved)
        entry["yaw_change_deg"] = float(np.degrees(np.mean(np.abs(
            achieved - p_meter[:, k]))))
      else:
        entry["correlation"] = correlation(requested - p_meter[:, k],
                                           achieved - p_meter[:, k])
      if e_after is not None:
        entry["identity_change"] = identity_change(e_before, e_after)
      row[name] = entry
    if mode == "pose":
      row["requested_yaw_change_deg"] = float(np.degrees(np.mean(np.abs(
          requested - p_meter[:, k]))))
    results["modes"][mode] = row
  # F's fit on the held-out images.
  estimator, meta = method_lib.load_estimator(_estimator_path(rignet_paths[0]))
  setup = method_lib.make_render_setup(layout, meta["render"])
  s = meta["render"]
  p = estimator(w)
  total, photo, land = setup.loss(
      p, tf.constant(held["image"]), tf.constant(held["landmarks"]),
      tf.constant(held["mask"]), s["landmark_weight"], s["mask_mode"])
  projected = setup.render(p)["landmarks"].numpy()
  results["estimator_agreement"] = estimator_agreement(p_f, p_meter, layout)
  results["estimator"] = {
      "render_loss": float(total), "photometric": float(photo),
      "landmark_loss": float(land),
      "landmark_rms_px": float(np.sqrt(np.mean(np.sum(
          np.square(projected - held["landmarks"]), -1))))}
  if output_json:
    tmp = output_json + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(output_json)), exist_ok=True)
    with open(tmp, "w") as f:
      json.dump(results, f, indent=2, sort_keys=True)
    os.replace(tmp, output_json)
  return results


def estimator_agreement(p_f: np.ndarray, p_meter: np.ndarray,
                        layout: networks.ParameterLayout
                        ) -> Dict[str, float]:
  """How F's parameters of held-out codes follow the meter's of their images.

  For yaw and pitch the slope of the least-squares fit F ≈ a + b · meter
  (1: the same scale) and the correlation; for the expression and SH blocks
  the correlation over all their entries.

  Args:
    p_f: `[B, N]` F(w); p_meter: `[B, N]` the reconstruction net on G(w).
  """
  out = {}
  start = layout.slices["pose"][0]
  for name, offset in (("pitch", 0), ("yaw", 1)):
    a, b = p_meter[:, start + offset], p_f[:, start + offset]
    out[f"{name}_slope"] = analysis_meters.fit_line(a, b)[0]
    out[f"{name}_correlation"] = correlation(a, b)
  for block in ("expression", "sh"):
    lo, hi = layout.slices[block]
    out[f"{block}_correlation"] = correlation(p_meter[:, lo:hi], p_f[:, lo:hi])
  return out


def _estimator_path(rignet_path: str) -> str:
  _, meta = method_lib.load_rignet(rignet_path)
  return meta["estimator"]
