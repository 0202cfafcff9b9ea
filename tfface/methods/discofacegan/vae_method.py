"""Training DiscoFaceGAN's λ-space VAEs on the shared runtime.

The paper trains its VAEs on the coefficients R-Net finds in FFHQ's real
faces (``vae/demo.py``: Adam 1e-4, halved every 150 epochs, 400 epochs,
batch 64). Here:

* **data** (:func:`coefficient_table`, :func:`discofacegan_vae_dataset`):
  the face-model coefficients of real-domain faces, estimated by the frozen
  reconstruction net (kind ``"reconstruction"`` of
  :mod:`tfface.analysis.weights`, e.g. ``pretrained/reconstruction.npz``)
  on the bundle's pseudo-real faces or a user's image folder; or, with
  ``source="labels"``, the true factors of labeled synthetic records; or,
  with ``source="file"``, a user's ``.npz`` of coefficient groups. The
  table is computed once and cached as ``dfg_vae_coefficients-<key>.npz``
  (atomic write; the key hashes the settings, the net file and the data
  files' names, sizes and modification times), so every run reuses it;
* **trainer** (:class:`DiscoFaceGANVAEMethod`): the four
  :class:`~tfface.methods.discofacegan.vae.FactorVAE` losses summed (the
  factors share nothing, so one Adam over all of them is four independent
  Adams), per-factor KL, reconstruction, RMSE and γ_x logged;
* **result**: ``load_factor_vaes(<run dir>)`` reads the newest checkpoint
  directly (:func:`vaes_from_checkpoint`, no gin involved), and
  :func:`export_run_vaes` writes it as a tfface ``.npz``.

``tools/train.py --gin_file=gin/discofacegan/vae_cpu_64.gin`` trains it.
"""

import hashlib
import json
import math
import os
from typing import Dict, Optional, Sequence

from absl import logging
import gin
import numpy as np
import tensorflow as tf

from tfface import training
from tfface.methods.discofacegan import vae as vae_lib
from tfface.training import checkpoints as checkpoints_lib

SOURCES = ("reconstruction", "labels", "file")
IMAGE_KINDS = ("pseudo_real", "folder", "tfrecord", "synthetic")
CACHE_PREFIX = "dfg_vae_coefficients-"
# The reconstruction net's layout that feeds each VAE layout.
_NET_LAYOUT = {"procedural": "procedural", "bfm": "bfm257"}
# FFHQ's 70k faces: the reference's epoch (1094 steps at batch 64).
REFERENCE_EXAMPLES_PER_EPOCH = 70000


def layout_groups(layout: str) -> Dict[str, int]:
  """Face-model group -> size, over every factor of a VAE layout."""
  out = {}
  for spec in vae_lib.layout_specs(layout).values():
    for name, size in spec["groups"]:
      out[name] = size
  return out


# ---------------------------------------------------------------- the table


def _file_facts(paths: Sequence[str]):
  facts = []
  for path in sorted(paths):
    stat = os.stat(path)
    facts.append([os.path.abspath(path), stat.st_size, int(stat.st_mtime)])
  return facts


def _data_files(kind: str, path: str):
  if kind == "folder":
    if not os.path.isdir(path):
      raise ValueError(f"discofacegan_vae_dataset: image folder {path!r} "
                       "does not exist; expected a directory of face images.")
    return [os.path.join(root, f) for root, _, files in os.walk(path)
            for f in files]
  files = tf.io.gfile.glob(path)
  if not files:
    raise ValueError(f"discofacegan_vae_dataset: no files match {path!r}; "
                     "expected TFRecord shards (e.g. "
                     "pretrained/work/data/pseudo_real/*.tfrecord).")
  return files


def _check_reconstruction_net(net_path: str, layout: str) -> None:
  """The net file holds a reconstruction net of the layout's coefficients."""
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  header = analysis_weights.read_header(net_path)
  kind = header.get("kind")
  net_layout = header.get("config", {}).get("layout", "procedural")
  if kind != "reconstruction":
    raise ValueError(f"discofacegan_vae_dataset: {net_path} holds a {kind!r} "
                     "network; expected a 'reconstruction' net.")
  if net_layout != _NET_LAYOUT[layout]:
    raise ValueError(f"discofacegan_vae_dataset: {net_path} predicts the "
                     f"{net_layout!r} layout; the {layout!r} VAEs need a "
                     f"{_NET_LAYOUT[layout]!r} net.")


