"""Measured control of a factor-conditioned generator against the renderer.

On held-out synthetic faces the renderer provides ground truth, so control
can be measured directly (tfface's stand-in for ConfigNet's attribute-
classifier metric, which needs CelebA classifiers and FFHQ):

* **reconstruction**: error of G(E_S(θ), pose) against the true render of θ
  vs. against the render of a random other face (lower ratio = better).
* **swap** (per factor i): θ_a with θ_i taken from face b. The change of the
  generated image, G(θ_ab) − G(θ_a), should correlate with the change of the
  true renders, R(θ_ab) − R(θ_a) (Pearson r over pixels), and pixels outside
  the factor's renderer region should change little.
* **pose**: G at a requested yaw vs. the true render at that yaw; the yaw of
  the closest true render in the sweep gives an angular error (on the
  sweep's grid: it cannot show an error finer than the grid's step).
* **sweeps** (per named control, :data:`CONTROL_SWEEPS`: jawOpen,
  mouthSmile, eyeBlink, gaze): on neutral faces, one control moved from its
  low to its high end. The generated change is correlated with the true
  change (Pearson r), and its **gain** — mean |generated change| over mean
  |true change| inside the control's region — says whether the control is
  visible at all (0: G ignores it; 1: as strong as the renderer's).

With ``meters`` (:class:`tfface.metrics.analysis_meters.Meters`: the
face-analysis nets of ``make pretrained``) pose and the sweeps are also
measured on a continuous scale, on G's images and on the true renders alike:
the achieved yaw and pitch per requested angle with the slope of achieved vs
requested and the mean error in degrees (``pose["measured"]``), and per
control a landmark quantity's change from the low to the high end and its
ratio to the true render's change (``sweeps[control]["measured"]``; see
:mod:`tfface.metrics.analysis_meters`).

The generator is given as two callables so that an exported SavedModel or
in-process networks can be measured alike.
"""

import math
from typing import Callable, Dict, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfface.metrics import analysis_meters
from tfface.metrics import artifacts
from tfface.metrics import correlation

# Renderer regions (procedural model) each factor is expected to change;
# "head" is the whole rendered head, "background" its complement.
FACTOR_REGIONS = {
    "identity": ("head",),
    "expression": ("face", "lips", "mouth", "eyes", "brows"),
    "albedo": ("skin", "face", "lips"),
    "gaze": ("eyes", "iris_left", "iris_right"),
    "hair_color": ("hair",),
    "hair_style": ("hair", "head"),
    "beard_color": ("beard",),
    "beard_style": ("beard", "face"),
    "sh": ("head",),
    "background": ("background",),
}


# Named controls measured by sweeps: (factor, setter of θ at the low or high
# end, renderer regions the control changes). Expression controls start from
# the neutral face; gaze sweeps its yaw over ConfigNet's ±25°.
_GAZE_YAW = math.radians(25.0)
CONTROL_SWEEPS = {
    "jawOpen": ("expression", ("jawOpen",), ("mouth", "lips")),
    "mouthSmile": ("expression", ("mouthSmileLeft", "mouthSmileRight"),
                   ("mouth", "lips")),
    "eyeBlink": ("expression", ("eyeBlinkLeft", "eyeBlinkRight"), ("eyes",)),
    "gaze": ("gaze", (), ("eyes", "iris_left", "iris_right")),
}


def _sweep_theta(theta: Mapping[str, np.ndarray], control: str,
                 expression_names: Sequence[str], high: bool
                ) -> Dict[str, np.ndarray]:
  """θ with every expression neutral and ``control`` at its low/high end."""
  factor, keys, _ = CONTROL_SWEEPS[control]
  out = {k: np.array(v, np.float32, copy=True) for k, v in theta.items()}
  if "expression" in out:
    out["expression"][:] = 0.0
  if factor == "expression":
    for key in keys:
      out["expression"][:, list(expression_names).index(key)] = (
          1.0 if high else 0.0)
  else:  # gaze: (pitch, yaw)
    out["gaze"][:, 0] = 0.0
    out["gaze"][:, 1] = _GAZE_YAW if high else -_GAZE_YAW
  return out


def theta_encoder_from_savedmodel(loaded) -> Callable[[Mapping[str, np.ndarray]],
                                                      np.ndarray]:
  """E_S from an exported ConfigNet: z = Σ set_factor_<name>(0, θ_name)."""
  import json  # pylint: disable=g-import-not-at-top
  table = json.loads(loaded.signatures["factor_table"]()["json"].numpy())

  def encode(theta):
    batch = len(next(iter(theta.values())))
    z = tf.zeros([batch, table["latent_dim"]])
    for factor in table["factors"]:
      z = loaded.signatures[factor["signature"]](
          z=z, factor_values=tf.constant(theta[factor["name"]],
                                         tf.float32))["z"]
    return z.numpy()

  encode.factor_names = [f["name"] for f in table["factors"]]
  return encode


