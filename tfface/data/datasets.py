"""tf.data pipelines: synthetic, pseudo-real, image-folder and TFRecord faces.

Every reader returns a `tf.data.Dataset` of dict elements with
``"image"``: `[H, W, 3]` float32 in [-1, 1] (`[B, H, W, 3]` when
``batch_size`` is given; batches drop the remainder so shapes are static).
Images of another size are centre-cropped to the target aspect ratio and
resized (bilinear with antialiasing). :func:`synthetic_dataset` adds the
rendering factors θ and the labels the renderer produced.

Files of user images can hold anything: :func:`image_folder_dataset` and
:func:`real_tfrecord_dataset` skip images that fail to read or decode, log
one warning per bad image and count them in a :class:`ReadStats` (pass your
own as ``stats=``, or read ``dataset.read_stats`` of the returned dataset;
counts fill in as the pipeline runs).
"""

import os
import threading
from typing import Dict, List, Optional, Sequence, Tuple, Union

from absl import logging
import gin
import numpy as np
import tensorflow as tf

from tfface.data import schema
from tfface.rendering import image_size as image_size_lib

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_AUTOTUNE = tf.data.AUTOTUNE

ImageSize = Union[int, Sequence[int]]


class ReadStats:
  """Counts of images a pipeline decoded and skipped (thread-safe).

  Attributes:
    num_decoded: images decoded successfully (counted again each epoch).
    num_skip_events: failed decodes (counted again each epoch).
    skipped: dict source -> reason for every distinct image that could not
      be read or decoded (a file path, or ``"<file>#<record index>"``).
  """

  def __init__(self):
    self._lock = threading.Lock()
    self.num_decoded = 0
    self.num_skip_events = 0
    self.skipped: Dict[str, str] = {}

  @property
  def num_skipped(self) -> int:
    """Distinct images skipped so far."""
    with self._lock:
      return len(self.skipped)

  def record_decoded(self) -> None:
    with self._lock:
      self.num_decoded += 1

  def record_skipped(self, source: str, reason: str) -> None:
    with self._lock:
      new = source not in self.skipped
      self.skipped[source] = reason
      self.num_skip_events += 1
    if new:
      logging.warning("skipping undecodable image %s: %s", source, reason)

  def __repr__(self) -> str:
    return (f"ReadStats(num_decoded={self.num_decoded}, "
            f"num_skipped={self.num_skipped})")


def _check_batch_size(batch_size: Optional[int]) -> None:
  if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                 or batch_size < 1):
    raise ValueError(
        f"batch_size must be a positive int or None, got {batch_size!r}.")


def _glob(file_pattern: Union[str, Sequence[str]]) -> List[str]:
  patterns = [file_pattern] if isinstance(file_pattern, str) else list(
      file_pattern)
  files = sorted({f for p in patterns for f in tf.io.gfile.glob(p)})
  if not files:
    raise ValueError(f"no files match {file_pattern!r}.")
  return files


def crop_and_resize_params(in_height: tf.Tensor, in_width: tf.Tensor,
                           height: int, width: int):
  """Central crop to the target aspect ratio: (top, left, crop_h, crop_w).

  All outputs are int32 scalars.
  """
  in_h = tf.cast(in_height, tf.float64)
  in_w = tf.cast(in_width, tf.float64)
  target = height / width
  crop_h = tf.minimum(in_h, tf.round(in_w * target))
  crop_w = tf.minimum(in_w, tf.round(in_h / target))
  top = tf.math.floordiv(in_h - crop_h, 2.0)
  left = tf.math.floordiv(in_w - crop_w, 2.0)
  return tuple(tf.cast(v, tf.int32) for v in (top, left, crop_h, crop_w))


def fit_image(image: tf.Tensor, image_size: Tuple[int, int],
              method: str = "bilinear") -> tf.Tensor:
  """Centre-crops `[h, w, C]` to the aspect of ``image_size`` and resizes.

  Images already of ``image_size`` pass through unchanged.

  Args:
    image: `[h, w, C]` float32.
    image_size: `(H, W)` Python ints.
    method: `tf.image.resize` method.

  Returns:
    `[H, W, C]` float32.
  """
  height, width = image_size
  shape = tf.shape(image)

  def resize():
    top, left, crop_h, crop_w = crop_and_resize_params(shape[0], shape[1],
                                                       height, width)
    cropped = image[top:top + crop_h, left:left + crop_w]
    return tf.image.resize(cropped, [height, width], method=method,
                           antialias=True)

  same = tf.logical_and(tf.equal(shape[0], height), tf.equal(shape[1], width))
  out = tf.cond(same, lambda: tf.identity(image), resize)
  out.set_shape([height, width, image.shape[-1]])
  return out


