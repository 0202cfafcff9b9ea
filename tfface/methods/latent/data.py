"""Input pipelines of the latent models, behind gin-configurable functions.

``train`` calls ``dataset_fn(global_batch_size)``:

* :func:`latent_image_dataset` — face images (ACAI, the baseline AE with its
  landmark targets, the decoder's identity fine-tuning): the labeled synthetic
  faces split by identity, or any unlabeled source of
  :func:`tfface.data.image_source` (CelebA folders) for the reference configs;
* :func:`latent_codes_dataset` — ``{"z", "label"}`` codes of a frozen
  autoencoder with a condition (:mod:`tfface.methods.latent.labels`), for the
  conditional latent GANs;
* :func:`keypoint_pairs_dataset` — source/target code pairs of one identity
  with their keypoints, for the keypoint mapper.

Codes come from the cached table of :func:`tfface.methods.latent.codes.
cached_codes` (see there why a cache). Held-out identities
(:func:`~tfface.methods.latent.codes.heldout_mask`) never reach training.
"""

from typing import Dict, Optional, Tuple

import gin
import numpy as np
import tensorflow as tf

from tfface.data import datasets
from tfface.data import sources
from tfface.methods.latent import codes as codes_lib
from tfface.methods.latent import labels as labels_lib

SPLITS = ("train", "heldout", "all")
LABELED = "labeled"
DEFAULT_HELDOUT_MODULUS = 10


def _check_split(split: str) -> str:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
  return split


def split_mask(identity: np.ndarray, split: str, modulus: int) -> np.ndarray:
  """Which faces belong to ``split`` (by identity; see codes.heldout_mask)."""
  held = codes_lib.heldout_mask(identity, modulus)
  return {"train": ~held, "heldout": held,
          "all": np.ones_like(held)}[_check_split(split)]


@gin.configurable
def latent_image_dataset(global_batch_size: int,
                         path: str = gin.REQUIRED,
                         source: str = LABELED,
                         image_size: int = 64,
                         flip: bool = False,
                         landmarks: bool = False,
                         split: str = "train",
                         heldout_modulus: int = DEFAULT_HELDOUT_MODULUS,
                         identities: Optional[Tuple[int, ...]] = None,
                         shuffle: bool = True,
                         repeat: bool = True,
                         seed: int = 0) -> tf.data.Dataset:
  """Global batches of face images.

  Args:
    global_batch_size: images per step over all replicas.
    path: file pattern (``labeled``, ``synthetic``, ``tfrecord``) or
      directory (``folder``).
    source: ``"labeled"`` (tfface's labeled synthetic faces, split by
      identity, with landmarks) or a kind of :func:`tfface.data.image_source`
      (no split, no landmarks).
    image_size: R.
    flip: random horizontal flips (the reference's ACAI augmentation);
      images only (flipping landmarks would need the left/right index swap
      the reference forgot, so ``landmarks`` and ``flip`` exclude each other).
    landmarks: also yield ``landmarks`` `[B, 68, 2]` pixels (``labeled``).
    split: ``train``, ``heldout`` or ``all`` identities (``labeled``).
    heldout_modulus: identity ``i`` is held out when ``i % m == m - 1``.
    identities: only these identity ids (the decoder's fine-tuning on one
      "speaker"); None for the split.
    shuffle, repeat, seed: as usual.

  Returns:
    ``{"image": [B, R, R, 3] float32 in [-1, 1]}`` plus ``landmarks`` and
    (``labeled``) ``identity`` `[B]` int32, batched with
    ``drop_remainder=True``.
  """
  if flip and landmarks:
    raise ValueError("latent_image_dataset: flip and landmarks exclude each "
                     "other (flipped landmarks would need a left/right swap)")
  if source == LABELED:
    _check_split(split)
    data = datasets.synthetic_dataset(path, image_size, batch_size=None,
                                      shuffle=shuffle, repeat=repeat,
                                      seed=seed, analysis_labels=True)
    m = int(heldout_modulus)

    def keep(example):
      ident = example["identity"]
      if identities:
        return tf.reduce_any(tf.equal(ident, tf.constant(identities,
                                                         tf.int32)))
      if split == "all" or m <= 1:
        return tf.constant(True)
      held = tf.equal(ident % m, m - 1)
      return held if split == "heldout" else tf.logical_not(held)

    def select(example):
      out = {"image": example["image"], "identity": example["identity"]}
      if landmarks:
        out["landmarks"] = example["landmarks"]
      return out

    data = data.filter(keep).map(select)
  else:
    if landmarks:
      raise ValueError(f"latent_image_dataset: source {source!r} has no "
                       "landmarks; use source='labeled'")
    if source not in sources.KINDS:
      raise ValueError(f"latent_image_dataset.source must be 'labeled' or one "
                       f"of {sources.KINDS}, got {source!r}")
    data = sources.image_source(source, path, (image_size, image_size), None,
                                shuffle=shuffle, seed=seed, repeat=repeat)
  if flip:
    def flip_fn(index, example):
      example = dict(example)
      example["image"] = tf.image.stateless_random_flip_left_right(
          example["image"], tf.stack([tf.cast(seed, tf.int64), index]))
      return example
    data = data.enumerate().map(flip_fn)
  return data.batch(global_batch_size, drop_remainder=True).prefetch(2)