def _reconstruction_table(net_path, kind, data, layout, image_size,
                          batch_size, max_examples) -> Dict[str, np.ndarray]:
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  from tfface.data import sources  # pylint: disable=g-import-not-at-top
  net = analysis_weights.load_network(net_path)
  # Single images batched here without drop_remainder: every face counts.
  images = sources.image_source(kind, data, image_size, None, shuffle=False,
                                repeat=False).batch(batch_size)
  groups = layout_groups(layout)
  parts = {name: [] for name in groups}
  count = 0

  @tf.function
  def predict(batch):
    out = net(batch, training=False)
    return {name: out[name] for name in groups}

  for element in images:
    out = predict(element["image"])
    for name in groups:
      parts[name].append(out[name].numpy())
    count += int(element["image"].shape[0])
    if max_examples and count >= max_examples:
      break
  return {name: np.concatenate(v)[:max_examples or None].astype(np.float32)
          for name, v in parts.items()}


def _label_table(pattern, layout, batch_size, max_examples):
  from tfface.data import datasets  # pylint: disable=g-import-not-at-top
  if layout != "procedural":
    raise ValueError("discofacegan_vae_dataset: source='labels' reads the "
                     "procedural model's factors of synthetic records; use "
                     "layout='procedural'.")
  groups = layout_groups(layout)
  records = datasets.synthetic_dataset(pattern, 16, None, shuffle=False,
                                       repeat=False).batch(batch_size)
  parts = {name: [] for name in groups}
  count = 0
  for element in records:
    factors = element["factors"]
    for name in groups:
      if name not in factors:
        raise ValueError(f"discofacegan_vae_dataset: the records of "
                         f"{pattern!r} have no factor {name!r} (they hold "
                         f"{sorted(factors)}).")
      parts[name].append(factors[name].numpy())
    count += int(factors[next(iter(groups))].shape[0])
    if max_examples and count >= max_examples:
      break
  return {name: np.concatenate(v)[:max_examples or None].astype(np.float32)
          for name, v in parts.items()}


def _file_table(path, layout, max_examples) -> Dict[str, np.ndarray]:
  groups = layout_groups(layout)
  if not os.path.isfile(path):
    raise ValueError(f"discofacegan_vae_dataset: no coefficient file {path!r};"
                     f" expected an .npz with arrays {groups} ([N, n]).")
  with np.load(path) as data:
    table = {}
    for name, size in groups.items():
      if name not in data.files or data[name].ndim != 2 or (
          data[name].shape[1] != size):
        raise ValueError(f"discofacegan_vae_dataset: {path} needs an array "
                         f"{name!r} of shape [N, {size}]; it holds "
                         f"{sorted(data.files)}.")
      table[name] = data[name][:max_examples or None].astype(np.float32)
  counts = {len(v) for v in table.values()}
  if len(counts) != 1:
    raise ValueError(f"discofacegan_vae_dataset: the arrays of {path} have "
                     f"different lengths {sorted(counts)}.")
  return table


