"""Pose and expressions measured on a continuous scale by the face-analysis nets.

The pixel metrics of :mod:`tfface.metrics.controllability` compare G's image
with the true render; they cannot say "G turned the head 27° when asked for
30°". Here the frozen analysis nets of ``make pretrained`` are the meters:

* **pose** (:func:`measure_pose_sweep`): for each requested yaw (or pitch)
  the angle the reconstruction net reads off G's image; per requested angle
  the mean achieved angle, the least-squares line achieved ≈ slope ·
  requested + offset over all faces, and the mean absolute error
  |achieved − requested| in degrees. The same meter is run on the *true
  renders* at those angles, so the meter's own error is in the result: G's
  error should be read against it, not against 0.
* **expressions** (:func:`measure_sweep`): a landmark quantity per control,
  measured at the low and the high end of the sweep on G's images and on the
  true renders; the generated change, the true change and their ratio (the
  *landmark gain*: 0 = G ignores the control, 1 = as strong as the
  renderer's, as the meter sees both):

  ==========  ==============================================================
  control     quantity (iBUG-68 points of the landmark net, 0-based)
  ==========  ==============================================================
  jawOpen     inner-lip opening: mean |61−67|, |62−66|, |63−65| / IOD
  mouthSmile  mouth-corner width |48−54| / IOD
  eyeBlink    eyelid opening: mean |37−41|, |38−40|, |43−47|, |44−46| / IOD
  gaze        iris position: darkness centroid between each eye's corners,
              (x − eye centre) / eye width, mean of both eyes
  ==========  ==============================================================

  IOD is the inter-ocular distance |36−45| of the same image (the 300-W
  normaliser), so the quantities do not depend on the image size or framing.
  iBUG-68 has no iris points, so gaze is read from the pixels inside the
  eye outline the landmark net finds (:func:`iris_position`). The
  reconstruction net's own ``gaze`` output was the first meter; it barely
  moves (a ±25° true sweep read as about 0.5°), so it is not used. On the
  procedural model's exact landmarks (frontal, neutral face) jawOpen moves
  the inner-lip opening 0 → 0.22, both smiles the width 0.51 → 0.57 and
  both blinks the eyelid opening 0.11 → 0.01; no control moves another's
  quantity by more than 0.01.

The meters are plain callables (:class:`Meters`) so tests can pass tiny
random nets or exact functions; :func:`meters_from_networks` wraps the real
nets (batching, and reframing: the nets were trained on faces framed at the
dataset camera's zoom 0.75, the demo renders at zoom 1, so images are shrunk
about their centre and edge-padded to the nets' framing first);
:func:`load_meters` loads them from weights files and says which file is
missing instead of failing.
"""

import dataclasses
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

# Images [B, H, W, 3] in [-1, 1] -> [B, 3] (pitch, yaw, roll) radians.
PoseMeter = Callable[[np.ndarray], np.ndarray]
# Images -> [B, 68, 2] iBUG landmarks (x, y) in continuous pixels.
LandmarkMeter = Callable[[np.ndarray], np.ndarray]

# The framing the bundle's analysis nets were trained on
# (tfface.analysis.reconstruction.DEFAULT_ZOOM).
NET_ZOOM = 0.75
NUM_LANDMARKS = 68
OUTER_EYE_CORNERS = (36, 45)
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
MOUTH_CORNERS = (48, 54)
EYELID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))

# control -> (meter needed, quantity name, units).
SWEEP_QUANTITIES = {
    "jawOpen": ("landmarks", "inner-lip opening / inter-ocular distance",
                "IOD"),
    "mouthSmile": ("landmarks", "mouth-corner width / inter-ocular distance",
                   "IOD"),
    "eyeBlink": ("landmarks", "eyelid opening / inter-ocular distance",
                 "IOD"),
    "gaze": ("landmarks", "iris position between the eye corners / eye "
             "width", "eye width"),
}
# Default weights files, relative to a bundle directory (``make pretrained``).
WEIGHTS_FILES = {"reconstruction": "reconstruction.npz",
                 "landmarks": "landmarks.npz"}


