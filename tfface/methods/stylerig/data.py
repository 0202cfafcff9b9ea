"""StyleRig's training data, drawn once from the frozen generator (A.5).

Each example is one W+ code and what the losses need of its image:

=================  ===========  ==============================================
feature            stored as    meaning
=================  ===========  ==============================================
``w_plus``         float list   `[L, D]` W+ code (L = num_ws, D = style_dim)
``image``          PNG uint8    `[S, S, 3]` I_w = G(w) at ``image_size`` S
``mask``           PNG uint8    `[S, S, 1]` face mask from the frozen parser
                                (its ``mask_classes``), 255 = face
``landmarks``      float list   `[68, 2]` (x, y) pixels of I_w at S, from the
                                frozen landmark detector
``coefficients``   float list   `[K]` the frozen reconstruction net's estimate
                                of I_w (its layout; K = 0 without one): an
                                optional warm start for F, and the meter
``index``          int64        the example's number
=================  ===========  ==============================================

Codes: ``z ~ N(0, I)``, ``w = mapping(z)`` tiled to all L entries and
truncated toward the mean, ``w̄ + ψ (w − w̄)`` (ψ = ``truncation_psi``;
[—] in the paper, the jacobwjs port uses 0.7). ``w̄`` is the generator's
tracked ``w_avg``; a generator that never tracked one (all zeros, e.g. a
random test net) uses the mean of 1024 mapped samples instead. Images use the
generator's stored noise buffers (``noise_mode="const"``, deterministic, as
the exports do).

Files: ``<dir>/stylerig-SSSSS.tfrecord`` shards of ``examples_per_shard``
examples and ``<dir>/stylerig_data.json`` (the spec: shapes, layout, the
settings). Shard s is a pure function of (networks, settings, s): its codes
come from the stateless seed ``(seed, s)``. Every shard is written to a
temporary name and renamed, so a rerun (after an interruption, or asking for
more examples) keeps the finished shards and writes only the missing ones; a
rerun with other settings is refused.
"""

import glob
import json
import os
from typing import Dict, Optional, Sequence

from absl import logging
import gin
import numpy as np
import tensorflow as tf

from tfface.data import schema
from tfface.networks import stylegan2_weights

SPEC_FILE = "stylerig_data.json"
SHARD_PATTERN = "stylerig-{:05d}.tfrecord"
# Parser classes that make the face mask: the face's own skin and features.
# Hair, beard and background are left out: the face model renders neither
# the generated hair nor the background, so their pixels cannot be matched.
DEFAULT_MASK_CLASSES = ("skin", "brows", "eyes", "lips", "mouth")
# Settings that must match between runs writing into one directory.
_FIXED = ("num_ws", "style_dim", "image_size", "num_coefficients",
          "coefficient_layout", "truncation_psi", "seed",
          "examples_per_shard", "mask_classes", "noise_mode")


def mean_w(generator) -> tf.Tensor:
  """w̄ `[D]`: the tracked ``w_avg``, or the mean of 1024 mapped samples
  when it was never tracked (all zeros)."""
  w_avg = tf.convert_to_tensor(generator.w_avg)
  if float(tf.reduce_max(tf.abs(w_avg))) > 0:
    return w_avg
  z = tf.random.stateless_normal([1024, generator.z_dim], [7, 7])
  return tf.reduce_mean(generator.mapping(z), axis=0)


def sample_w_plus(generator, batch_size: int, truncation_psi: float,
                  seed, w_avg: Optional[tf.Tensor] = None) -> tf.Tensor:
  """W+ codes `[B, L, D]`: mapped N(0, 1) z, tiled, truncated toward w̄.

  Args:
    generator: a built StyleGAN2 :class:`~tfface.networks.stylegan2.Generator`.
    batch_size: B.
    truncation_psi: ψ in [0, 1] (1 = none).
    seed: `[2]` int stateless seed.
    w_avg: w̄ `[D]` (default :func:`mean_w`).
  """
  z = tf.random.stateless_normal([batch_size, generator.z_dim],
                                 tf.cast(seed, tf.int32))
  w = generator.mapping(z)
  if w_avg is None:
    w_avg = mean_w(generator)
  w = w_avg + float(truncation_psi) * (w - w_avg)
  return tf.tile(w[:, None, :], [1, generator.num_ws, 1])


