"""tf.data pipelines: synthetic, pseudo-real, image-folder and TFRecord faces.

Every reader returns a `tf.data.Dataset` of dict elements with
``"image"``: `[H, W, 3]` float32 in [-1, 1] (`[B, H, W, 3]` when
``batch_size`` is given; batches drop the remainder so shapes are static).
Images of another size are centre-cropped to the target aspect ratio and
resized (bilinear with antialiasing). :func:`synthetic_dataset` adds the
rendering factors θ and the labels the renderer produced.

Bad input is found as early as possible and named:

* **Before anything is built** (a ``ValueError`` whose one line names the
  file): every TFRecord file's record framing is walked
  (:mod:`tfface.data.shards`: a truncated file, a file that is not a
  TFRecord file, damaged headers), the first record of every file is parsed
  and checked against the first file's layout (domain, factor names and
  sizes), and the image readers decode until one image decodes (a folder or
  TFRecord set of which not one image decodes is an error here, not a
  pipeline that spins or dies later).
* **While iterating**, what only reading the data shows (a record whose data
  fails its checksum, a later record that lacks a feature) stops the pipeline
  with a ``tf.errors.InvalidArgumentError`` whose message holds one line
  ``tfface data error: <file>#<record>: <what is wrong>; expected ...``;
  :func:`data_error_message` picks that line out of the error (inside a
  ``tf.function`` TensorFlow puts ``Graph execution error:`` and a stack above
  it).

``skip_corrupt=True`` makes the TFRecord readers skip damaged records instead
(and, in a file whose framing is damaged, everything after the damage), log
one warning per record and count them in a :class:`ReadStats`, read as
``dataset.read_stats``. Files of user images can hold anything:
:func:`image_folder_dataset` and :func:`real_tfrecord_dataset` always skip
images that fail to read or decode, log one warning per bad image and count
them in the same way (pass your own :class:`ReadStats` as ``stats=``; counts
fill in as the pipeline runs).
"""

import atexit
import os
import re
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from absl import logging
import gin
import numpy as np
import tensorflow as tf

from tfface.data import schema
from tfface.data import shards
from tfface.rendering import image_size as image_size_lib

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_AUTOTUNE = tf.data.AUTOTUNE

ImageSize = Union[int, Sequence[int]]

# Starts the one line of an error a running pipeline raises for bad data.
GRAPH_ERROR_TAG = "tfface data error: "
_GRAPH_ERROR = re.compile(re.escape(GRAPH_ERROR_TAG) + r"(.*?)\](?=\s|$)")


def data_error_message(error: Union[BaseException, str]) -> Optional[str]:
  """The one-line message of a bad-data error raised inside a pipeline.

  Args:
    error: a ``tf.errors.OpError`` (or its text) raised while iterating a
      dataset of this module, eagerly or inside a ``tf.function``.

  Returns:
    ``"<file>#<record>: <what is wrong>; expected ..."``, or None when the
    error is not one of this module's bad-data errors.
  """
  match = _GRAPH_ERROR.search(str(error))
  return match.group(1).replace("\\'", "'") if match else None


class ReadStats:
  """Counts of records and images a pipeline read and skipped (thread-safe).

  Attributes:
    num_decoded: images decoded successfully (counted again each epoch; the
      image readers only).
    num_skip_events: skipped reads (counted again each epoch).
    num_unread: records that could not be read because an earlier record of
      the same file was damaged (counted again each epoch).
    skipped: dict source -> reason for every distinct image or record that
      was skipped (a file path, or ``"<file>#<record index>"``).
  """

  def __init__(self):
    self._lock = threading.Lock()
    self.num_decoded = 0
    self.num_skip_events = 0
    self.num_unread = 0
    self.skipped: Dict[str, str] = {}

  @property
  def num_skipped(self) -> int:
    """Distinct images and records skipped so far."""
    with self._lock:
      return len(self.skipped)

  def record_decoded(self) -> None:
    with self._lock:
      self.num_decoded += 1

  def record_skipped(self, source: str, reason: str,
                     what: str = "undecodable image", unread: int = 0) -> None:
    """Counts one skipped read; logs a warning the first time per source.

    Args:
      source: the file, or ``"<file>#<record index>"``.
      reason: why, one line.
      what: how the warning calls it (``"undecodable image"``,
        ``"corrupt record"``).
      unread: records after it in the same file that are lost with it.
    """
    with self._lock:
      new = source not in self.skipped
      self.skipped[source] = reason
      self.num_skip_events += 1
      self.num_unread += int(unread)
    if new:
      logging.warning("skipping %s %s: %s", what, source, reason)

  def __repr__(self) -> str:
    return (f"ReadStats(num_decoded={self.num_decoded}, "
            f"num_skipped={self.num_skipped}, num_unread={self.num_unread})")


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
  flagged = "_ok" in dataset.element_spec
  if flagged:
    dataset = dataset.filter(lambda element: element["_ok"])
  if batch_size is not None:
    dataset = dataset.batch(batch_size, drop_remainder=True)
  if flagged:  # after batching: one call per batch, not per element
    dataset = dataset.map(
        lambda element: {k: v for k, v in element.items() if k != "_ok"})
  return dataset.prefetch(_AUTOTUNE).with_options(_options())