@gin.configurable
def coefficient_table(source: str = "reconstruction",
                      data: str = gin.REQUIRED,
                      image_kind: str = "pseudo_real",
                      reconstruction: Optional[str] = None,
                      layout: str = "procedural",
                      image_size: int = 64,
                      max_examples: Optional[int] = None,
                      cache_dir: Optional[str] = None,
                      batch_size: int = 64) -> Dict[str, np.ndarray]:
  """The face-model coefficients the VAEs train on, cached.

  Args:
    source: ``"reconstruction"`` (the frozen net on images, as the paper's
      R-Net on FFHQ), ``"labels"`` (the true factors of labeled synthetic
      records) or ``"file"`` (an ``.npz`` with one `[N, n]` array per group,
      e.g. coefficients of the user's own reconstruction net; not cached).
    data: the images: a file pattern of TFRecord shards or an image folder
      (``image_kind``); for ``"labels"`` a pattern of labeled synthetic
      shards; for ``"file"`` the ``.npz``.
    image_kind: ``"pseudo_real"``, ``"folder"``, ``"tfrecord"`` or
      ``"synthetic"`` (:func:`tfface.data.sources.image_source`).
    reconstruction: the reconstruction net's weights file (``source =
      "reconstruction"``), e.g. ``pretrained/reconstruction.npz``; its layout
      must fit ``layout`` (procedural → ``"procedural"``, bfm →
      ``"bfm257"``).
    layout: the VAE layout (:data:`tfface.methods.discofacegan.vae.LAYOUTS`).
    image_size: the side images are read at.
    max_examples: keep the first N faces (None: all).
    cache_dir: where the cache lives (default: beside the net for
      ``"reconstruction"``, beside the data for ``"labels"``).
    batch_size: faces per forward pass while computing.

  Returns:
    dict group -> `[N, n]` float32 (``identity``, ``albedo``, ``expression``,
    ``sh``, ``pose`` ...: the groups of the layout's factors).

  Raises:
    ValueError: on a bad setting, missing data or an unfit net.
  """
  if source not in SOURCES:
    raise ValueError(f"discofacegan_vae_dataset: source must be one of "
                     f"{SOURCES}, got {source!r}.")
  if layout not in vae_lib.LAYOUTS:
    raise ValueError(f"discofacegan_vae_dataset: layout must be one of "
                     f"{sorted(vae_lib.LAYOUTS)}, got {layout!r}.")
  if not data or data is gin.REQUIRED:
    raise ValueError("discofacegan_vae_dataset: data is required (a TFRecord "
                     "pattern or an image folder).")
  if source == "file":
    return _file_table(data, layout, max_examples)
  if source == "reconstruction":
    if image_kind not in IMAGE_KINDS:
      raise ValueError(f"discofacegan_vae_dataset: image_kind must be one of "
                       f"{IMAGE_KINDS}, got {image_kind!r}.")
    if not reconstruction or not os.path.isfile(reconstruction):
      raise ValueError("discofacegan_vae_dataset: source='reconstruction' "
                       f"needs the reconstruction net's weights file; got "
                       f"{reconstruction!r} (e.g. pretrained/"
                       "reconstruction.npz).")
  if source == "reconstruction":
    _check_reconstruction_net(reconstruction, layout)
  files = _data_files(image_kind if source == "reconstruction" else
                      "synthetic", data)
  facts = {"source": source, "layout": layout, "max_examples": max_examples,
           "data": _file_facts(files)}
  if source == "reconstruction":
    facts.update(image_kind=image_kind, image_size=int(image_size),
                 net=_file_facts([reconstruction]))
  key = hashlib.sha1(json.dumps(facts, sort_keys=True).encode()).hexdigest()
  if cache_dir is None:
    anchor = reconstruction if source == "reconstruction" else files[0]
    cache_dir = os.path.dirname(os.path.abspath(anchor))
  path = os.path.join(cache_dir, f"{CACHE_PREFIX}{key[:16]}.npz")
  groups = layout_groups(layout)
  if os.path.isfile(path):
    with np.load(path) as cached:
      if all(name in cached.files for name in groups):
        logging.info("DiscoFaceGAN VAE coefficients from %s", path)
        return {name: cached[name] for name in groups}
  logging.info("computing DiscoFaceGAN VAE coefficients (%s) -> %s", source,
               path)
  if source == "reconstruction":
    table = _reconstruction_table(reconstruction, image_kind, data, layout,
                                  image_size, batch_size, max_examples)
  else:
    table = _label_table(data, layout, batch_size, max_examples)
  count = len(next(iter(table.values())))
  if count == 0:
    raise ValueError(f"discofacegan_vae_dataset: {data!r} gave no faces.")
  os.makedirs(cache_dir, exist_ok=True)
  tmp = path + ".tmp.npz"
  with open(tmp, "wb") as f:
    np.savez(f, facts=np.asarray(json.dumps(facts)), **table)
  os.replace(tmp, path)
  return table