@dataclasses.dataclass
class Meters:
  """The measuring callables; any may be None (its figures are skipped).

  Attributes:
    pose: images `[B, H, W, 3]` in [-1, 1] -> `[B, 3]` (pitch, yaw, roll)
      radians.
    landmarks: images -> `[B, 68, 2]` iBUG landmarks (x, y), pixels (also
      the eye outlines of the gaze meter, :func:`iris_position`).
    sources: what each meter is (e.g. its weights file), for the report.
    skipped: one line per meter that is not there, saying why.
  """
  pose: Optional[PoseMeter] = None
  landmarks: Optional[LandmarkMeter] = None
  sources: Dict[str, str] = dataclasses.field(default_factory=dict)
  skipped: List[str] = dataclasses.field(default_factory=list)

  def any(self) -> bool:
    """Whether at least one meter is there."""
    return any(m is not None for m in (self.pose, self.landmarks))

  def describe(self) -> Dict:
    """JSON-ready ``{"sources": ..., "skipped": [...]}``."""
    return {"sources": dict(self.sources), "skipped": list(self.skipped)}


# ----------------------------------------------------- landmark quantities


def _check_landmarks(landmarks) -> np.ndarray:
  points = np.asarray(landmarks, np.float64)
  if points.ndim != 3 or points.shape[1:] != (NUM_LANDMARKS, 2):
    raise ValueError(f"landmarks must be [B, {NUM_LANDMARKS}, 2] (x, y) "
                     f"iBUG points, got shape {points.shape}")
  return points


def _distance(points: np.ndarray, a: int, b: int) -> np.ndarray:
  return np.linalg.norm(points[:, a] - points[:, b], axis=-1)


def inter_ocular_distance(landmarks) -> np.ndarray:
  """`[B]` distance between the outer eye corners 36 and 45 (pixels)."""
  return _distance(_check_landmarks(landmarks), *OUTER_EYE_CORNERS)


def _normalised_mean(landmarks, pairs) -> np.ndarray:
  points = _check_landmarks(landmarks)
  mean = np.mean([_distance(points, a, b) for a, b in pairs], axis=0)
  return mean / np.maximum(inter_ocular_distance(points), 1e-6)


def inner_lip_opening(landmarks) -> np.ndarray:
  """`[B]` mean inner-lip gap (61−67, 62−66, 63−65) / IOD; 0 = closed.

  Args:
    landmarks: `[B, 68, 2]` iBUG points (x, y), any pixel units.
  """
  return _normalised_mean(landmarks, INNER_LIP_PAIRS)


def mouth_width(landmarks) -> np.ndarray:
  """`[B]` mouth-corner distance |48−54| / IOD (grows with a smile)."""
  return _normalised_mean(landmarks, (MOUTH_CORNERS,))


def eyelid_opening(landmarks) -> np.ndarray:
  """`[B]` mean upper-to-lower eyelid gap of both eyes / IOD; 0 = shut."""
  return _normalised_mean(landmarks, EYELID_PAIRS)


EYES = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))


def iris_position(images, landmarks) -> np.ndarray:
  """`[B]` horizontal iris position, mean of both eyes, in eye widths.

  Per eye: the box spanned by its six iBUG points (corners and lids, height
  padded by 15% of the width); inside it each pixel darker than the box's
  mean luminance weighs by how much darker; the weighted mean x minus the
  corners' midpoint, over the corner distance. 0 = centred; positive =
  towards larger image x. A box without dark pixels reads 0.

  Args:
    images: `[B, H, W, 3]` in [-1, 1].
    landmarks: `[B, 68, 2]` iBUG points (x, y) of the same images, pixels
      (pixel i spans [i, i + 1)).
  """
  images = np.asarray(images, np.float64)
  points = _check_landmarks(landmarks)
  if images.ndim != 4 or images.shape[0] != points.shape[0]:
    raise ValueError(f"images must be [B, H, W, 3] with B = {len(points)} "
                     f"(the landmarks'), got shape {images.shape}")
  luminance = images.mean(-1)
  height, width = luminance.shape[1:]
  centres_x = np.arange(width) + 0.5
  centres_y = np.arange(height) + 0.5
  out = np.zeros(len(points))
  for b in range(len(points)):
    positions = []
    for eye in EYES:
      p = points[b, list(eye)]
      left, right = p[0, 0], p[3, 0]  # outer/inner corners (either order)
      x0, x1 = min(left, right), max(left, right)
      eye_width = max(x1 - x0, 1e-6)
      pad = 0.15 * eye_width
      y0, y1 = p[:, 1].min() - pad, p[:, 1].max() + pad
      cols = np.nonzero((centres_x >= x0) & (centres_x <= x1))[0]
      rows = np.nonzero((centres_y >= y0) & (centres_y <= y1))[0]
      if not len(cols) or not len(rows):
        positions.append(0.0)
        continue
      box = luminance[b][np.ix_(rows, cols)]
      weight = np.maximum(box.mean() - box, 0.0)
      total = weight.sum()
      if total <= 1e-12:
        positions.append(0.0)
        continue
      x = float((weight * centres_x[cols][None, :]).sum() / total)
      positions.append((x - 0.5 * (x0 + x1)) / eye_width)
    out[b] = np.mean(positions)
  return out