def uint8_to_float(image: tf.Tensor) -> tf.Tensor:
  """uint8 [0, 255] -> float32 [-1, 1]."""
  return tf.cast(image, tf.float32) / 127.5 - 1.0


def _finish(dataset: tf.data.Dataset, parse, batch_size: Optional[int],
            shuffle: bool, repeat: bool, seed: int,
            shuffle_buffer: int) -> tf.data.Dataset:
  """Shuffle -> repeat -> parse -> batch (drop remainder) -> prefetch."""
  if shuffle:
    dataset = dataset.shuffle(shuffle_buffer, seed=seed,
                              reshuffle_each_iteration=True)
  if repeat:
    dataset = dataset.repeat()
  dataset = dataset.map(parse, num_parallel_calls=_AUTOTUNE,
                        deterministic=True)
  if "_ok" in dataset.element_spec:
    dataset = dataset.filter(lambda element: element["_ok"])
    dataset = dataset.map(
        lambda element: {k: v for k, v in element.items() if k != "_ok"})
  if batch_size is not None:
    dataset = dataset.batch(batch_size, drop_remainder=True)
  return dataset.prefetch(_AUTOTUNE)


def _records(files: List[str], shuffle: bool, seed: int,
             with_source: bool = False) -> tf.data.Dataset:
  """Records of ``files``: in file order, or interleaved from shuffled files."""
  dataset = tf.data.Dataset.from_tensor_slices(files)
  if shuffle:
    dataset = dataset.shuffle(len(files), seed=seed,
                              reshuffle_each_iteration=True)

  def read(path):
    records = tf.data.TFRecordDataset(path)
    if not with_source:
      return records
    # User files: a damaged file ends early (logged) instead of failing.
    return records.ignore_errors(log_warning=True).enumerate().map(
        lambda i, record: (tf.strings.join(
            [path, "#", tf.strings.as_string(i)]), record))

  # Without shuffling, files are read one after the other, in sorted order.
  cycle = min(len(files), 8) if shuffle else 1
  return dataset.interleave(read, cycle_length=cycle,
                            num_parallel_calls=_AUTOTUNE, deterministic=True)


def _layout(files: List[str]) -> schema.RecordLayout:
  for record in tf.data.TFRecordDataset(files[0]).take(1):
    return schema.parse_layout(record.numpy(), source=f"the first record of "
                               f"{files[0]}")
  raise ValueError(f"{files[0]} holds no records.")


@gin.configurable
def synthetic_dataset(file_pattern: Union[str, Sequence[str]],
                      image_size: ImageSize,
                      batch_size: Optional[int] = None,
                      shuffle: bool = True,
                      repeat: bool = True,
                      seed: int = 0,
                      shuffle_buffer: int = 1000) -> tf.data.Dataset:
  """Labeled synthetic faces written by :mod:`tfface.data.synthetic`.

  Args:
    file_pattern: glob(s) of the TFRecord shards, e.g.
      ``"data/synth/synthetic-*-of-*.tfrecord"``.
    image_size: `H` or `(H, W)`; other stored sizes are resized, landmarks
      scaled to match.
    batch_size: batch with ``drop_remainder=True``, or None for single faces.
    shuffle: shuffle shard order and records (buffer ``shuffle_buffer``).
    repeat: repeat forever.
    seed: shuffle seed.
    shuffle_buffer: records in the shuffle buffer.

  Returns:
    Dataset of dicts (leading `[B]` when batched):
      ``image``: `[H, W, 3]` float32 in [-1, 1];
      ``factors``: dict name -> `[n]` float32, every factor θ_i in the
        order of :func:`tfface.data.synthetic.synthetic_factor_sizes`;
      ``iris_mask``: `[H, W, 1]` float32 in [0, 1];
      ``landmarks``: `[68, 2]` float32 (x, y) pixels at ``image_size``.

  Raises:
    ValueError: no files match, a bad size, or the shards hold no factors
      (pseudo-real shards: use :func:`pseudo_real_dataset`).
  """
  height, width = image_size_lib.parse_image_size(image_size)
  _check_batch_size(batch_size)
  files = _glob(file_pattern)
  layout = _layout(files)
  if layout.domain != schema.SYNTHETIC or not layout.factor_sizes:
    raise ValueError(
        f"{files[0]} holds {layout.domain} records without factors; read it "
        "with pseudo_real_dataset().")
  spec = schema.feature_spec(layout.factor_sizes)

  def parse(serialized):
    features = tf.io.parse_single_example(serialized, spec)
    image = tf.io.decode_png(features[schema.IMAGE], channels=3)
    in_h, in_w = tf.shape(image)[0], tf.shape(image)[1]
    image = fit_image(uint8_to_float(image), (height, width))
    iris = tf.io.decode_png(features[schema.IRIS_MASK], channels=1)
    iris = fit_image(tf.cast(iris, tf.float32) / 255.0, (height, width))
    # Landmarks in continuous pixel coordinates (pixel i covers [i, i + 1)):
    # shift by the crop, scale by the resize.
    top, left, crop_h, crop_w = crop_and_resize_params(in_h, in_w, height,
                                                       width)
    landmarks = tf.reshape(features[schema.LANDMARKS],
                           [schema.NUM_LANDMARKS, 2])
    offset = tf.cast(tf.stack([left, top]), tf.float32)
    scale = tf.stack([width / tf.cast(crop_w, tf.float32),
                      height / tf.cast(crop_h, tf.float32)])
    landmarks = (landmarks - offset) * scale
    factors = {name: features[schema.FACTOR_PREFIX + name]
               for name in layout.factor_sizes}
    return {"image": image, "factors": factors, "iris_mask": iris,
            "landmarks": landmarks}

  return _finish(_records(files, shuffle, seed), parse, batch_size, shuffle,
                 repeat, seed, shuffle_buffer)