@gin.configurable
def discofacegan_vae_dataset(global_batch_size: int, seed: int = 0,
                             **table_kwargs) -> tf.data.Dataset:
  """Shuffled, repeated global batches of the cached coefficient table.

  Args:
    global_batch_size: faces per step (reference 64).
    seed: the shuffle seed.
    **table_kwargs: :func:`coefficient_table`'s settings (gin binds them on
      ``coefficient_table``).

  Returns:
    Dataset of dict group -> `[global_batch_size, n]` float32, with the
    attribute ``num_examples`` (the table's N).
  """
  table = coefficient_table(**table_kwargs)
  count = len(next(iter(table.values())))
  if count < global_batch_size:
    raise ValueError(f"discofacegan_vae_dataset: the table holds {count} "
                     f"faces, fewer than the global batch {global_batch_size}.")
  dataset = tf.data.Dataset.from_tensor_slices(table)
  dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
  dataset = dataset.repeat().batch(global_batch_size, drop_remainder=True)
  dataset.num_examples = count
  return dataset


# -------------------------------------------------------------- the trainer


@gin.configurable
class DiscoFaceGANVAEMethod(training.TrainingMethod):
  """The λ-space VAEs of every factor, trained together (see module doc).

  Args:
    layout: ``"procedural"`` or ``"bfm"``
      (:data:`tfface.methods.discofacegan.vae.LAYOUTS`).
    factors: the factors to train (default all four).
    learning_rate: Adam's initial rate (reference 1e-4).
    halving_epochs: the rate halves every this many epochs (reference 150;
      0 keeps it constant).
    examples_per_epoch: faces per epoch (the table's N; default FFHQ's 70k,
      the reference's), which turns epochs into steps.
    beta_1, beta_2, epsilon: Adam (TF1's defaults 0.9, 0.999, 1e-8, as the
      reference's ``tf.train.AdamOptimizer``).
    optimizer: optional ``(name=) -> optimizer`` factory (replaces the Adam
      and its schedule).
    standardize_with: a coefficient table (dict group -> `[N, n]`; in gin
      ``@coefficient_table()``, the training table itself): each VAE then
      models its λ standardized per dimension by the table's mean and std
      (:meth:`~tfface.methods.discofacegan.vae.FactorVAE.set_standardization`
      says why); None models raw λ as the reference.
    initial_gamma_x: γ_x at the start (the reference's 1: loggamma_x = 0).
      On standardized λ every dimension has variance 1 = γ_x², the
      collapsed "decode the mean" VAE is a stationary point there, and
      factors whose dimensions are nearly uncorrelated (pose, identity) do
      not leave it in a CPU budget; a smaller start makes the decoder use z
      from the first step, and γ_x then rises to the residual's scale.
  """

  def __init__(self, layout: str = "procedural",
               factors: Optional[Sequence[str]] = None,
               learning_rate: float = 1e-4, halving_epochs: float = 150,
               examples_per_epoch: int = REFERENCE_EXAMPLES_PER_EPOCH,
               beta_1: float = 0.9, beta_2: float = 0.999,
               epsilon: float = 1e-8, optimizer=None,
               standardize_with: Optional[Dict[str, np.ndarray]] = None,
               initial_gamma_x: float = 1.0):
    vae_lib.layout_specs(layout, factors)  # ValueError on bad names
    if not learning_rate > 0:
      raise ValueError("DiscoFaceGANVAEMethod.learning_rate must be > 0, got "
                       f"{learning_rate}.")
    if halving_epochs < 0:
      raise ValueError("DiscoFaceGANVAEMethod.halving_epochs must be >= 0, "
                       f"got {halving_epochs}.")
    if isinstance(examples_per_epoch, bool) or not isinstance(
        examples_per_epoch, int) or examples_per_epoch < 1:
      raise ValueError("DiscoFaceGANVAEMethod.examples_per_epoch must be a "
                       f"positive int, got {examples_per_epoch!r}.")
    self.layout = layout
    self.factors = None if factors is None else tuple(factors)
    self.learning_rate = float(learning_rate)
    self.halving_epochs = float(halving_epochs)
    self.examples_per_epoch = int(examples_per_epoch)
    self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
    self.optimizer_factory = optimizer
    self.standardize_with = standardize_with
    if not initial_gamma_x > 0:
      raise ValueError("DiscoFaceGANVAEMethod.initial_gamma_x must be > 0, "
                       f"got {initial_gamma_x}.")
    self.initial_gamma_x = float(initial_gamma_x)
    self.seed = 0

  @property
  def halving_steps(self) -> int:
    """Steps between halvings: epochs × ceil(examples / global batch)."""
    per_epoch = math.ceil(self.examples_per_epoch / self.global_batch_size)
    return int(round(self.halving_epochs * per_epoch))

  def build(self) -> None:
    self.vaes = vae_lib.FactorVAEs.for_layout(self.layout, self.factors)
    if self.standardize_with is not None:
      standardize(self.vaes, self.standardize_with)
    for factor in self.vaes.factors:
      self.vaes[factor].decoder.loggamma_x.assign(
          math.log(self.initial_gamma_x))
    variables = self.vaes.trainable_variables
    if self.optimizer_factory is not None:
      self.optimizer = self.optimizer_factory(name="vae_optimizer")
    else:
      rate = self.learning_rate
      if self.halving_epochs > 0:
        rate = tf.keras.optimizers.schedules.ExponentialDecay(
            self.learning_rate, max(1, self.halving_steps), 0.5,
            staircase=True)
      self.optimizer = tf.keras.optimizers.Adam(
          rate, beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
          name="vae_optimizer")
    self.optimizer.build(variables)

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    return {"vaes": self.vaes, "optimizer": self.optimizer}

  def losses(self, batch, sample: bool = True,
             seed: Optional[tf.Tensor] = None) -> Dict[str, tf.Tensor]:
    """Per-factor and total losses on a batch of face-model groups.

    Args:
      batch: dict group -> `[B, n]`.
      sample: draw z (training) or use μ (evaluation).
      seed: `[2]` stateless seed of the draws (None: stateful).

    Returns:
      dict ``loss`` (Σ factors' totals) and ``<factor>_{loss, kl,
      reconstruction, rmse, gamma_x}``.
    """
    parts = self.vaes.groups_to_lambda(batch)
    out = {}
    total = 0.0
    for i, factor in enumerate(self.vaes.factors):
      x = parts[factor]
      noise = None
      if sample and seed is not None:
        noise = tf.random.stateless_normal(
            tf.stack([tf.shape(x)[0], self.vaes.latent_sizes[factor]]),
            tf.random.experimental.stateless_fold_in(seed, i))
      outputs = self.vaes[factor](x, sample=sample, noise=noise)
      terms = vae_lib.factor_vae_loss(outputs["x"], outputs)
      total += terms["total"]
      out[f"{factor}_loss"] = terms["total"]
      out[f"{factor}_kl"] = terms["kl"]
      out[f"{factor}_reconstruction"] = terms["reconstruction"]
      out[f"{factor}_rmse"] = tf.sqrt(tf.reduce_mean(
          tf.square(outputs["reconstruction"] - x)))  # λ units
      out[f"{factor}_gamma_x"] = terms["gamma_x"]
    out["loss"] = total
    return out

  def train_step(self, batch) -> Dict[str, tf.Tensor]:
    seed = training.step_seed(self.seed, self.global_step)
    variables = self.vaes.trainable_variables
    with tf.GradientTape() as tape:
      out = self.losses(batch, sample=True, seed=seed)
    training.minimize(tape, self.optimizer, out["loss"], variables)
    return out