def codes_table(autoencoder: str, path: Optional[str] = None,
                codes_path: Optional[str] = None,
                image_size: Optional[int] = None,
                max_faces: Optional[int] = None) -> Dict[str, np.ndarray]:
  """The codes table: a user's ``codes_path`` ``.npz``, or the cached
  encoding of the labeled faces at ``path`` under ``autoencoder``."""
  if codes_path:
    return codes_lib.load_table(codes_path)
  if not path:
    raise ValueError("latent codes need either path (labeled faces to encode "
                     "with the autoencoder) or codes_path (an .npz table)")
  return codes_lib.cached_codes(autoencoder, path, image_size,
                                max_faces=max_faces)


def _labelled_codes(table, condition: labels_lib.Condition, split: str,
                    heldout_modulus: int):
  z = np.asarray(table["z"], np.float32)
  values = condition.values(table)
  mask = np.ones(len(z), bool)
  if "identity" in table:
    mask &= split_mask(table["identity"], split, heldout_modulus)
  elif split == "heldout":
    raise ValueError("the codes table has no identity ids, so it has no "
                     "held-out split")
  if condition.discrete:
    mask &= values >= 0
  return z[mask], values[mask]


@gin.configurable
def latent_codes_dataset(global_batch_size: int,
                         autoencoder: str = "",
                         path: str = "",
                         codes_path: str = "",
                         condition: str = "hair_color",
                         image_size: Optional[int] = None,
                         split: str = "train",
                         heldout_modulus: int = DEFAULT_HELDOUT_MODULUS,
                         max_faces: Optional[int] = None,
                         seed: int = 0) -> tf.data.Dataset:
  """Global batches of codes and their condition.

  Args:
    global_batch_size: codes per step.
    autoencoder: the frozen autoencoder (weights file or run directory).
    path: the labeled faces to encode (cached next to the autoencoder).
    codes_path: instead, an ``.npz`` table with ``z`` `[N, Z]` and what the
      condition reads (``attributes``/``attribute_names`` for CelebA).
    condition: a spec of :func:`tfface.methods.latent.labels.make_condition`.
    image_size: read size (default the autoencoder's).
    split, heldout_modulus: which identities (see :func:`split_mask`).
    max_faces: encode only the first N faces (tests).
    seed: shuffling seed.

  Returns:
    ``{"z": [B, Z] float32, "label": [B, C] float32}`` (one-hot for discrete
    conditions), shuffled, repeated, ``drop_remainder=True``.
  """
  cond = labels_lib.make_condition(condition)
  table = codes_table(autoencoder, path, codes_path, image_size, max_faces)
  z, values = _labelled_codes(table, cond, split, heldout_modulus)
  if len(z) < global_batch_size:
    raise ValueError(f"only {len(z)} codes with condition {condition!r} in "
                     f"split {split!r}; need at least one batch of "
                     f"{global_batch_size}")
  data = tf.data.Dataset.from_tensor_slices(
      {"z": z, "label": cond.vectors(values)})
  return (data.shuffle(len(z), seed=seed, reshuffle_each_iteration=True)
          .repeat().batch(global_batch_size, drop_remainder=True))


def identity_groups(identity: np.ndarray) -> Dict[int, np.ndarray]:
  """identity id -> indices of its faces (in table order)."""
  groups: Dict[int, list] = {}
  for index, ident in enumerate(np.asarray(identity).tolist()):
    groups.setdefault(int(ident), []).append(index)
  return {k: np.asarray(v) for k, v in groups.items()}


