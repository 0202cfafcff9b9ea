"""``tools/evaluate.py confignet``: measured control of an exported ConfigNet.

Loads the SavedModel (signatures ``generate``, ``set_factor_*``,
``factor_table``), reads held-out synthetic faces and runs
:func:`tfface.metrics.controllability.evaluate_control`; writes the numbers as
JSON (atomically). With the face-analysis nets' weights files
(``make pretrained``'s ``reconstruction.npz`` and ``landmarks.npz``) pose and
the expression sweeps are also measured on a continuous scale
(:mod:`tfface.metrics.analysis_meters`); a missing file skips its figures
with a logged line.

The demo (:mod:`tfface.demo`) measures the same :data:`DEFAULT_NUM_FACES`
held-out faces by default, so its ``control.json`` and this tool's numbers
are comparable.
"""

import json
import os
from typing import Callable, Dict, Optional

import tensorflow as tf

from tfface.data import datasets
from tfface.data import schema
from tfface.data import synthetic
from tfface.methods.confignet import data as cn_data
from tfface.methods.confignet import factors as factors_lib
from tfface.metrics import analysis_meters
from tfface.metrics import controllability

# Held-out faces measured by default, here and in the demo's control.json.
DEFAULT_NUM_FACES = 64


def evaluate_export(export_dir: str, heldout_pattern: str,
                    num_faces: int = DEFAULT_NUM_FACES, seed: int = 0,
                    output_json: str = "",
                    reconstruction_weights: Optional[str] = None,
                    landmarks_weights: Optional[str] = None,
                    log: Callable[[str], None] = print) -> Dict:
  """Measures an exported ConfigNet on held-out synthetic faces.

  Args:
    export_dir: a SavedModel version directory written by
      :mod:`tfface.methods.confignet.export`.
    heldout_pattern: glob of labeled synthetic shards not used in training.
    num_faces: faces to measure.
    seed: pairing seed.
    output_json: where to write the result ('' = don't write).
    reconstruction_weights: the reconstruction net's weights file (measured
      yaw and pitch); None / '' = not measured; a missing file is skipped
      with a line to ``log``.
    landmarks_weights: the landmark net's weights file (measured jawOpen,
      mouthSmile, eyeBlink and the iris-position gaze); as
      ``reconstruction_weights``.
    log: receives the lines about skipped weights files.

  Returns:
    The result dict (see ``evaluate_control``; with meters also
    ``pose["measured"]``, ``sweeps[control]["measured"]`` and ``meters``).

  Raises:
    ValueError: one line naming the file or directory: not a SavedModel, no
      held-out shards, a file that is not a TFRecord file or is damaged,
      held-out faces of another factor table than the model's, or fewer
      faces than ``num_faces``.
    tfface.analysis.weights.WeightsError: a weights file that is there but
      is not the expected network's.
  """
  if not tf.io.gfile.exists(os.path.join(export_dir, "saved_model.pb")):
    raise ValueError(f"{export_dir!r} is not a SavedModel directory; expected "
                     "an export version directory such as demo_out/export/1")
  # The held-out files first: a bad file fails in a second, not after the
  # model loaded.
  layout = datasets.read_layout(heldout_pattern)
  if layout.domain != schema.SYNTHETIC or not layout.factor_sizes:
    raise ValueError(f"the held-out faces {heldout_pattern!r} are "
                     f"{layout.domain} records without factors; expected "
                     "labeled synthetic shards (tools/make_synthetic.py).")
  loaded = tf.saved_model.load(export_dir)
  encode = controllability.theta_encoder_from_savedmodel(loaded)
  table = json.loads(loaded.signatures["factor_table"]()["json"].numpy())
  size = int(table["resolution"])
  heldout = datasets.synthetic_dataset(
      heldout_pattern, size, batch_size=num_faces, shuffle=False,
      repeat=False)
  model_table = factors_lib.FactorTable(
      {f["name"]: (f["theta_dim"], f["z_dim"]) for f in table["factors"]})
  cn_data.check_factor_table(model_table, heldout.factor_sizes,
                             f"{heldout_pattern!r}")
  # The truth renderer must frame faces as the held-out set's writer did.
  info = synthetic.read_info(heldout_pattern) or {}
  truth = controllability.TruthRenderer(size, float(info.get("zoom", 0.75)))
  if any(heldout.factor_sizes.get(name) != size
         for name, size in truth.sizes.items()):
    raise ValueError(
        f"the held-out faces {heldout_pattern!r} hold the factors "
        f"{schema.format_sizes(heldout.factor_sizes)}, but the truth renderer "
        f"renders {schema.format_sizes(truth.sizes)}; expected shards of "
        "tools/make_synthetic.py's default face model.")
  meters = None
  if reconstruction_weights or landmarks_weights:
    meters = analysis_meters.load_meters(
        reconstruction_weights, landmarks_weights,
        image_zoom=float(info.get("zoom", 0.75)), log=log)
  batch = _first_batch(heldout, heldout_pattern, num_faces)
  theta = {k: v.numpy() for k, v in batch["factors"].items()}

  def generate(z, rotation):
    return loaded.signatures["generate"](
        z=tf.constant(z, tf.float32),
        rotation=tf.constant(rotation, tf.float32))["image"].numpy()

  result = controllability.evaluate_control(
      encode, generate, theta, batch["image"].numpy(), truth=truth,
      factor_names=[n for n in encode.factor_names
                    if n in controllability.FACTOR_REGIONS], seed=seed,
      meters=meters)
  result["export_dir"] = export_dir
  if output_json:
    tmp = output_json + ".tmp"
    with open(tmp, "w") as f:
      json.dump(result, f, indent=2)
    os.replace(tmp, output_json)
  return result