def standardize(vaes: vae_lib.FactorVAEs,
                table: Dict[str, np.ndarray]) -> None:
  """Sets every VAE's standardization to the table's per-dimension mean and
  std (a std below 1e-6 counts as 1e-6)."""
  parts = vaes.groups_to_lambda(
      {k: np.asarray(v, np.float32) for k, v in table.items()})
  for factor in vaes.factors:
    values = parts[factor].numpy()
    vaes[factor].set_standardization(values.mean(0),
                                     np.maximum(values.std(0), 1e-6))


# ------------------------------------------------------------ run results


def _checkpoint_arrays(path: str, item: str) -> Dict[str, np.ndarray]:
  """``attribute path -> array`` of a checkpoint item, by its object graph.

  The optimizer tracks the variables first, so their checkpoint keys are
  ``optimizer/_trainable_variables/<i>``; the object graph still records the
  path from the item (``vaes/vae_pose/decoder/fc0/_kernel``) to each one.
  """
  from tensorflow.core.protobuf import trackable_object_graph_pb2  # pylint: disable=g-import-not-at-top
  reader = tf.train.load_checkpoint(path)
  graph = trackable_object_graph_pb2.TrackableObjectGraph()
  graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
  arrays = {}
  seen = set()

  def walk(node_id, prefix):
    if node_id in seen:
      return
    seen.add(node_id)
    node = graph.nodes[node_id]
    for attribute in node.attributes:
      if attribute.name == "VARIABLE_VALUE" and prefix:
        arrays[prefix] = reader.get_tensor(attribute.checkpoint_key)
    for child in node.children:
      name = child.local_name.lstrip("_")
      walk(child.node_id, f"{prefix}/{name}" if prefix else name)

  for child in graph.nodes[0].children:
    if child.local_name == item:
      walk(child.node_id, "")
  return arrays