LANDMARK_QUANTITIES = {"jawOpen": inner_lip_opening,
                       "mouthSmile": mouth_width,
                       "eyeBlink": eyelid_opening}


def sweep_quantity(control: str, meters: Meters,
                   images: np.ndarray) -> Optional[np.ndarray]:
  """`[B]` the control's quantity (:data:`SWEEP_QUANTITIES`) on ``images``,
  or None when its meter is missing.

  Raises:
    ValueError: ``control`` is not in :data:`SWEEP_QUANTITIES`.
  """
  if control not in SWEEP_QUANTITIES:
    raise ValueError(f"no landmark quantity for control {control!r}; "
                     f"expected one of {sorted(SWEEP_QUANTITIES)}")
  if meters.landmarks is None:
    return None
  points = meters.landmarks(images)
  if control == "gaze":
    return iris_position(images, points)
  return LANDMARK_QUANTITIES[control](points)


def measure_sweep(control: str, meters: Meters,
                  generated: Sequence[np.ndarray],
                  true: Sequence[np.ndarray]) -> Optional[Dict]:
  """A control's landmark gain from its two sweep ends.

  Args:
    control: a key of :data:`SWEEP_QUANTITIES`.
    meters: the meters (None meter: None is returned).
    generated: G's images at the low and the high end, `[N, R, R, 3]` each,
      in [-1, 1].
    true: the true renders at the same ends.

  Returns:
    None if the meter is missing, else JSON-ready ``quantity``, ``units``,
    ``generated_low`` / ``generated_high`` / ``true_low`` / ``true_high``
    (means over faces), ``generated_change`` and ``true_change`` (high −
    low) and ``gain`` = generated change / true change (None when the true
    change is 0).
  """
  values = {}
  for tag, (low, high) in (("generated", generated), ("true", true)):
    low_q = sweep_quantity(control, meters, low)
    if low_q is None:
      return None
    values[f"{tag}_low"] = float(np.mean(low_q))
    values[f"{tag}_high"] = float(np.mean(sweep_quantity(control, meters,
                                                         high)))
    values[f"{tag}_change"] = values[f"{tag}_high"] - values[f"{tag}_low"]
  _, quantity, units = SWEEP_QUANTITIES[control]
  true_change = values["true_change"]
  return dict(quantity=quantity, units=units, **values,
              gain=(values["generated_change"] / true_change
                    if abs(true_change) > 1e-9 else None))


# ------------------------------------------------------------------- pose


def fit_line(requested: np.ndarray, achieved: np.ndarray
             ) -> Tuple[float, float]:
  """Least-squares ``achieved ≈ slope · requested + offset``.

  Args:
    requested, achieved: same-shape arrays (any units, flattened).

  Returns:
    ``(slope, offset)``; slope 0 and the mean as offset if ``requested`` is
    constant.
  """
  x = np.asarray(requested, np.float64).ravel()
  y = np.asarray(achieved, np.float64).ravel()
  if x.shape != y.shape or not x.size:
    raise ValueError(f"fit_line needs two arrays of the same non-zero size, "
                     f"got {x.size} and {y.size} values")
  dx = x - x.mean()
  denom = float((dx * dx).sum())
  if denom == 0.0:
    return 0.0, float(y.mean())
  slope = float((dx * (y - y.mean())).sum() / denom)
  return slope, float(y.mean() - slope * x.mean())