def latent_statistics(generator, truncation_psi: float = 1.0,
                      num_samples: int = 1024, seed: int = 0):
  """``(mean [L, D], scale)`` of W+ codes as :func:`sample_w_plus` draws
  them: the per-entry mean and one overall standard deviation (what F and
  RigNet standardise their input with)."""
  w = sample_w_plus(generator, num_samples, truncation_psi, [seed, 12345])
  mean = tf.reduce_mean(w, axis=0)
  scale = tf.math.reduce_std(w - mean)
  return mean.numpy(), max(float(scale), 1e-6)


def face_mask(probabilities: tf.Tensor,
              classes: Sequence[str] = DEFAULT_MASK_CLASSES) -> tf.Tensor:
  """`[B, H, W, 1]` float32 in {0, 1}: P(face classes) > 0.5.

  Args:
    probabilities: `[B, H, W, 8]` parser softmax over
      :data:`tfface.data.schema.PARSE_CLASSES`.
    classes: the class names that count as face.
  """
  unknown = [c for c in classes if c not in schema.PARSE_CLASSES]
  if unknown or not classes:
    raise ValueError(f"mask_classes must be a non-empty subset of "
                     f"{schema.PARSE_CLASSES}, got {list(classes)}")
  ids = [schema.PARSE_CLASSES.index(c) for c in classes]
  face = tf.reduce_sum(tf.gather(probabilities, ids, axis=-1), -1,
                       keepdims=True)
  return tf.cast(face > 0.5, tf.float32)


def _to_uint8(images: np.ndarray) -> np.ndarray:
  return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _float_feature(values) -> tf.train.Feature:
  return tf.train.Feature(float_list=tf.train.FloatList(
      value=np.asarray(values, np.float32).reshape(-1)))


def _bytes_feature(value: bytes) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int_feature(value: int) -> tf.train.Feature:
  return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


