"""Training the identity embedding on labeled synthetic faces, and scoring it.

:class:`IdentityMethod` trains :class:`tfface.analysis.identity.IdentityNet`
with ArcFace's additive angular margin loss (Deng et al. 2019) over the
synthetic identities (``tools/make_synthetic.py --mode=labeled``: each
identity's shape and albedo rendered ``views_per_identity`` times under
varied pose, expression, light, hair, beard, background and render style),
optionally plus a batch-level supervised contrastive term. The ArcFace class
centres W `[num_identities, D]` are training-only: they are checkpointed
but not part of the frozen network's weights file
(:func:`tfface.methods.analysis.base.write_weights_from_run`).

Any one identity appears only ``views_per_identity`` (4) times in the data,
so a randomly shuffled batch almost never holds two views of one person:
:func:`identity_dataset` reads groups of consecutive records (the writer's
identity runs) and shuffles whole groups, so every batch holds several views
of each of its identities (positives for the contrastive term).

:func:`evaluate_identity` measures face verification across pose: ROC AUC
and TAR at FAR 1e-2 of the cosine similarity over same / different identity
pairs whose yaws differ by up to 60°, overall, per |Δyaw| bin and per render
style mix. Evaluate on identities never seen in training.

Export: ``embed(images [B, R, R, 3] RGB in [-1, 1]) -> {"embedding": [B, D]}``
(also ``serving_default``).
"""

import math
from typing import Any, Dict, Optional, Sequence, Union

import gin
import numpy as np
import tensorflow as tf

from tfface import training
from tfface.analysis import augment
from tfface.analysis import identity as identity_lib
from tfface.analysis import weights as weights_lib
from tfface.data import datasets
from tfface.export import metadata as metadata_lib
from tfface.export import validation
from tfface.losses import identity as identity_losses
from tfface.methods.analysis import base
from tfface.training import optimizers

keras = tf.keras

# The keys identity training and evaluation read; the rest of the labeled
# records (parse maps, iris masks, landmarks) are dropped before grouping.
_KEYS = ("image", "identity", "pseudo_real", "factors")


# ------------------------------------------------------------------ data


def _files(path: Union[str, Sequence[str]]):
  patterns = [path] if isinstance(path, str) else list(path)
  files = sorted({f for p in patterns for f in tf.io.gfile.glob(p)})
  if not files:
    raise ValueError(f"identity_dataset.path {path!r} matches no files; "
                     "expected labeled-*.tfrecord shards written by "
                     "tools/make_synthetic.py --mode=labeled")
  return files