def _options() -> tf.data.Options:
  # The only state outside the graph is a py_function's (decoding a file,
  # counting a skip): nothing an iterator checkpoint must hold, so the
  # training loop can checkpoint and resume these pipelines.
  options = tf.data.Options()
  options.experimental_external_state_policy = (
      tf.data.experimental.ExternalStatePolicy.IGNORE)
  return options


# ------------------------------------------------------------ python calls
#
# A pipeline that calls Python (tf.py_function) must not do so once the
# interpreter has begun to exit: CPython ends any thread that then asks for
# the GIL, the call never returns, and the iterator's destructor (run while
# the interpreter tears down, e.g. when an uncaught exception kept it alive)
# waits for it forever -- the process hangs, or aborts. So every such call is
# behind a flag the graph reads; at exit the flag goes down (the pipeline
# then only produces skipped elements, without Python) and the calls already
# running are given time to finish.

_python_lock = threading.Lock()
_python_state = {"flag": None, "running": 0}


def _python_allowed() -> tf.Tensor:
  """In a pipeline function: bool scalar, False once the process exits."""
  with _python_lock:
    if _python_state["flag"] is None:
      with tf.init_scope():
        flag = tf.raw_ops.VarHandleOp(
            dtype=tf.bool, shape=[],
            shared_name=f"tfface_data_python_calls_{os.getpid()}")
        tf.raw_ops.AssignVariableOp(resource=flag, value=True)
      _python_state["flag"] = flag
      atexit.register(_stop_python_calls)
  return tf.raw_ops.ReadVariableOp(resource=_python_state["flag"],
                                   dtype=tf.bool)


def _stop_python_calls(timeout: float = 2.0) -> None:
  flag = _python_state["flag"]
  if flag is None:
    return
  try:
    tf.raw_ops.AssignVariableOp(resource=flag, value=False)
  except Exception:  # pylint: disable=broad-except
    return
  deadline = time.monotonic() + timeout
  quiet = 0
  while quiet < 3 and time.monotonic() < deadline:
    time.sleep(0.01)  # releases the GIL: running calls can finish
    quiet = quiet + 1 if _python_state["running"] == 0 else 0


def _python_call(func: Callable, inputs: List[tf.Tensor],
                 dtypes: List[tf.DType],
                 fallback: Callable[[], List[tf.Tensor]]) -> List[tf.Tensor]:
  """``tf.py_function(func, inputs, dtypes)``, or ``fallback()`` at exit."""

  def counted(*args):
    with _python_lock:
      _python_state["running"] += 1
    try:
      return func(*args)
    finally:
      with _python_lock:
        _python_state["running"] -= 1

  return tf.cond(_python_allowed(),
                 lambda: tf.py_function(counted, inputs, dtypes), fallback)


# ------------------------------------------------------------------ bad data