def _first_batch(dataset: tf.data.Dataset, pattern: str, num_faces: int):
  """The first batch, or one ValueError (too few faces, damaged data)."""
  try:
    batch = next(iter(dataset), None)
  except tf.errors.InvalidArgumentError as e:
    message = datasets.data_error_message(e)
    if message is None:
      raise
    raise ValueError(message) from None
  if batch is None:
    raise ValueError(f"the held-out faces {pattern!r} hold fewer than "
                     f"num_faces={num_faces} faces; write more or lower "
                     "--num_faces.")
  return batch


def summary_lines(result: Dict):
  """Human-readable lines of the main numbers."""
  rec = result["reconstruction"]
  yield (f"reconstruction L1: {rec['l1_vs_true_render']:.3f} vs true render, "
         f"{rec['l1_vs_other_render']:.3f} vs another face "
         f"(ratio {rec['ratio']:.2f}, closer to the true render for "
         f"{100 * rec['fraction_closer_to_true']:.0f}%)")
  stripes = result.get("stripes")
  if stripes:
    yield ("stripes (coherent share of the cross-row detail; iid noise "
           "~0.12): " + ", ".join(
               f"{o} {v['generated']:.2f} generated vs {v['true']:.2f} true"
               for o, v in stripes.items()))
  grid = result.get("grid")
  if grid:
    yield (f"background lines (cross-row detail by row mod {grid['period']}, "
           f"max/min, on the outer {100 * grid['strip_fraction']:.0f}% "
           f"columns): {grid['grid_generated']:.2f} generated vs "
           f"{grid['grid_true']:.2f} true; detail (mean squared second "
           f"difference): {grid['detail_generated']:.4f} generated vs "
           f"{grid['detail_true']:.4f} true")
  for name, s in result["swap"].items():
    corr = s["correlation_with_true_change"]
    yield (f"swap {name:12s} r={corr if corr is None else round(corr, 3)} "
           f"change inside {s['generated_change_inside_region']:.3f} "
           f"outside {s['generated_change_outside_region']:.3f} "
           f"(true: {s['true_change_inside_region']:.3f} / "
           f"{s['true_change_outside_region']:.3f})")
  for name, s in result.get("sweeps", {}).items():
    corr = s["correlation_with_true_change"]
    yield (f"sweep {name:11s} r={corr if corr is None else round(corr, 3)} "
           f"gain {s['gain']:.2f} (generated change "
           f"{s['generated_change_inside_region']:.3f} vs true "
           f"{s['true_change_inside_region']:.3f} in its region)")
  pose = result["pose"]
  yield (f"pose: yaw error {pose['yaw_error_degrees_mean']:.1f}° mean, exact "
         f"{100 * pose['yaw_exact_fraction']:.0f}% (nearest of "
         f"{len(pose['yaw_degrees'])} true renders)")
  yield from measured_lines(result)


def measured_lines(result: Dict):
  """Lines of the continuous figures (none without meters)."""
  for axis, m in result["pose"].get("measured", {}).items():
    if not isinstance(m, dict):
      continue
    gen, true = m["generated"], m["true_render"]
    yield (f"measured {axis:5s}: slope {gen['slope']:.2f}, offset "
           f"{gen['offset_degrees']:+.1f}°, error "
           f"{gen['mean_absolute_error_degrees']:.1f}° mean (the meter on the "
           f"true renders: slope {true['slope']:.2f}, offset "
           f"{true['offset_degrees']:+.1f}°, error "
           f"{true['mean_absolute_error_degrees']:.1f}°)")
  for name, s in result.get("sweeps", {}).items():
    m = s.get("measured")
    if not m:
      continue
    gain = m["gain"]
    yield (f"measured {name:10s} gain "
           f"{'n/a' if gain is None else format(gain, '.2f')} "
           f"({m['quantity']}: generated change "
           f"{m['generated_change']:+.3f} vs true {m['true_change']:+.3f} "
           f"{m['units']})")
  for line in result.get("meters", {}).get("skipped", []):
    yield f"not measured: {line}"