@gin.configurable
def identity_dataset(global_batch_size: int,
                     path: Union[str, Sequence[str]] = gin.REQUIRED,
                     image_size: int = 64,
                     group_size: int = 4,
                     shuffle: bool = True,
                     shuffle_buffer_groups: int = 64,
                     repeat: bool = True,
                     seed: int = 0,
                     skip_corrupt: bool = False) -> tf.data.Dataset:
  """Batches of labeled faces in groups of consecutive records.

  The labeled writer stores each identity's ``views_per_identity`` faces as
  consecutive records, so groups of ``group_size`` consecutive records (set
  it to the data's ``views_per_identity``) hold several views of one
  identity. With ``shuffle`` every group comes from a randomly chosen shard
  (each shard is read in order) and whole groups pass through a shuffle
  buffer; records are never shuffled apart, so a batch of B holds about
  B / group_size identities with group_size views each. ``group_size=1``
  gives ordinary (shard-interleaved, buffer-shuffled) batches.

  Args:
    global_batch_size: faces per step over all replicas.
    path: glob(s) of ``labeled-*.tfrecord`` shards.
    image_size: resolution (stored images are resized).
    group_size: consecutive records kept together, >= 1.
    shuffle: mix shards and shuffle groups (False: every shard in sorted
      order, for evaluation).
    shuffle_buffer_groups: groups in the shuffle buffer (each face at 64 px
      takes ~50 KB).
    repeat: repeat forever (False: one pass, with a last partial batch).
    seed: shuffle seed.
    skip_corrupt: see :func:`tfface.data.datasets.synthetic_dataset`.

  Returns:
    Dataset of dicts (leading `[B]`): ``image`` `[H, W, 3]` float32 in
    [-1, 1], ``identity`` int32, ``pseudo_real`` float32 (1 = pseudo-real
    render style), ``factors`` (name -> `[n]`; ``pose`` is (pitch, yaw,
    roll) radians).
  """
  if not isinstance(group_size, int) or group_size < 1:
    raise ValueError(f"identity_dataset.group_size must be an int >= 1, got "
                     f"{group_size!r}")
  if not isinstance(shuffle_buffer_groups, int) or shuffle_buffer_groups < 1:
    raise ValueError("identity_dataset.shuffle_buffer_groups must be an int "
                     f">= 1, got {shuffle_buffer_groups!r}")
  if not isinstance(global_batch_size, int) or global_batch_size < 1:
    raise ValueError(f"global_batch_size must be an int >= 1, got "
                     f"{global_batch_size!r}")

  def read(files):
    data = datasets.synthetic_dataset(
        files, image_size, batch_size=None, shuffle=False, repeat=repeat,
        seed=seed, skip_corrupt=skip_corrupt, analysis_labels=True)
    return data.map(lambda e: {k: e[k] for k in _KEYS})

  files = _files(path)
  if shuffle:
    shards = [read([f]).batch(group_size, drop_remainder=True)
              for f in files]
    data = tf.data.Dataset.sample_from_datasets(
        shards, seed=seed, stop_on_empty_dataset=False)
    data = data.shuffle(shuffle_buffer_groups, seed=seed,
                        reshuffle_each_iteration=True).unbatch()
  else:
    data = read(files)
  # Training drops a last partial batch (a fixed batch shape); one pass for
  # evaluation keeps it.
  return data.batch(global_batch_size, drop_remainder=repeat).prefetch(
      tf.data.AUTOTUNE)


# ---------------------------------------------------------------- method


class ArcFaceHead(keras.layers.Layer):
  """The ArcFace class centres W: `[num_classes, embedding_size]` float32.

  Training-only (one row per training identity); the frozen embedding
  network does not contain it.
  """

  def __init__(self, num_classes: int, embedding_size: int, **kwargs):
    super().__init__(**kwargs)
    self.num_classes = int(num_classes)
    self.embedding_size = int(embedding_size)
    self.centres = self.add_weight(
        name="centres", shape=(self.num_classes, self.embedding_size),
        initializer=keras.initializers.RandomNormal(stddev=0.01),
        trainable=True)

  def call(self, embeddings):
    return identity_losses.class_cosines(embeddings, self.centres)