def _source(path: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
  """``"<file>#<index>"`` as a string scalar."""
  return tf.strings.join([path, "#", tf.strings.as_string(index)])


def _guard(ok: tf.Tensor, source_fn: Callable[[], tf.Tensor],
           message_fn: Callable[[], tf.Tensor], skip_corrupt: bool,
           stats: ReadStats, unread: Optional[tf.Tensor] = None
           ) -> tf.Tensor:
  """In a pipeline: ``ok`` when True; else raise or count the bad element.

  Only a bad element runs more than a ``tf.cond``: with ``skip_corrupt`` it
  is counted in ``stats`` (a ``py_function``) and False comes back; without,
  an ``InvalidArgumentError`` stops the pipeline with the one-line message
  ``GRAPH_ERROR_TAG + message_fn()`` (see :func:`data_error_message`).

  Args:
    ok: bool scalar.
    source_fn: () -> string scalar, ``"<file>#<record>"``.
    message_fn: () -> string scalar, one sentence without ``]``; raising
      adds what to do about it.
    skip_corrupt: skip and count instead of raising.
    stats: where skips are counted.
    unread: int64 scalar, records of the same file lost with this one.

  Returns:
    bool scalar: ``ok``.
  """

  def bad():
    message = message_fn()
    if skip_corrupt:
      lost = (tf.constant(0, tf.int64) if unread is None else
              tf.cast(unread, tf.int64))

      def record(source, text, count):
        stats.record_skipped(source.numpy().decode("utf-8", "replace"),
                             text.numpy().decode("utf-8", "replace"),
                             what="corrupt record", unread=int(count))
        return False

      (flag,) = _python_call(record, [source_fn(), message, lost],
                             [tf.bool], lambda: [tf.constant(False)])
      flag.set_shape([])
      return flag
    check = tf.debugging.Assert(False, [tf.strings.join(
        [GRAPH_ERROR_TAG, message, "; ", shards.SKIP_HINT])])
    with tf.control_dependencies([check]):
      return tf.constant(False)

  return tf.cond(ok, lambda: tf.constant(True), bad)


def _describe(files: Sequence[str]) -> str:
  if len(files) == 1:
    return files[0]
  return f"the {len(files)} files {files[0]} ... {files[-1]}"


def _check_files(files: List[str], skip_corrupt: bool,
                 stats: ReadStats) -> List[shards.ShardScan]:
  """Walks every file's TFRecord framing; the files with readable records.

  A damaged file is a ValueError naming it, the record and the byte; with
  ``skip_corrupt`` its complete records before the damage are kept and the
  damage is counted in ``stats``.
  """
  usable = []
  for path in files:
    scan = shards.scan_shard(path)
    if scan.damage:
      if not skip_corrupt:
        raise ValueError(f"{scan.damage}; {shards.SKIP_HINT}.")
      stats.record_skipped(f"{path}#{scan.num_records}", scan.damage,
                           what="corrupt record")
    if scan.num_records:
      usable.append(scan)
  if not usable:
    raise ValueError(f"{_describe(files)} hold(s) no readable records; "
                     "expected TFRecord files of tf.train.Example records.")
  return usable


def _damaged_record_message(path: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
  return tf.strings.join([
      path, " is a damaged TFRecord file: record #",
      tf.strings.as_string(index),
      " could not be read (its data fails the TFRecord checksum, or the file "
      "changed after the reader was built); expected an intact file"])


# Follows the records of every file in _read_records: a tf.train.Example no
# data record equals (its only feature is this name).
_END_OF_FILE = tf.train.Example(features=tf.train.Features(feature={
    "tfface/end_of_file": tf.train.Feature(
        int64_list=tf.train.Int64List(value=[1]))})).SerializeToString()


def _read_records(scans: List[shards.ShardScan], shuffle: bool,
                  seed: int) -> tf.data.Dataset:
  """``(file, num_records, index, record)`` of the checked files.

  Files are read in order, or interleaved from shuffled files, each up to
  the last record the framing walk found complete. A record whose data fails
  its checksum (seen only now) ends its file (``ignore_errors``), and every
  file ends with an end marker (record :data:`_END_OF_FILE`) whose index is
  the number of records that came: :func:`_parse_with_end_check` raises or
  counts a file that ended early, naming it and the record. No function runs
  per record here (only tf.data's own zip, take, ...); the check rides on the
  parse function each record goes through anyway.
  """
  paths = tf.constant([scan.path for scan in scans])
  counts = tf.constant([scan.num_records for scan in scans], tf.int64)
  files = tf.data.Dataset.from_tensor_slices((paths, counts))
  if shuffle:
    files = files.shuffle(len(scans), seed=seed,
                          reshuffle_each_iteration=True)

  def read(path, count):
    records = (tf.data.TFRecordDataset(path).take(count).ignore_errors()
               .concatenate(tf.data.Dataset.from_tensors(_END_OF_FILE)))
    return tf.data.Dataset.zip((
        tf.data.Dataset.from_tensors(path).repeat(),
        tf.data.Dataset.from_tensors(count).repeat(),
        tf.data.Dataset.range(count + 1), records))

  # Without shuffling, files are read one after the other, in sorted order.
  cycle = min(len(scans), 8) if shuffle else 1
  return files.interleave(read, cycle_length=cycle,
                          num_parallel_calls=_AUTOTUNE, deterministic=True)


def _parse_with_end_check(parse_record, skip_corrupt: bool,
                          stats: ReadStats):
  """A parse function of :func:`_read_records` elements from a record one.

  Args:
    parse_record: ``(path, index, record, is_end) -> (element dict with
      "_ok", good, problem_fn)``: ``_ok`` False drops the element; ``good``
      False makes it a bad record (raised or counted here), ``problem_fn``
      () -> string saying what is wrong with it (built only then). It must
      not fail on the end marker (``is_end``), whose ``good`` is ignored.
    skip_corrupt, stats: as :func:`_guard`.

  Returns:
    ``(path, num_records, index, record) -> element``: its ``_ok`` is False
    for the end marker too; a bad record, or an end marker that came early
    (the file ended at a damaged record), raises or is counted.
  """

  def parse(path, count, index, record):
    last = tf.equal(record, _END_OF_FILE)
    element, good, problem = parse_record(path, index, record, last)
    good = tf.where(last, tf.equal(index, count), good)

    def message():
      return tf.cond(last, lambda: _damaged_record_message(path, index),
                     problem)

    ok = _guard(good, lambda: _source(path, index), message, skip_corrupt,
                stats, unread=tf.where(last, count - index - 1, 0))
    element["_ok"] = tf.logical_and(
        tf.logical_and(ok, element["_ok"]), tf.logical_not(last))
    return element

  return parse


def _layout(scans: List[shards.ShardScan], file_pattern, skip_corrupt: bool,
            stats: ReadStats
            ) -> Tuple[schema.RecordLayout, str, List[shards.ShardScan]]:
  """The dataset's layout from the first record of every file.

  Every file's record #0 must be a complete face record (else a ValueError
  naming it; with ``skip_corrupt`` it is counted, and a file whose first
  record is not a `tf.train.Example` at all is skipped whole), and all files
  must share one domain and one factor table (always a ValueError naming two
  files and both tables: they are different datasets, not damage).

  Returns:
    (layout, the file it was read from, the files to read).
  """
  layout, layout_path, kept = None, None, []
  for scan in scans:
    where = f"{scan.path}#0"
    try:
      this = schema.parse_layout(scan.first_record, source=where)
      problems = schema.record_problems(
          scan.first_record,
          this.factor_sizes if this.domain == schema.SYNTHETIC else None)
      if problems:
        raise ValueError(
            f"{where} is not a complete tfface face record: "
            f"{'; '.join(problems)} (see tfface/data/schema.py).")
    except ValueError as e:
      if not skip_corrupt:
        raise ValueError(f"{e} {shards.SKIP_HINT[0].upper()}"
                         f"{shards.SKIP_HINT[1:]}.") from None
      if not _is_example(scan.first_record):
        stats.record_skipped(where, f"{e}; the whole file was skipped",
                             what="corrupt record",
                             unread=scan.num_records - 1)
        continue
      stats.record_skipped(where, str(e), what="corrupt record")
      kept.append(scan)
      continue
    kept.append(scan)
    if layout is None:
      layout, layout_path = this, scan.path
    elif (this.domain != layout.domain or
          dict(this.factor_sizes) != dict(layout.factor_sizes)):
      raise ValueError(
          f"{scan.path} holds {_table(this)}, but {layout_path} holds "
          f"{_table(layout)}; every file of {file_pattern!r} must come from "
          "one dataset (one factor table).")
  if layout is None:
    raise ValueError(f"no file of {file_pattern!r} starts with a readable "
                     "face record; expected tfface synthetic or pseudo-real "
                     "shards (see tfface/data/schema.py).")
  return layout, layout_path, kept


def read_layout(file_pattern: Union[str, Sequence[str]]
                ) -> schema.RecordLayout:
  """Checks every file of a face dataset; the layout they share.

  The checks the readers run before building (see the module docstring),
  without building a pipeline: a quick way to reject bad files early.

  Raises:
    ValueError: no files match, or one is damaged, foreign or of another
      dataset (the message names it).
  """
  stats = ReadStats()
  scans = _check_files(_glob(file_pattern), False, stats)
  return _layout(scans, file_pattern, False, stats)[0]


def _is_example(serialized: bytes) -> bool:
  try:
    tf.train.Example.FromString(serialized)
  except Exception:  # pylint: disable=broad-except
    return False
  return True


def _table(layout: schema.RecordLayout) -> str:
  if not layout.factor_sizes:
    return f"{layout.domain} records without factors"
  return (f"{layout.domain} records with factors "
          f"{schema.format_sizes(layout.factor_sizes)}")


def _blank_png(channels: int) -> bytes:
  """A 1x1 black PNG: what a missing image feature parses as."""
  return schema.encode_png(np.zeros([1, 1, channels], np.uint8))


def _lenient_spec(factor_sizes: Optional[Dict[str, int]] = None,
                  analysis_labels: bool = False
                  ) -> Dict[str, tf.io.FixedLenFeature]:
  """The reader's parse spec, with defaults that mark a missing feature.

  A missing image parses as a 1x1 black PNG (:func:`_blank_png`; no face
  image is one), a missing float feature as NaNs, so a record that lacks one
  is found (:func:`_check_record`) instead of failing the parse -- and
  decoding still works until the record is dropped. ``factor_sizes`` None:
  the image only. ``analysis_labels``: also the parse map (missing: a blank
  PNG), identity (missing: -1) and style (missing: empty).
  """
  spec = {schema.IMAGE: tf.io.FixedLenFeature([], tf.string,
                                              default_value=_blank_png(3))}
  if factor_sizes is not None:
    spec[schema.IRIS_MASK] = tf.io.FixedLenFeature(
        [], tf.string, default_value=_blank_png(1))
    sizes = {schema.LANDMARKS: schema.NUM_LANDMARKS * 2}
    sizes.update((schema.FACTOR_PREFIX + name, size)
                 for name, size in factor_sizes.items())
    for key, size in sizes.items():
      spec[key] = tf.io.FixedLenFeature([size], tf.float32,
                                        default_value=[np.nan] * size)
  if analysis_labels:
    spec[schema.PARSE] = tf.io.FixedLenFeature([], tf.string,
                                               default_value=_blank_png(1))
    spec[schema.STYLE] = tf.io.FixedLenFeature([], tf.string,
                                               default_value="")
    spec[schema.IDENTITY] = tf.io.FixedLenFeature([], tf.int64,
                                                  default_value=-1)
  return spec


def _check_record(path: tf.Tensor, index: tf.Tensor,
                  features: Dict[str, tf.Tensor],
                  spec: Dict[str, tf.io.FixedLenFeature], what: str,
                  expected: str) -> Tuple[tf.Tensor, Callable[[], tf.Tensor]]:
  """(ok, problem_fn) of a record parsed with :func:`_lenient_spec`.

  A few cheap ops per record (no bytes feature is its default, no float is
  NaN); ``problem_fn`` builds the sentence saying which features are
  missing, only for a bad record.
  """
  byte_keys = [k for k in spec if spec[k].dtype == tf.string]
  float_keys = [k for k in spec if spec[k].dtype == tf.float32]

  def present(key):
    return tf.not_equal(features[key], spec[key].default_value)

  checks = [present(k) for k in byte_keys]
  if float_keys:
    floats = tf.concat([features[k] for k in float_keys], 0)
    checks.append(tf.logical_not(tf.reduce_any(tf.math.is_nan(floats))))

  def problem():
    texts = [tf.where(present(k), "", f"no {k} bytes feature")
             for k in byte_keys]
    texts += [tf.where(tf.reduce_any(tf.math.is_nan(features[k])),
                       f"{k} is missing or holds NaN", "")
              for k in float_keys]
    texts = tf.stack(texts)
    return tf.strings.join([
        _source(path, index), f" is not a complete {what}: ",
        tf.strings.reduce_join(tf.boolean_mask(texts, texts != ""),
                               separator="; "),
        f"; expected {expected} (see tfface/data/schema.py)"])

  return tf.reduce_all(tf.stack(checks)), problem


def _finish_dataset(dataset: tf.data.Dataset, stats: ReadStats,
                    files: List[str]) -> tf.data.Dataset:
  dataset.read_stats = stats
  dataset.source_files = files
  return dataset


@gin.configurable
def synthetic_dataset(file_pattern: Union[str, Sequence[str]],
                      image_size: ImageSize,
                      batch_size: Optional[int] = None,
                      shuffle: bool = True,
                      repeat: bool = True,
                      seed: int = 0,
                      shuffle_buffer: int = 1000,
                      skip_corrupt: bool = False,
                      stats: Optional[ReadStats] = None,
                      analysis_labels: bool = False) -> tf.data.Dataset:
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
    skip_corrupt: skip damaged records (a truncated shard's tail, a record
      that fails its checksum or lacks a feature) and count them in
      ``stats`` instead of raising.
    stats: a :class:`ReadStats` to fill; a new one when None.
    analysis_labels: also read the labels of the writer's ``labeled`` mode
      (a record without them is damaged).

  Returns:
    Dataset of dicts (leading `[B]` when batched):
      ``image``: `[H, W, 3]` float32 in [-1, 1];
      ``factors``: dict name -> `[n]` float32, every factor θ_i in the
        order of :func:`tfface.data.synthetic.synthetic_factor_sizes`
        (``labeled`` records add ``translation`` `[3]`);
      ``iris_mask``: `[H, W, 1]` float32 in [0, 1];
      ``landmarks``: `[68, 2]` float32 (x, y) pixels at ``image_size``;
      with ``analysis_labels``: ``parse`` `[H, W]` int32 ids of
      :data:`tfface.data.schema.PARSE_CLASSES` (nearest-neighbour resized),
      ``identity`` int32 scalar and ``pseudo_real`` float32 scalar (1 for the
      pseudo-real render style, 0 for the plain one);
    with attributes ``read_stats``, ``factor_sizes`` (ordered dict name -> n
    of the shards) and ``source_files`` (the files read).

  Raises:
    ValueError: no files match, a bad size, a damaged or foreign file (named;
      see the module docstring), shards of different factor tables, or the
      shards hold no factors (pseudo-real shards: use
      :func:`pseudo_real_dataset`). Damage only reading shows is an
      ``InvalidArgumentError`` while iterating.
  """
  height, width = image_size_lib.parse_image_size(image_size)
  _check_batch_size(batch_size)
  stats = stats if stats is not None else ReadStats()
  files = _glob(file_pattern)
  scans = _check_files(files, skip_corrupt, stats)
  layout, layout_path, scans = _layout(scans, file_pattern, skip_corrupt,
                                       stats)
  if layout.domain != schema.SYNTHETIC or not layout.factor_sizes:
    raise ValueError(
        f"{layout_path} holds {layout.domain} records without factors; read "
        "it with pseudo_real_dataset().")
  sizes = layout.factor_sizes
  spec = _lenient_spec(sizes, analysis_labels)
  expected = ("image and iris_mask PNGs, 136 landmarks floats and the "
              f"factors {schema.format_sizes(sizes)} of {layout_path}#0")
  if analysis_labels:
    expected += (", plus the parse PNG, identity and style of the 'labeled' "
                 "writer mode")

  def parse(path, index, serialized, _):
    features = tf.io.parse_single_example(serialized, spec)
    ok, problem = _check_record(path, index, features, spec,
                                "tfface synthetic face record", expected)
    if analysis_labels:
      ok = tf.logical_and(ok, features[schema.IDENTITY] >= 0)
    image_png = features[schema.IMAGE]
    iris_png = features[schema.IRIS_MASK]
    landmarks = features[schema.LANDMARKS]
    factors = {name: features[schema.FACTOR_PREFIX + name] for name in sizes}
    image = tf.io.decode_png(image_png, channels=3)
    in_h, in_w = tf.shape(image)[0], tf.shape(image)[1]
    image = fit_image(uint8_to_float(image), (height, width))
    iris = tf.io.decode_png(iris_png, channels=1)
    iris = fit_image(tf.cast(iris, tf.float32) / 255.0, (height, width))
    # Landmarks in continuous pixel coordinates (pixel i covers [i, i + 1)):
    # shift by the crop, scale by the resize.
    top, left, crop_h, crop_w = crop_and_resize_params(in_h, in_w, height,
                                                       width)
    landmarks = tf.reshape(landmarks, [schema.NUM_LANDMARKS, 2])
    offset = tf.cast(tf.stack([left, top]), tf.float32)
    scale = tf.stack([width / tf.cast(crop_w, tf.float32),
                      height / tf.cast(crop_h, tf.float32)])
    landmarks = (landmarks - offset) * scale
    element = {"image": image, "factors": factors, "iris_mask": iris,
               "landmarks": landmarks, "_ok": ok}
    if analysis_labels:
      classes = tf.io.decode_png(features[schema.PARSE], channels=1)
      classes = fit_image(tf.cast(classes, tf.float32), (height, width),
                          method="nearest")
      element["parse"] = tf.cast(classes[..., 0], tf.int32)
      element["identity"] = tf.cast(features[schema.IDENTITY], tf.int32)
      element["pseudo_real"] = tf.cast(
          tf.equal(features[schema.STYLE], schema.PSEUDO_REAL), tf.float32)
    return element, ok, problem

  dataset = _finish(_read_records(scans, shuffle, seed),
                    _parse_with_end_check(parse, skip_corrupt, stats),
                    batch_size, shuffle, repeat, seed, shuffle_buffer)
  dataset.factor_sizes = sizes
  return _finish_dataset(dataset, stats, [scan.path for scan in scans])


@gin.configurable
def pseudo_real_dataset(file_pattern: Union[str, Sequence[str]],
                        image_size: ImageSize,
                        batch_size: Optional[int] = None,
                        shuffle: bool = True,
                        repeat: bool = True,
                        seed: int = 0,
                        shuffle_buffer: int = 1000,
                        skip_corrupt: bool = False,
                        stats: Optional[ReadStats] = None) -> tf.data.Dataset:
  """Unlabeled pseudo-real faces (``make_synthetic.py --mode=pseudo_real``).

  Args: as :func:`synthetic_dataset`.

  Returns:
    Dataset of ``{"image": [H, W, 3] float32 in [-1, 1]}`` (leading `[B]`
    when batched), with attributes ``read_stats`` and ``source_files``.

  Raises:
    ValueError: no files match, a bad size, a damaged or foreign file, or the
      shards hold labeled synthetic records (read those with
      :func:`synthetic_dataset`).
  """
  height, width = image_size_lib.parse_image_size(image_size)
  _check_batch_size(batch_size)
  stats = stats if stats is not None else ReadStats()
  files = _glob(file_pattern)
  scans = _check_files(files, skip_corrupt, stats)
  layout, layout_path, scans = _layout(scans, file_pattern, skip_corrupt,
                                       stats)
  if layout.domain != schema.PSEUDO_REAL:
    raise ValueError(
        f"{layout_path} holds {layout.domain} records, not pseudo_real ones; "
        "read it with synthetic_dataset() (or real_tfrecord_dataset() for "
        "images only).")
  spec = _lenient_spec()

  def parse(path, index, serialized, _):
    features = tf.io.parse_single_example(serialized, spec)
    ok, problem = _check_record(path, index, features, spec,
                                "tfface pseudo-real face record",
                                "an image PNG")
    image = tf.io.decode_png(features[schema.IMAGE], channels=3)
    return {"image": fit_image(uint8_to_float(image), (height, width)),
            "_ok": ok}, ok, problem

  dataset = _finish(_read_records(scans, shuffle, seed),
                    _parse_with_end_check(parse, skip_corrupt, stats),
                    batch_size, shuffle, repeat, seed, shuffle_buffer)
  return _finish_dataset(dataset, stats, [scan.path for scan in scans])


# ------------------------------------------------------------ user images


def _image_decoder(image_key: Optional[str] = None
                   ) -> Callable[[str, bytes], np.ndarray]:
  """A Python function (source, record) -> uint8 `[h, w, 3]`; raises if bad.

  Without ``image_key`` the image bytes are read from the path ``source``;
  with it they come from that bytes feature of the serialized
  `tf.train.Example` ``record``.
  """

  def decode(source: str, record: bytes) -> np.ndarray:
    if image_key is None:
      with tf.io.gfile.GFile(source, "rb") as f:
        data = f.read()
    else:
      try:
        feature = tf.train.Example.FromString(record).features.feature
      except Exception:  # pylint: disable=broad-except
        raise ValueError("not a tf.train.Example") from None
      if image_key not in feature or not feature[image_key].bytes_list.value:
        raise ValueError(f"no {image_key!r} bytes feature")
      data = feature[image_key].bytes_list.value[0]
    if not data:
      raise ValueError("empty image data")
    image = tf.io.decode_image(data, channels=3, dtype=tf.uint8,
                               expand_animations=False).numpy()
    if image.ndim != 3 or min(image.shape[:2]) < 1:
      raise ValueError(f"decoded to shape {image.shape}")
    return image

  return decode


_TF_NOISE = re.compile(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]|\s+name:\s*$")


def _reason(error: Exception) -> str:
  """One short line of ``error``, without TensorFlow's op decorations."""
  text = error.message if isinstance(error, tf.errors.OpError) else str(error)
  text = " ".join(_TF_NOISE.sub(" ", text).split())
  return text[:200] or type(error).__name__


def _first_decodable(candidates, decode, stats: ReadStats, what: str,
                     expected: str) -> None:
  """Decodes ``(source, record)`` candidates until one decodes.

  The bad ones before it are counted in ``stats``. Runs before a pipeline
  exists, so a set of which not one image decodes is a ValueError at build
  time (a repeated pipeline would otherwise spin, or die in a traceback).
  """
  first_bad, bad = None, 0
  for source, record in candidates:
    try:
      decode(source, record)
      return
    except Exception as e:  # pylint: disable=broad-except
      stats.record_skipped(source, _reason(e))
      bad += 1
      if first_bad is None:
        first_bad = source
  raise ValueError(
      f"no image of {what} could be decoded ({bad} bad images, e.g. "
      f"{first_bad}: {stats.skipped.get(first_bad, '?')}); expected "
      f"{expected}.")


def _safe_decode(stats: ReadStats, image_key: Optional[str],
                 epoch_size: int, what: str):
  """A graph function (source, record) -> (uint8 `[h, w, 3]`, ok).

  A bad image gives ``ok`` False and is counted in ``stats``. The builders
  have already decoded one image, so every epoch holds one; should a whole
  epoch (``epoch_size`` reads) pass without a decode all the same (the files
  changed), it raises, naming ``what``, instead of spinning forever.
  """
  decode_image = _image_decoder(image_key)
  lock = threading.Lock()
  counts = {"decoded": 0, "failed": 0}

  def decode(source, record):
    source = source.numpy().decode("utf-8", "replace")
    try:
      image = decode_image(source, record.numpy())
    except Exception as e:  # pylint: disable=broad-except
      stats.record_skipped(source, _reason(e))
      with lock:
        counts["failed"] += 1
        give_up = counts["decoded"] == 0 and counts["failed"] >= epoch_size
      if give_up:
        raise ValueError(
            f"no image of {what} could be decoded in a whole epoch "
            f"({stats.num_skipped} bad images, e.g. {source}: "
            f"{stats.skipped[source]})") from None
      return np.zeros([1, 1, 3], np.uint8), False
    with lock:
      counts["decoded"] += 1
    stats.record_decoded()
    return image, True

  def graph_fn(source, record):
    image, ok = _python_call(
        decode, [source, record], [tf.uint8, tf.bool],
        lambda: [tf.zeros([1, 1, 3], tf.uint8), tf.constant(False)])
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


_IMAGE_FORMATS = "PNG, JPEG, BMP or GIF images"


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
  ``stats`` (also available as ``dataset.read_stats``). The builder decodes
  files (in sorted order) until one decodes; a directory of which not a
  single file decodes is a ValueError here, before any pipeline runs.

  Args:
    directory: root of the image tree (searched recursively).
    image_size: `H` or `(H, W)`; other sizes are centre-cropped and resized.
    batch_size: batch with ``drop_remainder=True``, or None.
    shuffle, repeat, seed, shuffle_buffer: as :func:`synthetic_dataset`.
    stats: a :class:`ReadStats` to fill; a new one when None.

  Returns:
    Dataset of ``{"image": [H, W, 3] float32 in [-1, 1]}`` (leading `[B]`
    when batched), with attributes ``read_stats`` and ``source_files``.

  Raises:
    ValueError: the directory is missing, holds no image files or none that
      decodes (the message names one bad file and why), or a bad size.
  """
  size = image_size_lib.parse_image_size(image_size)
  _check_batch_size(batch_size)
  stats = stats if stats is not None else ReadStats()
  files = list_image_files(directory)
  _first_decodable(((path, b"") for path in files), _image_decoder(), stats,
                   f"directory {directory!r}", _IMAGE_FORMATS)
  decode = _safe_decode(stats, None, len(files), f"directory {directory!r}")

  def parse(path):
    image, ok = decode(path, tf.constant(b""))
    return _image_element(image, ok, size)

  dataset = tf.data.Dataset.from_tensor_slices(files)
  dataset = _finish(dataset, parse, batch_size, shuffle, repeat, seed,
                    min(shuffle_buffer, len(files)))
  return _finish_dataset(dataset, stats, files)


def _records_of(scans: List[shards.ShardScan], skip_corrupt: bool,
                stats: ReadStats):
  """``(file#index, record)`` of the files, read eagerly (the build probe).

  A record that fails its checksum is a ValueError naming it, or with
  ``skip_corrupt`` counted and the rest of its file skipped.
  """
  for scan in scans:
    index = 0
    try:
      for record in tf.data.TFRecordDataset(scan.path).take(
          scan.num_records):
        yield f"{scan.path}#{index}", record.numpy()
        index += 1
    except tf.errors.DataLossError:
      message = (f"{scan.path} is a damaged TFRecord file: record #{index} "
                 "fails the TFRecord data checksum; expected an intact file")
      if not skip_corrupt:
        raise ValueError(f"{message}; {shards.SKIP_HINT}.") from None
      stats.record_skipped(f"{scan.path}#{index}", message,
                           what="corrupt record",
                           unread=scan.num_records - index - 1)


@gin.configurable
def real_tfrecord_dataset(file_pattern: Union[str, Sequence[str]],
                          image_size: ImageSize,
                          batch_size: Optional[int] = None,
                          shuffle: bool = True,
                          repeat: bool = True,
                          seed: int = 0,
                          shuffle_buffer: int = 1000,
                          image_key: str = schema.IMAGE,
                          stats: Optional[ReadStats] = None,
                          skip_corrupt: bool = False) -> tf.data.Dataset:
  """Faces stored as TFRecords of `tf.train.Example` with an encoded image.

  Args:
    file_pattern: glob(s) of TFRecord files.
    image_size: `H` or `(H, W)`; other sizes are centre-cropped and resized.
    batch_size, shuffle, repeat, seed, shuffle_buffer: as
      :func:`synthetic_dataset`.
    image_key: the bytes feature holding a PNG/JPEG/BMP/GIF image.
    stats: a :class:`ReadStats` to fill (records named ``<file>#<index>``);
      a new one when None. Records that are no `tf.train.Example`, lack
      ``image_key`` or hold undecodable bytes are always skipped and
      counted.
    skip_corrupt: also skip (and count) what is damaged at the TFRecord
      level (a truncated file's tail, a record that fails its checksum)
      instead of raising a ValueError (at build time) or an
      ``InvalidArgumentError`` (while iterating) that names the file.

  Returns:
    Dataset of ``{"image": [H, W, 3] float32 in [-1, 1]}`` (leading `[B]`
    when batched), with attributes ``read_stats`` and ``source_files``.

  Raises:
    ValueError: no files match, a bad size, a damaged file (without
      ``skip_corrupt``), or not one record holds a decodable image.
  """
  size = image_size_lib.parse_image_size(image_size)
  _check_batch_size(batch_size)
  stats = stats if stats is not None else ReadStats()
  files = _glob(file_pattern)
  scans = _check_files(files, skip_corrupt, stats)
  what = f"{file_pattern!r}"
  _first_decodable(_records_of(scans, skip_corrupt, stats),
                   _image_decoder(image_key), stats, what,
                   f"tf.train.Examples whose {image_key!r} feature holds "
                   f"{_IMAGE_FORMATS}")
  decode = _safe_decode(stats, image_key,
                        sum(scan.num_records for scan in scans), what)

  def parse(path, index, serialized, last):
    # Bad images are skipped and counted by decode; the end marker is not
    # decoded at all.
    image, ok = tf.cond(
        last, lambda: (tf.zeros([1, 1, 3], tf.uint8), tf.constant(True)),
        lambda: decode(_source(path, index), serialized))
    return (_image_element(image, ok, size), tf.constant(True),
            lambda: tf.constant(""))

  dataset = _finish(_read_records(scans, shuffle, seed),
                    _parse_with_end_check(parse, skip_corrupt, stats),
                    batch_size, shuffle, repeat, seed, shuffle_buffer)
  return _finish_dataset(dataset, stats, [scan.path for scan in scans])