class ExampleMaker:
  """Generates examples with frozen networks (see the module docstring).

  Args:
    generator: built StyleGAN2 generator.
    landmark_net: images `[B, S, S, 3]` -> `[B, 68, 2]` pixels.
    parser_net: images -> logits `[B, S, S, 8]`.
    reconstruction_net: optional; images -> dict with ``coefficients``.
    image_size: S, the stored (= render) resolution; default the
      generator's.
    truncation_psi, mask_classes, noise_mode: see the module docstring.
  """

  def __init__(self, generator, landmark_net, parser_net,
               reconstruction_net=None, image_size: Optional[int] = None,
               truncation_psi: float = 0.7,
               mask_classes: Sequence[str] = DEFAULT_MASK_CLASSES,
               noise_mode: str = "const"):
    if not 0.0 <= float(truncation_psi) <= 1.0:
      raise ValueError(f"truncation_psi must be in [0, 1], got "
                       f"{truncation_psi!r}")
    face_mask(tf.zeros([1, 1, 1, len(schema.PARSE_CLASSES)]), mask_classes)
    self.generator = generator
    self.landmark_net = landmark_net
    self.parser_net = parser_net
    self.reconstruction_net = reconstruction_net
    self.image_size = int(image_size or generator.resolution)
    self.truncation_psi = float(truncation_psi)
    self.mask_classes = tuple(mask_classes)
    self.noise_mode = noise_mode
    self.w_avg = mean_w(generator)
    self.num_coefficients = 0
    self.coefficient_layout = ""
    if reconstruction_net is not None:
      self.coefficient_layout = str(getattr(reconstruction_net, "layout", ""))
      out = reconstruction_net(tf.zeros([1, self.image_size,
                                         self.image_size, 3]))
      self.num_coefficients = int(out["coefficients"].shape[-1])

  def spec(self, seed: int, examples_per_shard: int) -> Dict[str, object]:
    g = self.generator
    return {"num_ws": int(g.num_ws), "style_dim": int(g.style_dim),
            "image_size": self.image_size,
            "generator_resolution": int(g.resolution),
            "num_coefficients": self.num_coefficients,
            "coefficient_layout": self.coefficient_layout,
            "truncation_psi": self.truncation_psi, "seed": int(seed),
            "examples_per_shard": int(examples_per_shard),
            "mask_classes": list(self.mask_classes),
            "noise_mode": self.noise_mode}

  def batch(self, w_plus: tf.Tensor) -> Dict[str, np.ndarray]:
    """Everything stored for a batch of codes, as numpy arrays."""
    images = self.generator.synthesis(w_plus, noise_mode=self.noise_mode)
    images = tf.clip_by_value(images, -1.0, 1.0)
    if images.shape[1] != self.image_size:
      images = tf.image.resize(images, [self.image_size, self.image_size],
                               antialias=True)
    # The analysis nets see what the trainer sees: the stored 8-bit image.
    stored = _to_uint8(images.numpy())
    images = tf.constant(stored.astype(np.float32) / 127.5 - 1.0)
    out = {"w_plus": w_plus.numpy(), "image": stored,
           "landmarks": self.landmark_net(images).numpy(),
           "mask": face_mask(tf.nn.softmax(self.parser_net(images), -1),
                             self.mask_classes).numpy()}
    if self.reconstruction_net is not None:
      out["coefficients"] = self.reconstruction_net(images)[
          "coefficients"].numpy()
    else:
      out["coefficients"] = np.zeros([len(stored), 0], np.float32)
    return out

  def shard_records(self, shard: int, examples_per_shard: int, seed: int,
                    batch_size: int = 32):
    """The serialized examples of shard ``shard`` (a pure function of it)."""
    records = []
    for start in range(0, examples_per_shard, batch_size):
      count = min(batch_size, examples_per_shard - start)
      batch_seed = tf.random.experimental.stateless_fold_in(
          tf.constant([int(seed), int(shard)], tf.int32), start)
      w = sample_w_plus(self.generator, count, self.truncation_psi,
                        batch_seed, self.w_avg)
      arrays = self.batch(w)
      for i in range(count):
        feature = {
            "w_plus": _float_feature(arrays["w_plus"][i]),
            "image": _bytes_feature(tf.io.encode_png(
                arrays["image"][i]).numpy()),
            "mask": _bytes_feature(tf.io.encode_png(
                (arrays["mask"][i] * 255).astype(np.uint8)).numpy()),
            "landmarks": _float_feature(arrays["landmarks"][i]),
            "coefficients": _float_feature(arrays["coefficients"][i]),
            "index": _int_feature(shard * examples_per_shard + start + i)}
        records.append(tf.train.Example(features=tf.train.Features(
            feature=feature)).SerializeToString())
    return records


def _write_atomic(path: str, text: str) -> None:
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


def read_spec(directory: str) -> Dict[str, object]:
  path = os.path.join(directory, SPEC_FILE)
  if not os.path.isfile(path):
    raise ValueError(f"{directory!r} has no {SPEC_FILE}; expected a directory "
                     "written by tools/make_stylerig_data.py")
  with open(path) as f:
    return json.load(f)