@gin.configurable
class IdentityMethod(base.AnalysisMethod):
  """ArcFace training of :class:`~tfface.analysis.identity.IdentityNet`.

  Args:
    num_identities: C, the number of ArcFace classes: every identity id of
      the training shards must be < C (a larger id stops training with an
      error naming this setting; ids are never hashed or wrapped, which would
      merge identities). The writer numbers identities ``index //
      views_per_identity``, so C = num_examples / views_per_identity of the
      shards (ids of unused classes only add negatives).
    input_size, widths, blocks_per_stage, stem_stride, embedding_size,
      dropout_rate: the :class:`~tfface.analysis.identity.IdentityNet`.
    arcface_scale: s (ArcFace: 64; see the gin files for the choice).
    arcface_margin: m in radians (ArcFace: 0.5).
    easy_margin: the θ + m > π handling of
      :func:`tfface.losses.identity.arcface_logits`.
    arcface_weight: weight of the ArcFace loss (0 = the contrastive term
      alone; the head is then still built but unused).
    margin_warmup_steps: ramp m linearly from 0 over this many steps (0 =
      full margin from the start).
    contrastive_weight: weight of the batch-level
      :func:`~tfface.losses.identity.supervised_contrastive_loss` (0 = off;
      needs batches holding several views per identity, see
      :func:`identity_dataset`).
    contrastive_temperature: its τ.
    random_flip: mirror half of the faces (insightface's training
      augmentation; an identity is assumed mirror-invariant).
    max_rotation_degrees, max_scale, max_shift: the similarity augmentation
      (:func:`tfface.analysis.augment.similarity`); 0, 0, 0 = none.
    learning_rate, optimizer, augment_photometric: see
      :class:`~tfface.methods.analysis.base.AnalysisMethod`.
  """

  name = "identity"

  def __init__(self, num_identities: int = gin.REQUIRED,
               input_size: int = 64,
               widths: Sequence[int] = (32, 64, 128, 256),
               blocks_per_stage: int = 1,
               stem_stride: int = 1,
               embedding_size: int = 128,
               dropout_rate: float = 0.0,
               arcface_scale: float = 30.0,
               arcface_margin: float = 0.5,
               easy_margin: bool = False,
               arcface_weight: float = 1.0,
               margin_warmup_steps: int = 0,
               contrastive_weight: float = 0.0,
               contrastive_temperature: float = 0.1,
               random_flip: bool = True,
               max_rotation_degrees: float = 8.0,
               max_scale: float = 0.08,
               max_shift: float = 0.05,
               learning_rate: float = 1e-3,
               optimizer: Optional[Any] = None,
               augment_photometric: float = 1.0):
    super().__init__(learning_rate=learning_rate, optimizer=optimizer,
                     augment_photometric=augment_photometric)
    if not isinstance(num_identities, int) or num_identities < 2:
      raise ValueError("IdentityMethod.num_identities must be an int >= 2 "
                       "(the identities of the training shards), got "
                       f"{num_identities!r}")
    if not arcface_scale > 0:
      raise ValueError("IdentityMethod.arcface_scale must be > 0, got "
                       f"{arcface_scale!r}")
    if not 0.0 <= arcface_margin < math.pi / 2:
      raise ValueError("IdentityMethod.arcface_margin must be in [0, pi/2) "
                       f"radians, got {arcface_margin!r}")
    if not isinstance(margin_warmup_steps, int) or margin_warmup_steps < 0:
      raise ValueError("IdentityMethod.margin_warmup_steps must be an int "
                       f">= 0, got {margin_warmup_steps!r}")
    if arcface_weight < 0 or contrastive_weight < 0 or (
        arcface_weight == 0 and contrastive_weight == 0):
      raise ValueError("IdentityMethod.arcface_weight and contrastive_weight "
                       "must be >= 0 and not both 0, got "
                       f"{arcface_weight!r} and {contrastive_weight!r}")
    if not contrastive_temperature > 0:
      raise ValueError("IdentityMethod.contrastive_temperature must be > 0, "
                       f"got {contrastive_temperature!r}")
    self.num_identities = num_identities
    self.network_kwargs = dict(
        input_size=int(input_size), widths=[int(w) for w in widths],
        blocks_per_stage=int(blocks_per_stage), stem_stride=int(stem_stride),
        embedding_size=int(embedding_size), dropout_rate=float(dropout_rate))
    identity_lib.check_network_config(**self.network_kwargs)
    self.arcface_scale = float(arcface_scale)
    self.arcface_margin = float(arcface_margin)
    self.easy_margin = bool(easy_margin)
    self.margin_warmup_steps = margin_warmup_steps
    self.arcface_weight = float(arcface_weight)
    self.contrastive_weight = float(contrastive_weight)
    self.contrastive_temperature = float(contrastive_temperature)
    self.random_flip = bool(random_flip)
    self.similarity = (float(max_rotation_degrees), float(max_scale),
                       float(max_shift))

  def make_network(self):
    network = identity_lib.IdentityNet(**self.network_kwargs)
    return network, network.config()

  def build(self):
    self.network, self.network_config = self.make_network()
    size = int(self.network.input_size)
    self.network(tf.zeros([1, size, size, 3]), training=False)
    self.head = ArcFaceHead(self.num_identities,
                            self.network.embedding_size, name="arcface_head")
    self.head(tf.zeros([1, self.network.embedding_size]))
    self.optimizer = optimizers.make_optimizer(
        self.optimizer_factory, name="optimizer",
        learning_rate=self.learning_rate, variables=self.trainable_variables)

  @property
  def trainable_variables(self):
    return (list(self.network.trainable_variables) +
            list(self.head.trainable_variables))

  def checkpoint_items(self):
    return {"network": self.network, "arcface_head": self.head,
            "optimizer": self.optimizer}

  def augment_geometry(self, batch, seed):
    batch = dict(batch)
    images = batch["image"]
    if any(self.similarity):
      rotation, scale, shift = self.similarity
      images, _, _ = augment.similarity(
          images, seed + [0, 201], max_rotation_degrees=rotation,
          max_scale=scale, max_shift=shift)
    if self.random_flip:
      flip = tf.random.stateless_uniform(
          [tf.shape(images)[0], 1, 1, 1], seed + [0, 202]) < 0.5
      images = tf.where(flip, tf.reverse(images, axis=[2]), images)
    batch["image"] = images
    return batch

  def current_margin(self) -> tf.Tensor:
    """m at this step (the linear warm-up of ``margin_warmup_steps``)."""
    if self.margin_warmup_steps == 0:
      return tf.constant(self.arcface_margin)
    ramp = tf.minimum(1.0, tf.cast(self.global_step, tf.float32) /
                      float(self.margin_warmup_steps))
    return self.arcface_margin * ramp

  def _checked_labels(self, labels):
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    check = tf.debugging.assert_less(
        labels, tf.constant(self.num_identities, tf.int32),
        message=(f"IdentityMethod.num_identities is {self.num_identities} but "
                 "the training data holds a larger identity id; set it to at "
                 "least the number of identities of the training shards "
                 "(num_examples / views_per_identity)"))
    check_low = tf.debugging.assert_non_negative(
        labels, message="identity ids must be >= 0")
    with tf.control_dependencies([check, check_low]):
      return tf.identity(labels)

  def compute_losses(self, batch, images, training):
    labels = self._checked_labels(batch["identity"])
    embeddings = self.network(images, training=training)
    cosine = self.head(embeddings)  # [B, C]
    logits = identity_losses.arcface_logits_from_cosine(
        cosine, labels, self.arcface_scale, self.current_margin(),
        self.easy_margin)
    arcface = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits))
    losses = {"arcface": arcface}
    total = self.arcface_weight * arcface
    if self.contrastive_weight > 0:
      contrastive = identity_losses.supervised_contrastive_loss(
          embeddings, labels, self.contrastive_temperature)
      losses["contrastive"] = contrastive
      total = total + self.contrastive_weight * contrastive
    losses["total"] = total
    losses["accuracy"] = tf.reduce_mean(tf.cast(
        tf.equal(tf.argmax(cosine, axis=1, output_type=tf.int32), labels),
        tf.float32))
    same, different = _batch_cosine_gap(embeddings, labels)
    losses["same_cosine"], losses["different_cosine"] = same, different
    return losses

  def train_step(self, batch):
    batch, images = self.prepare(batch)
    variables = self.trainable_variables
    with tf.GradientTape() as tape:
      losses = self.compute_losses(batch, images, training=True)
    training.minimize(tape, self.optimizer, losses["total"], variables)
    return losses

  def weights_metadata(self) -> Dict[str, Any]:
    size = self.network_kwargs["input_size"]
    return {
        "role": "identity embedding (FaceNet / ArcFace / LResNet18 role)",
        "input": (f"images [B, H, W, 3] float32 RGB in [-1, 1], any size "
                  f"(resized to {size}); whole-head crops framed as the "
                  "synthetic data"),
        "output": (f"[B, {self.network_kwargs['embedding_size']}] float32 "
                   "L2-normalised; cosine similarity = dot product"),
        "loss": (f"ArcFace s={self.arcface_scale} m={self.arcface_margin}"
                 + (f" + {self.contrastive_weight} supervised contrastive "
                    f"(tau={self.contrastive_temperature})"
                    if self.contrastive_weight > 0 else "")),
        "num_training_identities": self.num_identities}

  def export_signatures(self):
    module = IdentityServing(self.network)
    return module, {"embed": module.embed}