def pose_figures(requested_degrees: Sequence[float],
                 achieved_degrees: np.ndarray) -> Dict:
  """The continuous pose figures of one meter on one sweep.

  Args:
    requested_degrees: `[A]` requested angles.
    achieved_degrees: `[A, N]` the measured angle of each of N faces at
      each requested angle.

  Returns:
    JSON-ready ``mean_achieved_degrees`` `[A]`, ``slope`` and
    ``offset_degrees`` of the least-squares line over all A·N pairs,
    ``mean_absolute_error_degrees`` (mean |achieved − requested|) and
    ``mean_absolute_error_degrees_per_angle`` `[A]`.
  """
  requested = np.asarray(requested_degrees, np.float64)
  achieved = np.asarray(achieved_degrees, np.float64)
  if achieved.ndim != 2 or achieved.shape[0] != requested.size:
    raise ValueError(f"achieved angles must be [{requested.size}, N] (one row "
                     f"per requested angle), got shape {achieved.shape}")
  grid = np.broadcast_to(requested[:, None], achieved.shape)
  slope, offset = fit_line(grid, achieved)
  error = np.abs(achieved - grid)
  return {"mean_achieved_degrees": [float(v) for v in achieved.mean(1)],
          "slope": slope, "offset_degrees": offset,
          "mean_absolute_error_degrees": float(error.mean()),
          "mean_absolute_error_degrees_per_angle":
              [float(v) for v in error.mean(1)]}


POSE_AXES = {"pitch": 0, "yaw": 1}


def measure_pose_sweep(meters: Meters, axis: str,
                       requested_degrees: Sequence[float],
                       generated: Sequence[np.ndarray],
                       true: Sequence[np.ndarray]) -> Optional[Dict]:
  """Requested vs achieved angle on G's images and on the true renders.

  Args:
    meters: ``meters.pose`` reads the angles (None: None is returned).
    axis: ``"yaw"`` or ``"pitch"``.
    requested_degrees: `[A]` the sweep's angles.
    generated, true: per requested angle, G's images and the true renders
      `[N, R, R, 3]` in [-1, 1] (the same N faces at every angle).

  Returns:
    None without a pose meter, else ``requested_degrees``, ``generated`` and
    ``true_render`` (each :func:`pose_figures`).
  """
  if axis not in POSE_AXES:
    raise ValueError(f"pose axis must be one of {sorted(POSE_AXES)}, got "
                     f"{axis!r}")
  if meters.pose is None:
    return None
  if not len(generated) == len(true) == len(requested_degrees):
    raise ValueError(f"one batch of generated and of true images per "
                     f"requested angle expected ({len(requested_degrees)}), "
                     f"got {len(generated)} and {len(true)}")
  index = POSE_AXES[axis]

  def read(batches):
    return np.stack([np.degrees(np.asarray(meters.pose(b), np.float64)
                                [:, index]) for b in batches])

  return {"requested_degrees": [float(a) for a in requested_degrees],
          "generated": pose_figures(requested_degrees, read(generated)),
          "true_render": pose_figures(requested_degrees, read(true))}


# ------------------------------------------------------- the real networks


def reframe(images: np.ndarray, scale: float) -> Tuple[np.ndarray, float,
                                                          float]:
  """Images rescaled about their centre by ``scale``, size kept.

  ``scale`` < 1 shrinks the picture and pads it with its edge pixels (a
  zoom-1 render seen at zoom 0.75 framing: ``scale = 0.75``); > 1 crops the
  centre and enlarges it.

  Args:
    images: `[B, H, W, 3]` float32.
    scale: the size factor.

  Returns:
    ``(images, a, o)``: `[B, H, W, 3]`, and the affine map of pixel
    coordinates new = a · old + o (the same for x and y of a square image)
    that maps points back with old = (new − o) / a.
  """
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[1] != images.shape[2]:
    raise ValueError(f"images must be square [B, H, H, 3], got shape "
                     f"{images.shape}")
  size = images.shape[1]
  if abs(scale - 1.0) < 1e-6:
    return images, 1.0, 0.0
  if scale < 1.0:
    inner = max(1, int(round(size * scale)))
    small = tf.image.resize(images, [inner, inner], antialias=True).numpy()
    before = (size - inner) // 2
    after = size - inner - before
    out = np.pad(small, [(0, 0), (before, after), (before, after), (0, 0)],
                 mode="edge")
    return out, inner / size, float(before)
  crop = max(1, int(round(size / scale)))
  start = (size - crop) // 2
  out = tf.image.resize(images[:, start:start + crop, start:start + crop],
                        [size, size]).numpy()
  return out, size / crop, -start * size / crop