class TruthRenderer:
  """Renders synthetic-dataset factors exactly as the dataset writer does.

  Args:
    image_size: pixels (square).
    zoom: the dataset camera zoom (the writer's default 0.75).
  """

  def __init__(self, image_size: int, zoom: float = 0.75):
    from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
    from tfface.rendering import face_renderer  # pylint: disable=g-import-not-at-top
    from tfface.rendering import procedural_model  # pylint: disable=g-import-not-at-top
    self.model = procedural_model.ProceduralFaceModel()
    self.expression_names = tuple(self.model.expression_names)
    self.size = int(image_size)
    self.sizes = synthetic.synthetic_factor_sizes(self.model)
    self.renderer = face_renderer.FaceRenderer(
        self.model, (self.size, self.size),
        camera=synthetic.dataset_camera((self.size, self.size), zoom),
        # As the dataset writer: eyelids and lips are zero-thickness sheets
        # whose back faces would show as dark wedges in turned views.
        enable_cull_face=True)

  def __call__(self, theta: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """``image`` `[B, H, W, 3]`, ``regions`` name -> `[B, H, W, 1]` and
    ``landmarks`` `[B, 68, 2]` (the model's exact iBUG points, pixels)."""
    batch = len(theta["pose"])
    params = {k: tf.constant(theta[k], tf.float32)
              for k in self.sizes if k != "background"}
    params["translation"] = tf.zeros([batch, 3])
    params["background"] = tf.broadcast_to(
        tf.constant(theta["background"], tf.float32)[:, None, None, :],
        [batch, self.size, self.size, 3])
    out = self.renderer.render(params)
    regions = {k: v.numpy() for k, v in out["regions"].items()}
    regions["head"] = out["mask"].numpy()
    regions["background"] = 1.0 - out["mask"].numpy()
    return {"image": out["image"].numpy(), "regions": regions,
            "landmarks": out["landmarks"].numpy()}


def _region(regions: Mapping[str, np.ndarray], names: Sequence[str],
            dilate: int) -> np.ndarray:
  mask = np.zeros_like(regions["head"])
  for name in names:
    if name in regions:
      mask = np.maximum(mask, regions[name])
  mask = (mask > 0.05).astype(np.float32)
  if dilate:
    mask = tf.nn.max_pool2d(mask, 2 * dilate + 1, 1, "SAME").numpy()
  return mask


def evaluate_sweeps(encode: Callable[[Mapping[str, np.ndarray]], np.ndarray],
                    generate: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    theta: Mapping[str, np.ndarray],
                    truth: "TruthRenderer",
                    controls: Optional[Sequence[str]] = None,
                    dilate: int = 2,
                    meters: Optional[analysis_meters.Meters] = None
                   ) -> Dict[str, Dict[str, float]]:
  """Each named control moved low -> high on neutral, frontal faces.

  Args:
    encode, generate, truth: as in :func:`evaluate_control`.
    theta: faces `[N, n]` per factor (expressions are set neutral, the pose
      frontal).
    controls: names in :data:`CONTROL_SWEEPS` (default: all whose factor is
      in ``theta``).
    meters: the analysis nets as callables (None: pixel figures only).

  Returns:
    control -> ``correlation_with_true_change`` (mean Pearson r over faces),
    ``gain`` (mean |generated change| / mean |true change| in the region),
    ``generated_change_inside_region``, ``true_change_inside_region``,
    ``generated_change_outside_region``; with a meter for the control also
    ``measured`` (:func:`tfface.metrics.analysis_meters.measure_sweep`: the
    landmark quantity's generated and true change and their ratio ``gain``).
  """
  controls = [c for c in (controls or CONTROL_SWEEPS)
              if CONTROL_SWEEPS[c][0] in theta]
  frontal = {k: np.asarray(v) for k, v in theta.items()}
  frontal["pose"] = np.zeros_like(frontal["pose"])
  out = {}
  for control in controls:
    ends = [_sweep_theta(frontal, control, truth.expression_names, high)
            for high in (False, True)]
    gen = [np.asarray(generate(encode(t), t["pose"])) for t in ends]
    true = [truth(t) for t in ends]
    d_gen, d_true = gen[1] - gen[0], true[1]["image"] - true[0]["image"]
    regions = {k: np.maximum(true[0]["regions"][k], true[1]["regions"][k])
               for k in true[0]["regions"]}
    mask = _region(regions, CONTROL_SWEEPS[control][2], dilate)
    abs_gen = np.abs(d_gen).mean(-1, keepdims=True)
    abs_true = np.abs(d_true).mean(-1, keepdims=True)
    inside_gen = _masked_mean(abs_gen, mask)
    inside_true = _masked_mean(abs_true, mask)
    corr = [correlation.pearson(d_gen[i], d_true[i]) for i in range(len(d_gen))
            if np.abs(d_true[i]).max() > 1e-3]
    out[control] = {
        "correlation_with_true_change": float(np.mean(corr)) if corr else None,
        "gain": inside_gen / max(inside_true, 1e-8),
        "generated_change_inside_region": inside_gen,
        "true_change_inside_region": inside_true,
        "generated_change_outside_region": _masked_mean(abs_gen, 1.0 - mask),
    }
    measured = (analysis_meters.measure_sweep(
        control, meters, gen, [t["image"] for t in true])
                if meters is not None else None)
    if measured is not None:
      out[control]["measured"] = measured
  return out


def _masked_mean(x: np.ndarray, mask: np.ndarray) -> float:
  return float((x * mask).sum() / max(float(mask.sum()), 1.0))


def evaluate_control(encode: Callable[[Mapping[str, np.ndarray]], np.ndarray],
                     generate: Callable[[np.ndarray, np.ndarray], np.ndarray],
                     theta: Mapping[str, np.ndarray],
                     images: np.ndarray,
                     truth: Optional[TruthRenderer] = None,
                     factor_names: Optional[Sequence[str]] = None,
                     seed: int = 0, dilate: int = 2,
                     yaw_degrees: Sequence[float] = (-30, -20, -10, 0, 10, 20,
                                                     30),
                     pitch_degrees: Sequence[float] = (-10, -5, 0, 5, 10),
                     meters: Optional[analysis_meters.Meters] = None) -> Dict:
  """All three measurements on a batch of held-out synthetic faces.

  Args:
    encode: θ dict (every latent factor, `[N, n]`) -> z `[N, Z]` (E_S).
    generate: (z `[N, Z]`, rotation `[N, 3]`) -> images `[N, R, R, 3]`.
    theta: held-out factors incl. ``pose`` and ``background``, `[N, n]`.
    images: their true images `[N, R, R, 3]` in [-1, 1] (from the dataset).
    truth: renderer for swapped θ (default: built at the image size).
    factor_names: factors to swap (default every latent factor in ``theta``
      that has a region in :data:`FACTOR_REGIONS`).
    seed: pairing seed.
    dilate: pixels of region dilation (G is smoother than the renderer).
    yaw_degrees: yaws of the pose sweep (the training data's range is
      ±30°).
    pitch_degrees: pitches of the measured pitch sweep (pose meter only; the
      training data's range is ±10°).
    meters: the analysis nets as callables
      (:class:`tfface.metrics.analysis_meters.Meters`); None: pixel figures
      only.

  Returns:
    JSON-ready dict with ``reconstruction``, ``stripes``
    (:func:`tfface.metrics.artifacts.stripe_figures` of the reconstructions
    and of ``images``), ``grid``
    (:func:`tfface.metrics.artifacts.grid_figures` of the same), ``swap``
    (per factor), ``pose`` and ``sweeps`` (per named control,
    :func:`evaluate_sweeps`).
    The pixel pose figures use the first 8 faces. With a pose meter,
    ``pose["measured"]`` holds ``yaw`` and ``pitch``
    (:func:`tfface.metrics.analysis_meters.measure_pose_sweep` over all
    faces: per requested angle the mean achieved angle, the slope and offset
    of achieved vs requested, the mean absolute error in degrees; for G's
    images and for the true renders); with meters, ``meters`` says which
    were used and which were skipped.
  """
  n = len(images)
  size = images.shape[1]
  truth = truth or TruthRenderer(size)
  rng = np.random.default_rng(seed)
  names = list(factor_names or [k for k in theta if k in FACTOR_REGIONS])
  pose = np.asarray(theta["pose"], np.float32)

  generated = np.asarray(generate(encode(theta), pose))
  other = rng.permutation(n)
  other = np.where(other == np.arange(n), (other + 1) % n, other)
  err_true = np.abs(generated - images).mean(axis=(1, 2, 3))
  err_other = np.abs(generated - images[other]).mean(axis=(1, 2, 3))
  result = {"num_faces": n, "image_size": int(size), "reconstruction": {
      "l1_vs_true_render": float(err_true.mean()),
      "l1_vs_other_render": float(err_other.mean()),
      "ratio": float(err_true.mean() / max(err_other.mean(), 1e-8)),
      "fraction_closer_to_true": float((err_true < err_other).mean())},
      "stripes": artifacts.stripe_figures(generated, images),
      "grid": artifacts.grid_figures(generated, images)}

  base_truth = truth(theta)
  swaps = {}
  partner = np.roll(np.arange(n), 1)
  for name in names:
    swapped = {k: np.array(v, copy=True) for k, v in theta.items()}
    swapped[name] = np.asarray(theta[name])[partner]
    gen_swapped = np.asarray(generate(encode(swapped), pose))
    true_swapped = truth(swapped)
    d_gen = gen_swapped - generated
    d_true = true_swapped["image"] - base_truth["image"]
    regions = {k: np.maximum(base_truth["regions"][k],
                             true_swapped["regions"][k])
               for k in base_truth["regions"]}
    mask = _region(regions, FACTOR_REGIONS[name], dilate)
    outside = 1.0 - mask
    abs_gen = np.abs(d_gen).mean(-1, keepdims=True)
    abs_true = np.abs(d_true).mean(-1, keepdims=True)
    corr = [correlation.pearson(d_gen[i], d_true[i]) for i in range(n)
            if np.abs(d_true[i]).max() > 1e-3]
    swaps[name] = {
        "correlation_with_true_change": float(np.mean(corr)) if corr else None,
        "generated_change_inside_region": _masked_mean(abs_gen, mask),
        "generated_change_outside_region": _masked_mean(abs_gen, outside),
        "true_change_inside_region": _masked_mean(abs_true, mask),
        "true_change_outside_region": _masked_mean(abs_true, outside),
        "region_fraction": float(mask.mean()),
    }
  result["swap"] = swaps

  # Pose: the faces at each requested yaw (pitch, roll 0); the pixel figures
  # on the first 8, the measured ones (a pose meter) on all.
  k = min(n, 8)
  pose_meter = meters is not None and meters.pose is not None
  yaw_gen, yaw_true = _pose_sweep(encode, generate, theta, truth, 1,
                                  yaw_degrees, n if pose_meter else k)
  gen_sweep = np.stack([g[:k] for g in yaw_gen])  # [Y, k, R, R, 3]
  true_sweep = np.stack([t[:k] for t in yaw_true])
  yaws = np.radians(np.asarray(yaw_degrees, np.float32))
  err = np.abs(gen_sweep - true_sweep).mean(axis=(2, 3, 4))  # [Y, k]
  # Yaw read off G's image: the sweep yaw whose true render is closest.
  dist = np.abs(gen_sweep[:, None] - true_sweep[None]).mean(axis=(3, 4, 5))
  estimated = yaws[np.argmin(dist, axis=1)]  # [Y, k]
  yaw_err = np.degrees(np.abs(estimated - yaws[:, None]))
  result["pose"] = {
      "yaw_degrees": [float(y) for y in yaw_degrees],
      "l1_vs_true_render_per_yaw": [float(e) for e in err.mean(1)],
      "yaw_error_degrees_mean": float(yaw_err.mean()),
      "yaw_exact_fraction": float((yaw_err < 1e-3).mean()),
  }
  if pose_meter:
    pitch_gen, pitch_true = _pose_sweep(encode, generate, theta, truth, 0,
                                        pitch_degrees, n)
    result["pose"]["measured"] = {
        "num_faces": n,
        "yaw": analysis_meters.measure_pose_sweep(
            meters, "yaw", yaw_degrees, yaw_gen, yaw_true),
        "pitch": analysis_meters.measure_pose_sweep(
            meters, "pitch", pitch_degrees, pitch_gen, pitch_true)}
  result["sweeps"] = evaluate_sweeps(encode, generate, theta, truth,
                                     dilate=dilate, meters=meters)
  if meters is not None:
    result["meters"] = meters.describe()
  return result


def _pose_sweep(encode, generate, theta, truth, axis: int,
                degrees: Sequence[float], count: int):
  """G's images and the true renders of the first ``count`` faces at each
  requested angle of one pose axis (0 pitch, 1 yaw; the others 0): two
  lists of `[count, R, R, 3]`, one entry per angle."""
  sub = {key: np.asarray(v)[:count] for key, v in theta.items()}
  generated, true = [], []
  for angle in np.radians(np.asarray(degrees, np.float32)):
    rot = np.zeros([count, 3], np.float32)
    rot[:, axis] = angle
    posed = dict(sub, pose=rot)
    generated.append(np.asarray(generate(encode(posed), rot)))
    true.append(truth(posed)["image"])
  return generated, true