def _batch_cosine_gap(embeddings, labels):
  """Mean cosine of same-identity and of different-identity pairs in a batch
  (0 where the batch has none)."""
  z = tf.math.l2_normalize(embeddings, axis=-1)
  cos = tf.matmul(z, z, transpose_b=True)
  not_self = tf.logical_not(tf.eye(tf.shape(z)[0], dtype=tf.bool))
  same = tf.logical_and(tf.equal(labels[:, None], labels[None, :]), not_self)
  different = tf.not_equal(labels[:, None], labels[None, :])

  def mean(mask):
    mask = tf.cast(mask, tf.float32)
    return tf.reduce_sum(cos * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)

  return mean(same), mean(different)


# ---------------------------------------------------------------- export


class IdentityServing(tf.Module):
  """Serving module: ``embed(images) -> {"embedding"}``."""

  def __init__(self, network: identity_lib.IdentityNet):
    super().__init__(name="identity")
    self.network = network

    @validation.validated_function("embed", self.signature_inputs()["embed"])
    def embed(images):
      return {"embedding": self.network(images, training=False)}

    self.embed = embed

  def signature_inputs(self):
    size = int(self.network.input_size)
    return {"embed": (validation.Input(
        "images", (validation.BATCH, size, size, 3),
        meaning="RGB in [-1, 1] (whole-head face crops)", finite=True,
        minimum=-1.0, maximum=1.0),)}

  def export_metadata(self):
    size = int(self.network.input_size)
    dim = int(self.network.embedding_size)
    return metadata_lib.build_metadata(
        "identity", size, "embed", self.signature_inputs(),
        {"embed": {"embedding": f"[B, {dim}] float32, L2-normalised (unit "
                                "rows): cosine similarity = dot product"}},
        extra={"embedding_size": dim})