def meters_from_networks(reconstruction=None, landmarks=None,
                         image_zoom: float = NET_ZOOM,
                         net_zoom: float = NET_ZOOM,
                         batch_size: int = 64) -> Meters:
  """:class:`Meters` around the analysis nets.

  Args:
    reconstruction: a procedural-layout ReconstructionNet (pose), or None.
    landmarks: a LandmarkNet, or None.
    image_zoom: the camera zoom the measured images are framed with (the
      demo's 1.0, the dataset default 0.75).
    net_zoom: the framing the nets were trained on (the bundle's 0.75).
    batch_size: images per net call.

  Returns:
    Meters whose callables take `[B, H, W, 3]` images in [-1, 1]; landmarks
    come back in the input images' pixels.
  """
  scale = float(net_zoom) / float(image_zoom)

  def batched(fn):
    def run(images):
      images = np.asarray(images, np.float32)
      return np.concatenate([fn(images[i:i + batch_size])
                             for i in range(0, len(images), batch_size)])
    return run

  meters = Meters()
  if reconstruction is not None:
    # A graph of the pose only: the net's projected mesh landmarks, not
    # needed here, are pruned from it.
    angles = tf.function(lambda x: reconstruction(x)["pose"],
                         reduce_retracing=True)

    def pose(images):
      framed, _, _ = reframe(images, scale)
      return angles(tf.constant(framed)).numpy()
    meters.pose = batched(pose)
  if landmarks is not None:
    points_of = tf.function(landmarks, reduce_retracing=True)

    def points(images):
      framed, a, o = reframe(images, scale)
      return (points_of(tf.constant(framed)).numpy() - o) / a
    meters.landmarks = batched(points)
  return meters


def load_meters(reconstruction_path: Optional[str],
                landmarks_path: Optional[str],
                image_zoom: float = NET_ZOOM,
                log: Callable[[str], None] = print) -> Meters:
  """Meters from weights files; a missing file is skipped, not an error.

  Args:
    reconstruction_path, landmarks_path: weights files
      (:func:`tfface.analysis.weights.load_network`), '' / None = not used.
    image_zoom: as in :func:`meters_from_networks`.
    log: receives one line per missing file, naming it and that
      ``make pretrained`` writes it.

  Returns:
    The :class:`Meters` (``skipped`` lists the missing files' lines).

  Raises:
    tfface.analysis.weights.WeightsError: a file is there but is not a
      weights file of the expected network.
  """
  from tfface.analysis import weights  # pylint: disable=g-import-not-at-top
  nets, sources, skipped = {}, {}, []
  for role, path, figures in (
      ("reconstruction", reconstruction_path, "pose"),
      ("landmarks", landmarks_path, "jawOpen, mouthSmile, eyeBlink and gaze")):
    if not path:
      continue
    if not os.path.isfile(path):
      line = (f"no {role} net at {path}: skipping the measured {figures} "
              "figures (make pretrained writes it)")
      log(line)
      skipped.append(line)
      continue
    net = weights.load_network(path)
    if getattr(net, "network_kind", None) != role:
      raise weights.WeightsError(
          f"{path} holds a {getattr(net, 'network_kind', '?')!r} network; "
          f"expected a {role!r} network (make pretrained's {role}.npz)")
    nets[role], sources[role] = net, path
  if "reconstruction" in nets and getattr(nets["reconstruction"], "layout",
                                          "procedural") != "procedural":
    raise weights.WeightsError(
        f"{sources['reconstruction']} is a {nets['reconstruction'].layout} "
        "reconstruction net; expected the procedural layout (the pose of "
        "tfface's face model)")
  meters = meters_from_networks(
      nets.get("reconstruction"), nets.get("landmarks"), image_zoom,
      float(getattr(nets.get("reconstruction"), "zoom", NET_ZOOM)))
  meters.sources, meters.skipped = sources, skipped
  return meters


def bundle_meter_paths(bundle_dir: Optional[str]) -> Dict[str, str]:
  """``{"reconstruction": <dir>/reconstruction.npz, "landmarks": ...}``
  ('' for both when ``bundle_dir`` is empty)."""
  return {role: os.path.join(bundle_dir, name) if bundle_dir else ""
          for role, name in WEIGHTS_FILES.items()}