def write_shards(output_dir: str, maker: ExampleMaker, num_examples: int,
                 examples_per_shard: int = 256, seed: int = 0,
                 batch_size: int = 32,
                 extra_spec: Optional[Dict[str, object]] = None
                 ) -> Dict[str, object]:
  """Writes the missing shards of ``ceil(num_examples / per_shard)``.

  Returns:
    ``{"written": [shard ids], "kept": [shard ids], "spec": spec}``.

  Raises:
    ValueError: bad counts, or ``output_dir`` holds data of other settings.
  """
  if int(num_examples) < 1 or int(examples_per_shard) < 1:
    raise ValueError(f"num_examples and examples_per_shard must be >= 1, got "
                     f"{num_examples} and {examples_per_shard}")
  os.makedirs(output_dir, exist_ok=True)
  spec = maker.spec(seed, examples_per_shard)
  spec.update(extra_spec or {})
  spec_path = os.path.join(output_dir, SPEC_FILE)
  if os.path.isfile(spec_path):
    old = read_spec(output_dir)
    changed = [k for k in _FIXED if old.get(k) != spec.get(k)]
    if changed:
      raise ValueError(
          f"{output_dir!r} holds StyleRig data written with other settings "
          f"({', '.join(f'{k}: {old.get(k)!r} -> {spec.get(k)!r}' for k in changed)});"
          " use a new directory")
  num_shards = -(-int(num_examples) // int(examples_per_shard))
  spec["num_examples"] = num_shards * int(examples_per_shard)
  _write_atomic(spec_path, json.dumps(spec, indent=2, sort_keys=True) + "\n")
  written, kept = [], []
  for shard in range(num_shards):
    path = os.path.join(output_dir, SHARD_PATTERN.format(shard))
    if os.path.isfile(path):
      kept.append(shard)
      continue
    records = maker.shard_records(shard, int(examples_per_shard), seed,
                                  batch_size)
    tmp = f"{path}.tmp-{os.getpid()}"
    with tf.io.TFRecordWriter(tmp) as writer:
      for record in records:
        writer.write(record)
    os.replace(tmp, path)
    written.append(shard)
    logging.info("wrote %s (%d/%d)", path, shard + 1, num_shards)
  return {"written": written, "kept": kept, "spec": spec}


def make_stylerig_data(output_dir: str, generator_path: str,
                       landmarks_path: str, parser_path: str,
                       reconstruction_path: Optional[str] = None,
                       num_examples: int = 16384,
                       examples_per_shard: int = 256,
                       image_size: Optional[int] = None,
                       truncation_psi: float = 0.7, seed: int = 0,
                       batch_size: int = 32,
                       mask_classes: Sequence[str] = DEFAULT_MASK_CLASSES
                       ) -> Dict[str, object]:
  """:func:`write_shards` with the networks loaded from their files.

  Args:
    output_dir: where the shards and the spec go.
    generator_path: a StyleGAN2 weights ``.npz`` or run directory.
    landmarks_path, parser_path: analysis weights (``landmarks``, ``parser``).
    reconstruction_path: optional ``reconstruction`` weights (stores its
      coefficient estimate per example).
    num_examples, examples_per_shard, image_size, truncation_psi, seed,
      batch_size, mask_classes: see :class:`ExampleMaker`, :func:`write_shards`.
  """
  from tfface.analysis import weights  # pylint: disable=g-import-not-at-top
  generator = stylegan2_weights.load_stylegan2_generator(generator_path)
  nets = {"landmarks": weights.load_network(landmarks_path),
          "parser": weights.load_network(parser_path)}
  for kind, path in (("landmarks", landmarks_path), ("parser", parser_path)):
    if getattr(nets[kind], "network_kind", kind) != kind:
      raise ValueError(f"{path} holds a {nets[kind].network_kind!r} network; "
                       f"expected {kind!r}")
  reconstruction = (weights.load_network(reconstruction_path)
                    if reconstruction_path else None)
  maker = ExampleMaker(generator, nets["landmarks"], nets["parser"],
                       reconstruction, image_size, truncation_psi,
                       mask_classes)
  return write_shards(output_dir, maker, num_examples, examples_per_shard,
                      seed, batch_size,
                      extra_spec={"generator": os.path.abspath(generator_path)})


def _parse_fn(spec):
  shape_w = [spec["num_ws"], spec["style_dim"]]
  size, k = spec["image_size"], spec["num_coefficients"]
  features = {
      "w_plus": tf.io.FixedLenFeature([shape_w[0] * shape_w[1]], tf.float32),
      "image": tf.io.FixedLenFeature([], tf.string),
      "mask": tf.io.FixedLenFeature([], tf.string),
      "landmarks": tf.io.FixedLenFeature([136], tf.float32),
      "coefficients": tf.io.FixedLenFeature([k], tf.float32),
      "index": tf.io.FixedLenFeature([], tf.int64)}

  def parse(record):
    x = tf.io.parse_single_example(record, features)
    image = tf.image.decode_png(x["image"], channels=3)
    mask = tf.image.decode_png(x["mask"], channels=1)
    return {"w_plus": tf.reshape(x["w_plus"], shape_w),
            "image": tf.ensure_shape(
                tf.cast(image, tf.float32) / 127.5 - 1.0, [size, size, 3]),
            "mask": tf.ensure_shape(tf.cast(mask, tf.float32) / 255.0,
                                    [size, size, 1]),
            "landmarks": tf.reshape(x["landmarks"], [68, 2]),
            "coefficients": x["coefficients"], "index": x["index"]}
  return parse


@gin.configurable
def stylerig_dataset(global_batch_size: int, data_dir: str = gin.REQUIRED,
                     shuffle: bool = True, repeat: bool = True,
                     shuffle_buffer: int = 2048, seed: int = 0,
                     max_examples: Optional[int] = None) -> tf.data.Dataset:
  """Batches of StyleRig examples (the module docstring's features).

  Args:
    global_batch_size: examples per batch (``drop_remainder=True``).
    data_dir: a directory written by :func:`write_shards`.
    shuffle, repeat, shuffle_buffer, seed: the usual.
    max_examples: use only the first this many examples (held-out splits
      take ``.skip``; see :func:`heldout_examples`).

  Returns:
    dataset of dicts: ``w_plus`` `[B, L, D]`, ``image`` `[B, S, S, 3]` in
    [-1, 1], ``mask`` `[B, S, S, 1]` in {0, 1}, ``landmarks`` `[B, 68, 2]`
    pixels, ``coefficients`` `[B, K]`, ``index`` `[B]` int64.
  """
  spec = read_spec(data_dir)
  files = sorted(glob.glob(os.path.join(data_dir, "stylerig-*.tfrecord")))
  if not files:
    raise ValueError(f"{data_dir!r} has no stylerig-*.tfrecord shards")
  data = tf.data.TFRecordDataset(files).map(
      _parse_fn(spec), num_parallel_calls=tf.data.AUTOTUNE)
  if max_examples is not None:
    data = data.take(int(max_examples))
  if repeat:
    data = data.repeat()
  if shuffle:
    data = data.shuffle(int(shuffle_buffer), seed=seed)
  return data.batch(int(global_batch_size), drop_remainder=True).prefetch(2)


def load_examples(data_dir: str, skip: int = 0, count: int = 64
                  ) -> Dict[str, np.ndarray]:
  """``count`` examples after the first ``skip`` as one numpy batch (the
  evaluator's held-out codes: train with ``max_examples`` = skip)."""
  spec = read_spec(data_dir)
  files = sorted(glob.glob(os.path.join(data_dir, "stylerig-*.tfrecord")))
  data = tf.data.TFRecordDataset(files).map(_parse_fn(spec)).skip(
      int(skip)).take(int(count)).batch(int(count))
  batch = next(iter(data), None)
  if batch is None:
    raise ValueError(f"{data_dir!r} has no examples after the first {skip}")
  return {k: v.numpy() for k, v in batch.items()}