# ------------------------------------------------------------ evaluation


def embed_dataset(network, dataset: tf.data.Dataset,
                  num_batches: Optional[int] = None,
                  batch_fn=None) -> Dict[str, np.ndarray]:
  """Embeddings and labels of ``num_batches`` batches (None: all of them).

  Returns:
    ``embedding`` `[N, D]`, ``identity`` `[N]`, ``yaw`` `[N]` radians,
    ``pseudo_real`` `[N]`.
  """
  embed = batch_fn or tf.function(lambda x: network(x, training=False))
  out = {"embedding": [], "identity": [], "yaw": [], "pseudo_real": []}
  data = dataset if num_batches is None else dataset.take(num_batches)
  for batch in data:
    out["embedding"].append(embed(batch["image"]).numpy())
    out["identity"].append(batch["identity"].numpy())
    out["yaw"].append(batch["factors"]["pose"][:, 1].numpy())
    out["pseudo_real"].append(batch["pseudo_real"].numpy())
  if not out["embedding"]:
    raise ValueError("evaluate_identity: the dataset gave no batches")
  return {k: np.concatenate(v) for k, v in out.items()}


def evaluate_identity(network, dataset: tf.data.Dataset,
                      num_batches: Optional[int] = None,
                      far: float = 1e-2,
                      max_yaw_difference_degrees: float = 60.0,
                      yaw_bins: Sequence[float] = identity_lib.YAW_BINS_DEGREES,
                      max_different_pairs: Optional[int] = None,
                      seed: int = 0) -> Dict[str, float]:
  """Face verification with an identity network, across pose and style.

  Every pair of the faces read (same and different identity) whose yaws
  differ by at most ``max_yaw_difference_degrees`` is scored with the cosine
  similarity of the two embeddings.

  Args:
    network: images `[B, H, W, 3]` in [-1, 1] -> `[B, D]` embeddings (an
      :class:`~tfface.analysis.identity.IdentityNet` or any analysis
      identity network); called with ``training=False``.
    dataset: batches as :func:`identity_dataset` or
      :func:`~tfface.methods.analysis.data.analysis_dataset` give them
      (``image``, ``identity``, ``factors["pose"]``, ``pseudo_real``). Use a
      single pass (``identity_dataset(..., shuffle=False, repeat=False)``):
      a face read twice would pair with itself. Use identities the network
      was not trained on.
    num_batches: batches to read (None: until the dataset ends).
    far: the false-accept rate of the TAR.
    max_yaw_difference_degrees: the pose range of the pairs.
    yaw_bins: |Δyaw| bin edges in degrees; bin k is (edge_k, edge_k+1]
      (the first also includes 0).
    max_different_pairs: subsample the different-identity pairs (of each
      evaluation) to this many; None: all.
    seed: the subsampling seed.

  Returns:
    floats: ``roc_auc``, ``tar_at_far``, ``mean_same``, ``mean_different``,
    ``num_same``, ``num_different``, ``num_faces``, ``num_identities`` over
    all pairs; the same six with suffixes ``/yaw_<lo>_<hi>`` per bin and
    ``/plain``, ``/pseudo_real``, ``/mixed`` per render style of the two
    faces (NaN where a group lacks same or different pairs).
  """
  data = embed_dataset(network, dataset, num_batches)
  pairs = identity_lib.verification_pairs(
      data["identity"], data["yaw"], max_yaw_difference_degrees,
      max_different_pairs, seed)
  z = data["embedding"].astype(np.float64)
  z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
  scores = np.sum(z[pairs["first"]] * z[pairs["second"]], axis=1)
  same = pairs["same"]
  results = {"num_faces": float(z.shape[0]),
             "num_identities": float(np.unique(data["identity"]).size)}

  def add(suffix, keep):
    metrics = identity_lib.verification_metrics(scores[keep], same[keep], far)
    for key, value in metrics.items():
      results[key + suffix] = float(value)

  add("", np.ones_like(same))
  edges = [float(e) for e in yaw_bins]
  difference = pairs["yaw_difference"]
  for k, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
    keep = (difference <= high) & ((difference > low) if k else
                                   (difference >= low))
    add(f"/yaw_{low:g}_{high:g}", keep)
  style = data["pseudo_real"] > 0.5
  first, second = style[pairs["first"]], style[pairs["second"]]
  add("/plain", ~first & ~second)
  add("/pseudo_real", first & second)
  add("/mixed", first != second)
  return results


def evaluate_weights(weights_path: str, path: Union[str, Sequence[str]],
                     image_size: int = 64, batch_size: int = 50,
                     **kwargs) -> Dict[str, float]:
  """:func:`evaluate_identity` of a weights file on labeled shards (one pass).

  Args:
    weights_path: an ``identity`` (or any identity) network weights file.
    path: glob(s) of held-out ``labeled-*.tfrecord`` shards.
    image_size: the resolution to read them at.
    batch_size: faces per forward pass.
    **kwargs: more :func:`evaluate_identity` arguments.
  """
  network = weights_lib.load_network(weights_path)
  dataset = identity_dataset(batch_size, path, image_size, group_size=1,
                             shuffle=False, repeat=False)
  return evaluate_identity(network, dataset, **kwargs)