def vaes_from_checkpoint(path: str) -> vae_lib.FactorVAEs:
  """The trained VAEs of a :class:`DiscoFaceGANVAEMethod` checkpoint.

  The specs are read from the checkpoint's variable shapes (no gin): each
  factor's input size picks the layout (procedural or bfm) whose factor has
  that λ size.

  Args:
    path: a checkpoint prefix or a run directory (its newest checkpoint).

  Raises:
    ValueError: no checkpoint, or one without DiscoFaceGAN VAEs.
  """
  if os.path.isdir(path):
    latest = checkpoints_lib.latest_checkpoint(path)
    if latest is None:
      raise ValueError(f"{path} holds no checkpoint of a DiscoFaceGAN VAE "
                       "run (checkpoints/).")
    path = latest
  arrays = _checkpoint_arrays(path, "vaes")
  specs = {}
  for factor in vae_lib.FACTORS:
    head = f"vae_{factor}/decoder"
    if f"{head}/x_hat/kernel" not in arrays:
      continue
    depth = 0
    while f"{head}/fc{depth}/kernel" in arrays:
      depth += 1
    latent_size, width = arrays[f"{head}/fc0/kernel"].shape
    size = arrays[f"{head}/x_hat/kernel"].shape[1]
    groups = [spec["groups"] for spec in
              (vae_lib.LAYOUTS[l][factor] for l in sorted(vae_lib.LAYOUTS))
              if sum(s for _, s in spec["groups"]) == size]
    if not groups:
      raise ValueError(f"{path}: factor {factor!r} decodes {size} values, "
                       "which fits no DiscoFaceGAN VAE layout.")
    specs[factor] = {"groups": groups[0], "latent_size": int(latent_size),
                     "width": int(width), "depth": depth}
    # Checkpoints from before standardization existed: the identity.
    arrays.setdefault(f"vae_{factor}/x_shift", np.zeros([size], np.float32))
    arrays.setdefault(f"vae_{factor}/x_scale", np.ones([size], np.float32))
  if not specs:
    raise ValueError(f"{path} holds no DiscoFaceGAN VAEs (no vaes/vae_<factor>"
                     " variables).")
  vaes = vae_lib.FactorVAEs(specs)
  vaes.build()
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  analysis_weights.assign_arrays(vaes, arrays, f"{path} (DiscoFaceGAN VAEs)")
  vaes.trainable = False
  vaes.weights_metadata = {"checkpoint": os.path.abspath(path),
                           "step": checkpoints_lib.saved_step(path)}
  return vaes


def export_run_vaes(run_dir: str, path: Optional[str] = None) -> str:
  """Writes a VAE run's newest checkpoint as a tfface ``.npz``.

  Args:
    run_dir: the run directory.
    path: the file (default ``<run_dir>/vaes.npz``).

  Returns:
    The written path.
  """
  vaes = vaes_from_checkpoint(run_dir)
  path = path or os.path.join(run_dir, vae_lib.VAES_FILE)
  vae_lib.save_factor_vaes(path, vaes, vaes.weights_metadata)
  return path