@gin.configurable
def pseudo_real_dataset(file_pattern: Union[str, Sequence[str]],
                        image_size: ImageSize,
                        batch_size: Optional[int] = None,
                        shuffle: bool = True,
                        repeat: bool = True,
                        seed: int = 0,
                        shuffle_buffer: int = 1000) -> tf.data.Dataset:
  """Unlabeled pseudo-real faces (``make_synthetic.py --mode=pseudo_real``).

  Args: as :func:`synthetic_dataset`.

  Returns:
    Dataset of ``{"image": [H, W, 3] float32 in [-1, 1]}`` (leading `[B]`
    when batched).

  Raises:
    ValueError: no files match, a bad size, or the shards hold labeled
      synthetic records (read those with :func:`synthetic_dataset`).
  """
  height, width = image_size_lib.parse_image_size(image_size)
  _check_batch_size(batch_size)
  files = _glob(file_pattern)
  layout = _layout(files)
  if layout.domain != schema.PSEUDO_REAL:
    raise ValueError(
        f"{files[0]} holds {layout.domain} records, not pseudo_real ones; read "
        "it with synthetic_dataset() (or real_tfrecord_dataset() for images "
        "only).")
  spec = schema.feature_spec()

  def parse(serialized):
    features = tf.io.parse_single_example(serialized, spec)
    image = tf.io.decode_png(features[schema.IMAGE], channels=3)
    return {"image": fit_image(uint8_to_float(image), (height, width))}

  return _finish(_records(files, shuffle, seed), parse, batch_size, shuffle,
                 repeat, seed, shuffle_buffer)


def _safe_decode(stats: ReadStats, image_key: Optional[str] = None,
                 give_up_after: int = 1000, what: str = "the input"):
  """A graph function (source, record) -> (uint8 `[h, w, 3]`, ok).

  Without ``image_key`` the image bytes are read from the path ``source``;
  with it they come from that bytes feature of the serialized
  `tf.train.Example` ``record``. A bad image gives ``ok`` False; only after
  ``give_up_after`` failures with no image decoded at all (a repeated
  pipeline would otherwise spin forever) does it raise, naming ``what``.
  """

  def decode(source, record):
    source = source.numpy().decode("utf-8", "replace")
    try:
      if image_key is None:
        with tf.io.gfile.GFile(source, "rb") as f:
          data = f.read()
      else:
        feature = tf.train.Example.FromString(
            record.numpy()).features.feature
        if image_key not in feature or not feature[image_key].bytes_list.value:
          raise ValueError(f"no {image_key!r} bytes feature")
        data = feature[image_key].bytes_list.value[0]
      if not data:
        raise ValueError("empty image data")
      image = tf.io.decode_image(data, channels=3, dtype=tf.uint8,
                                 expand_animations=False).numpy()
      if image.ndim != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"decoded to shape {image.shape}")
    except Exception as e:  # pylint: disable=broad-except
      stats.record_skipped(source, " ".join(str(e).split())[:200] or
                           type(e).__name__)
      if stats.num_decoded == 0 and stats.num_skip_events >= give_up_after:
        raise ValueError(
            f"no image of {what} could be decoded ({stats.num_skipped} bad "
            f"images, e.g. {source}: {stats.skipped[source]})") from None
      return np.zeros([1, 1, 3], np.uint8), False
    stats.record_decoded()
    return image, True

  def graph_fn(source, record):
    image, ok = tf.py_function(decode, [source, record], [tf.uint8, tf.bool])
    image.set_shape([None, None, 3])
    ok.set_shape([])
    return image, ok

  return graph_fn