def keypoint_pairs(table: Dict[str, np.ndarray], split: str = "train",
                   heldout_modulus: int = DEFAULT_HELDOUT_MODULUS,
                   source_keypoints: Optional[np.ndarray] = None
                   ) -> Dict[str, np.ndarray]:
  """Source/target pairs of one identity (the VoxCeleb clips' stand-in).

  The source is the identity's "center identity" (the reference's CI): the
  mean code of all its faces, with the mean of their true landmarks as its
  keypoints (the reference detects them on the decoded mean face: pass
  ``source_keypoints`` `[num identities, 68, 2]`, in the order of
  :func:`identity_groups`, to use detected ones). Every face of the identity
  is a target once.

  Returns:
    ``z_source``, ``z_target`` `[P, Z]`; ``keypoints_source``,
    ``keypoints_target`` `[P, 68, 2]` pixels; ``identity`` `[P]`.
  """
  mask = split_mask(table["identity"], split, heldout_modulus)
  groups = identity_groups(table["identity"])
  out = {k: [] for k in ("z_source", "z_target", "keypoints_source",
                         "keypoints_target", "identity")}
  for rank, (ident, members) in enumerate(sorted(groups.items())):
    members = members[mask[members]]
    if len(members) < 2:
      continue
    z_s = table["z"][members].mean(0)
    c_s = (table["landmarks"][members].mean(0) if source_keypoints is None
           else source_keypoints[rank])
    for j in members:
      out["z_source"].append(z_s)
      out["keypoints_source"].append(c_s)
      out["z_target"].append(table["z"][j])
      out["keypoints_target"].append(table["landmarks"][j])
      out["identity"].append(ident)
  if not out["z_source"]:
    raise ValueError(f"no identity of split {split!r} has two faces or more; "
                     "the keypoint mapper needs runs of one identity "
                     "(write the data with views_per_identity >= 2)")
  return {k: np.asarray(v, np.int32 if k == "identity" else np.float32)
          for k, v in out.items()}


@gin.configurable
def keypoint_pairs_dataset(global_batch_size: int,
                           autoencoder: str = gin.REQUIRED,
                           path: str = gin.REQUIRED,
                           image_size: Optional[int] = None,
                           split: str = "train",
                           heldout_modulus: int = DEFAULT_HELDOUT_MODULUS,
                           landmarks_weights: Optional[str] = None,
                           reference_detector_input: bool = False,
                           max_faces: Optional[int] = None,
                           seed: int = 0) -> tf.data.Dataset:
  """Global batches of :func:`keypoint_pairs` for the keypoint mapper.

  Args:
    global_batch_size: pairs per step.
    autoencoder: the frozen (optionally decoder-fine-tuned) autoencoder.
    path: the labeled faces (runs of one identity).
    image_size: read size (default the autoencoder's).
    split, heldout_modulus: which identities.
    landmarks_weights: a landmark-detector weights file
      (:func:`tfface.analysis.weights.load_network`): the source keypoints are
      then detected on the decoded mean face, as the reference; None: the
      mean of the true landmarks.
    reference_detector_input: feed the detector the reference's wrong
      ``image·255`` of a [−1, 1] image (in tfface's units ``2·image − 1``,
      :func:`tfface.methods.latent.keypoints.detector_input`).
    max_faces: encode only the first N faces (tests).
    seed: shuffling seed.

  Returns:
    dict of `[B, ...]` tensors as :func:`keypoint_pairs`, without
    ``identity``, shuffled and repeated.
  """
  ae = codes_lib.load_autoencoder(autoencoder)
  table = codes_lib.cached_codes(autoencoder, path, image_size,
                                 max_faces=max_faces, autoencoder=ae)
  source_keypoints = None
  if landmarks_weights:
    source_keypoints = detect_source_keypoints(ae, table, landmarks_weights,
                                               reference_detector_input)
  pairs = keypoint_pairs(table, split, heldout_modulus, source_keypoints)
  pairs.pop("identity")
  count = len(pairs["z_source"])
  if count < global_batch_size:
    raise ValueError(f"only {count} keypoint pairs in split {split!r}; need "
                     f"at least one batch of {global_batch_size}")
  data = tf.data.Dataset.from_tensor_slices(pairs)
  return (data.shuffle(count, seed=seed, reshuffle_each_iteration=True)
          .repeat().batch(global_batch_size, drop_remainder=True))


def detect_source_keypoints(autoencoder, table, landmarks_weights: str,
                            reference_detector_input: bool = False,
                            batch_size: int = 64) -> np.ndarray:
  """Landmarks the detector finds on each identity's decoded mean code.

  Returns:
    `[num identities, 68, 2]` pixels, in :func:`identity_groups` order.
  """
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  from tfface.methods.latent import keypoints  # pylint: disable=g-import-not-at-top
  detector = landmarks_weights
  if isinstance(landmarks_weights, str):
    detector = analysis_weights.load_network(landmarks_weights)
  groups = identity_groups(table["identity"])
  means = np.stack([table["z"][m].mean(0) for _, m in sorted(groups.items())])
  out = []
  for i in range(0, len(means), batch_size):
    images = tf.clip_by_value(autoencoder.decode(means[i:i + batch_size]),
                              -1.0, 1.0)
    out.append(np.asarray(detector(keypoints.detector_input(
        images, reference_detector_input))))
  return np.concatenate(out).astype(np.float32)