def _image_element(image: tf.Tensor, ok: tf.Tensor,
                   image_size: Tuple[int, int]) -> Dict[str, tf.Tensor]:
  return {"image": fit_image(uint8_to_float(image), image_size), "_ok": ok}


def list_image_files(directory: str) -> List[str]:
  """Sorted paths of PNG/JPEG/BMP/GIF files anywhere under ``directory``."""
  if not tf.io.gfile.isdir(directory):
    raise ValueError(f"image directory {directory!r} does not exist.")
  files = []
  for root, _, names in tf.io.gfile.walk(directory):
    files.extend(os.path.join(root, n) for n in names
                 if n.lower().endswith(IMAGE_EXTENSIONS))
  if not files:
    raise ValueError(
        f"no {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} files under "
        f"{directory!r}.")
  return sorted(files)


@gin.configurable
def image_folder_dataset(directory: str,
                         image_size: ImageSize,
                         batch_size: Optional[int] = None,
                         shuffle: bool = True,
                         repeat: bool = True,
                         seed: int = 0,
                         shuffle_buffer: int = 10000,
                         stats: Optional[ReadStats] = None) -> tf.data.Dataset:
  """Images (PNG, JPEG, BMP, GIF first frame) anywhere under ``directory``.

  Unreadable or undecodable files are skipped, logged once and counted in
  ``stats`` (also available as ``dataset.read_stats``). If not a single file
  decodes, iterating raises (instead of a repeated pipeline spinning
  forever).

  Args:
    directory: root of the image tree (searched recursively).
    image_size: `H` or `(H, W)`; other sizes are centre-cropped and resized.
    batch_size: batch with ``drop_remainder=True``, or None.
    shuffle, repeat, seed, shuffle_buffer: as :func:`synthetic_dataset`.
    stats: a :class:`ReadStats` to fill; a new one when None.

  Returns:
    Dataset of ``{"image": [H, W, 3] float32 in [-1, 1]}`` (leading `[B]`
    when batched), with attribute ``read_stats``.

  Raises:
    ValueError: the directory is missing or holds no image files, or a bad
      size.
  """
  size = image_size_lib.parse_image_size(image_size)
  _check_batch_size(batch_size)
  stats = stats if stats is not None else ReadStats()
  files = list_image_files(directory)
  decode = _safe_decode(stats, give_up_after=len(files),
                        what=f"directory {directory!r}")

  def parse(path):
    image, ok = decode(path, tf.constant(b""))
    return _image_element(image, ok, size)

  dataset = tf.data.Dataset.from_tensor_slices(files)
  dataset = _finish(dataset, parse, batch_size, shuffle, repeat, seed,
                    min(shuffle_buffer, len(files)))
  dataset.read_stats = stats
  return dataset


@gin.configurable
def real_tfrecord_dataset(file_pattern: Union[str, Sequence[str]],
                          image_size: ImageSize,
                          batch_size: Optional[int] = None,
                          shuffle: bool = True,
                          repeat: bool = True,
                          seed: int = 0,
                          shuffle_buffer: int = 1000,
                          image_key: str = schema.IMAGE,
                          stats: Optional[ReadStats] = None
                          ) -> tf.data.Dataset:
  """Faces stored as TFRecords of `tf.train.Example` with an encoded image.

  Args:
    file_pattern: glob(s) of TFRecord files.
    image_size: `H` or `(H, W)`; other sizes are centre-cropped and resized.
    batch_size, shuffle, repeat, seed, shuffle_buffer: as
      :func:`synthetic_dataset`.
    image_key: the bytes feature holding a PNG/JPEG/BMP/GIF image.
    stats: a :class:`ReadStats` to fill (records named ``<file>#<index>``);
      a new one when None. Records that are no `tf.train.Example`, lack
      ``image_key`` or hold undecodable bytes are skipped and counted; a file
      damaged at the TFRecord level ends early with a logged warning.

  Returns:
    Dataset of ``{"image": [H, W, 3] float32 in [-1, 1]}`` (leading `[B]`
    when batched), with attribute ``read_stats``.

  Raises:
    ValueError: no files match, or a bad size.
  """
  size = image_size_lib.parse_image_size(image_size)
  _check_batch_size(batch_size)
  stats = stats if stats is not None else ReadStats()
  files = _glob(file_pattern)
  decode = _safe_decode(stats, image_key, what=f"{file_pattern!r}")

  def parse(source, serialized):
    image, ok = decode(source, serialized)
    return _image_element(image, ok, size)

  dataset = _records(files, shuffle, seed, with_source=True)
  dataset = _finish(dataset, parse, batch_size, shuffle, repeat, seed,
                    shuffle_buffer)
  dataset.read_stats = stats
  return dataset
