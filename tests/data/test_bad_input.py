"""Bad input never hangs a process or passes silently; its error names the file.

Every reader, on every kind of bad input: an image folder of which nothing
decodes (in subprocesses, so that a hang fails the test instead of the
suite), a truncated TFRecord shard, a file that is not a TFRecord file, a
record whose data fails its checksum, a record that lacks a feature, shards
of two factor tables, a dataset built for another factor table than the
model's. Strict (the default) is one clear error naming the file; with
``skip_corrupt=True`` the damage is skipped and counted in ``read_stats``.
"""

import collections
import concurrent.futures
import os
import shutil
import struct
import subprocess
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf

from tfface.data import datasets
from tfface.data import schema
from tfface.data import sources

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SIZES = collections.OrderedDict([("identity", 5), ("pose", 3)])
READERS = {
    "synthetic": datasets.synthetic_dataset,
    "pseudo_real": datasets.pseudo_real_dataset,
    "tfrecord": datasets.real_tfrecord_dataset,
}


def _image(seed, size=8):
  return np.random.default_rng(seed).integers(0, 256, (size, size, 3),
                                              np.uint8)


def _example(kind, i, drop=None):
  """Record #i of a tiny dataset of ``kind``; ``drop`` removes a feature."""
  if kind == "synthetic":
    data = schema.make_example(
        _image(i), schema.SYNTHETIC,
        collections.OrderedDict((k, np.full(n, i, np.float32))
                                for k, n in SIZES.items()),
        np.zeros([8, 8, 1], np.uint8), np.zeros([68, 2], np.float32))
  else:
    data = schema.make_example(_image(i), schema.PSEUDO_REAL)
  if drop is None:
    return data
  example = tf.train.Example.FromString(data)
  del example.features.feature[drop]
  return example.SerializeToString()


def _write(path, records):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for record in records:
      writer.write(record)
  return str(path)


def _offsets(path):
  """Byte offset of every record of a TFRecord file."""
  data = open(path, "rb").read()
  offsets, offset = [], 0
  while offset < len(data):
    offsets.append(offset)
    (length,) = struct.unpack("<Q", data[offset:offset + 8])
    offset += 12 + length + 4
  return offsets


def _shard(tmp_path, kind, name="data.tfrecord", count=4, **kwargs):
  return _write(tmp_path / name, [_example(kind, i, **kwargs)
                                  for i in range(count)])


def _truncated(tmp_path, kind):
  """4 records, the last one cut short."""
  path = _shard(tmp_path, kind)
  data = open(path, "rb").read()
  out = tmp_path / "truncated.tfrecord"
  out.write_bytes(data[:len(data) - 20])
  return str(out)


def _bit_rot(tmp_path, kind, record=1):
  """4 records; a byte in the data of ``record`` flipped (framing intact)."""
  path = _shard(tmp_path, kind)
  data = bytearray(open(path, "rb").read())
  data[_offsets(path)[record] + 12 + 40] ^= 0xFF
  out = tmp_path / "rotten.tfrecord"
  out.write_bytes(bytes(data))
  return str(out)


def _first_line(error):
  return str(error).strip().splitlines()[0]


def _iterate(dataset):
  return [element["image"] for element in dataset.as_numpy_iterator()]


def _in_tf_function(dataset, steps):
  iterator = iter(dataset)

  @tf.function
  def step(iterator):
    return tf.reduce_mean(next(iterator)["image"])

  for _ in range(steps):
    step(iterator)


# ------------------------------------------------------------ image folders

_CHILD = r"""
import sys
from tfface.data import datasets
dataset = datasets.image_folder_dataset(sys.argv[1], 16, batch_size=2)
iterator = iter(dataset)
next(iterator)
raise RuntimeError("a failure elsewhere while the pipeline runs")
"""


def _run_children(folder, runs, timeout=120):
  """``runs`` processes reading ``folder``; a hang is a TimeoutExpired."""
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")

  def child(_):
    return subprocess.run([sys.executable, "-c", _CHILD, str(folder)],
                          env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)

  with concurrent.futures.ThreadPoolExecutor(runs) as pool:
    return list(pool.map(child, range(runs)))


def test_process_reading_an_all_corrupt_folder_exits_with_a_clear_error(
    tmp_path):
  for i in range(3):
    (tmp_path / f"bad{i}.png").write_bytes(b"not a png")
  for done in _run_children(tmp_path, runs=4):
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-2]  # above gin's "In call to"
    assert last.startswith("ValueError: no image of directory"), last
    assert str(tmp_path / "bad0.png") in last
    assert "Unknown image file format" in last


def test_process_exits_while_an_image_pipeline_is_alive(tmp_path):
  # An uncaught exception keeps the iterator alive until the interpreter
  # tears down; its py_function calls must not hang (or abort) the exit.
  for i in range(6):
    (tmp_path / f"{i}.png").write_bytes(
        tf.io.encode_png(_image(i, 32)).numpy())
  (tmp_path / "bad.png").write_bytes(b"not a png")
  for done in _run_children(tmp_path, runs=4):
    assert done.returncode == 1, done.stderr[-2000:]
    # The exception's type and message, checked apart: TF's C++ logger can
    # write its decode warning from a pipeline thread between the two while
    # Python prints the traceback (seen once in a clean run).
    assert "RuntimeError" in done.stderr, done.stderr[-2000:]
    assert "a failure elsewhere while the pipeline runs" in done.stderr


# ---------------------------------------------------------- truncated shards


@pytest.mark.parametrize("kind", sorted(READERS))
def test_truncated_shard_is_named_before_anything_is_built(tmp_path, kind):
  path = _truncated(tmp_path, kind)
  with pytest.raises(ValueError) as error:
    READERS[kind](path, 8)
  line = _first_line(error.value)
  assert line.startswith(f"{path} is a truncated TFRecord file: record #3 ")
  assert "expected a complete file" in line and "skip_corrupt=True" in line
  dataset = READERS[kind](path, 8, shuffle=False, repeat=False,
                          skip_corrupt=True)
  assert len(_iterate(dataset)) == 3
  assert list(dataset.read_stats.skipped) == [f"{path}#3"]
  assert "truncated" in dataset.read_stats.skipped[f"{path}#3"]


@pytest.mark.parametrize("kind", sources.KINDS[1:])  # the TFRecord kinds
def test_image_source_passes_skip_corrupt_on(tmp_path, kind):
  path = _truncated(tmp_path, "pseudo_real" if kind == "tfrecord" else kind)
  with pytest.raises(ValueError, match="is a truncated TFRecord file"):
    sources.image_source(kind, path, 8)
  data = sources.image_source(kind, path, 8, shuffle=False, repeat=False,
                              skip_corrupt=True)
  assert len(_iterate(data)) == 3
  assert data.read_stats.num_skipped == 1


# ------------------------------------------------------ not a TFRecord file


@pytest.mark.parametrize("kind", sorted(READERS))
def test_a_file_that_is_not_a_tfrecord_file_is_named(tmp_path, kind):
  png = tmp_path / "face.png"
  png.write_bytes(tf.io.encode_png(_image(0)).numpy())
  with pytest.raises(ValueError) as error:
    READERS[kind](str(png), 8)
  assert _first_line(error.value).startswith(
      f"{png} is not a TFRecord file (")
  assert "expected TFRecord files of tf.train.Example" in str(error.value)
  # Among good shards: named too; skip_corrupt reads the others.
  good = _shard(tmp_path, "synthetic" if kind == "synthetic" else
                "pseudo_real", name="good.tfrecord")
  with pytest.raises(ValueError, match=f"{png} is not a TFRecord file"):
    READERS[kind]([good, str(png)], 8)
  dataset = READERS[kind]([good, str(png)], 8, shuffle=False, repeat=False,
                          skip_corrupt=True)
  assert len(_iterate(dataset)) == 4
  assert list(dataset.read_stats.skipped) == [f"{png}#0"]


def test_evaluate_export_names_a_heldout_file_that_is_not_a_tfrecord(
    tmp_path):
  from tfface.methods.confignet import evaluation  # pylint: disable=g-import-not-at-top
  export = tmp_path / "export"
  export.mkdir()
  (export / "saved_model.pb").write_bytes(b"")  # checked before it is loaded
  text = tmp_path / "heldout.txt"
  text.write_text("these are not faces\n" * 4)
  with pytest.raises(ValueError) as error:
    evaluation.evaluate_export(str(export), str(text), num_faces=2)
  assert _first_line(error.value).startswith(
      f"{text} is not a TFRecord file")
  with pytest.raises(ValueError, match="no files match"):
    evaluation.evaluate_export(str(export), str(tmp_path / "none-*"))
  pseudo = _shard(tmp_path, "pseudo_real", name="pseudo.tfrecord")
  with pytest.raises(ValueError, match="records without factors"):
    evaluation.evaluate_export(str(export), pseudo)


# --------------------------------------- data that fails its checksum


@pytest.mark.parametrize("kind", sorted(READERS))
def test_a_record_failing_its_checksum_is_named_while_iterating(tmp_path,
                                                                kind):
  # Record #2: the image readers decode record #0 while building.
  path = _bit_rot(tmp_path, kind, record=2)
  dataset = READERS[kind](path, 8, shuffle=False, repeat=False)
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    _iterate(dataset)
  message = datasets.data_error_message(error.value)
  assert message.startswith(f"{path} is a damaged TFRecord file: record #2 "
                            "could not be read (its data fails the TFRecord "
                            "checksum")
  assert "skip_corrupt=True" in message and "\n" not in message
  assert path in _first_line(error.value)  # eagerly, the first line names it
  # Inside a tf.function, TensorFlow's first line is "Graph execution error:";
  # the message is still there, one line.
  dataset = READERS[kind](path, 8, batch_size=1, shuffle=False)
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    _in_tf_function(dataset, 4)
  assert datasets.data_error_message(error.value) == message
  # Skipped: the file ends at the damage; its lost records are counted.
  dataset = READERS[kind](path, 8, shuffle=False, repeat=False,
                          skip_corrupt=True)
  assert len(_iterate(dataset)) == 2
  assert list(dataset.read_stats.skipped) == [f"{path}#2"]
  assert dataset.read_stats.num_unread == 1


def test_the_image_probe_names_a_checksum_failure_it_meets(tmp_path):
  path = _bit_rot(tmp_path, "pseudo_real", record=0)
  with pytest.raises(ValueError) as error:
    datasets.real_tfrecord_dataset(path, 8)
  assert _first_line(error.value).startswith(
      f"{path} is a damaged TFRecord file: record #0 fails the TFRecord data "
      "checksum")


# -------------------------------------------------- records lacking a feature


@pytest.mark.parametrize("kind,feature", [("synthetic", "landmarks"),
                                          ("synthetic", "factors/identity"),
                                          ("synthetic", "image"),
                                          ("pseudo_real", "image")])
def test_a_record_lacking_a_feature_is_named(tmp_path, kind, feature):
  records = [_example(kind, i, drop=feature if i == 2 else None)
             for i in range(4)]
  path = _write(tmp_path / "data.tfrecord", records)
  dataset = READERS[kind](path, 8, shuffle=False, repeat=False)
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    _iterate(dataset)
  message = datasets.data_error_message(error.value)
  assert message.startswith(f"{path}#2 is not a complete tfface ")
  assert feature in message and "expected" in message
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    _in_tf_function(READERS[kind](path, 8, batch_size=1, shuffle=False), 4)
  assert datasets.data_error_message(error.value) == message
  dataset = READERS[kind](path, 8, shuffle=False, repeat=False,
                          skip_corrupt=True)
  got = list(dataset.as_numpy_iterator())
  assert len(got) == 3
  assert list(dataset.read_stats.skipped) == [f"{path}#2"]
  if kind == "synthetic":
    assert [float(e["factors"]["identity"][0]) for e in got] == [0, 1, 3]
  # In the first record of a file, it is found before building.
  path = _write(tmp_path / "first.tfrecord", records[2:] + records[:2])
  with pytest.raises(ValueError) as error:
    READERS[kind](path, 8)
  line = _first_line(error.value)
  assert line.startswith(f"{path}#0 ")
  assert feature in line


def test_shards_of_two_factor_tables_in_one_glob_are_named(tmp_path):
  first = _shard(tmp_path, "synthetic", name="a.tfrecord")
  other = schema.make_example(
      _image(0), schema.SYNTHETIC,
      collections.OrderedDict([("identity", np.zeros(7, np.float32)),
                               ("pose", np.zeros(3, np.float32))]),
      np.zeros([8, 8, 1], np.uint8), np.zeros([68, 2], np.float32))
  second = _write(tmp_path / "b.tfrecord", [other])
  with pytest.raises(ValueError) as error:
    datasets.synthetic_dataset(str(tmp_path / "*.tfrecord"), 8)
  line = _first_line(error.value)
  assert line.startswith(f"{second} holds synthetic records with factors "
                         "identity=7, pose=3, but ")
  assert f"{first} holds synthetic records with factors identity=5" in line
  pseudo = _shard(tmp_path, "pseudo_real", name="c.tfrecord")
  with pytest.raises(ValueError, match=f"{pseudo} holds pseudo_real records "
                     "without factors, but"):
    datasets.synthetic_dataset([first, pseudo], 8)


# ------------------------------------------ another factor table than the model's


def test_confignet_data_for_another_factor_table_fails_before_training(
    tmp_path):
  from tests.methods.confignet import fixtures  # pylint: disable=g-import-not-at-top
  from tfface import config  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import data as cn_data  # pylint: disable=g-import-not-at-top
  from tfface.training import train_lib  # pylint: disable=g-import-not-at-top
  synthetic, real = fixtures.write_toy_data(str(tmp_path / "data"), count=4)
  kwargs = dict(synthetic_pattern=synthetic, real_source=real, image_size=32)
  # The fixture's own table fits; one of another size or name does not.
  cn_data.confignet_dataset(4, factor_table=fixtures.TABLE, **kwargs)
  wrong = dict(fixtures.TABLE, identity=(5, 2), hair=(3, 2))
  with pytest.raises(ValueError) as error:
    cn_data.confignet_dataset(4, factor_table=wrong, **kwargs)
  line = _first_line(error.value)
  assert line.startswith(f"the synthetic faces {synthetic!r} (e.g. ")
  assert "(no hair; identity has 3 values, the model 5)" in line
  assert ("the data holds expression=4, identity=3, sh=2, pose=3, the model "
          "reads expression=4, hair=3, identity=5, sh=2, pose=3") in line
  # Through gin and train(): the table the method is configured with, checked
  # when the dataset is built -- before any network or tf.function exists.
  gin_file = os.path.join(REPO, "gin", "confignet", "test.gin")
  bindings = [f"confignet_dataset.synthetic_pattern = '{synthetic}'",
              f"confignet_dataset.real_source = '{real}'",
              "FACTORS = {'expression': (4, 3), 'identity': (5, 2), "
              "'sh': (2, 2)}"]
  for method in ("ConfigNetStage1", "ConfigNetStage2"):
    gin.clear_config()
    config.parse_config([gin_file], bindings + [f"train.method = @{method}"])
    assert dict(cn_data.configured_factor_table().as_dict()) == {
        "expression": (4, 3), "identity": (5, 2), "sh": (2, 2)}
    with pytest.raises(ValueError) as error:
      train_lib.train(model_dir=str(tmp_path / method))
    assert "identity has 3 values, the model 5" in _first_line(error.value)
    assert not os.path.exists(tmp_path / method)
  # Without a ConfigNet stage in gin there is no table to check against.
  gin.clear_config()
  assert cn_data.configured_factor_table() is None


# --------------------------------------------- pipelines that call Python


@pytest.mark.parametrize("reader", ["folder", "tfrecord", "skip_corrupt"])
def test_pipelines_calling_python_can_be_checkpointed(tmp_path, reader):
  if reader == "folder":
    for i in range(4):
      (tmp_path / f"{i}.png").write_bytes(tf.io.encode_png(_image(i)).numpy())
    dataset = datasets.image_folder_dataset(str(tmp_path), 8, batch_size=2)
  elif reader == "tfrecord":
    dataset = datasets.real_tfrecord_dataset(
        _shard(tmp_path, "pseudo_real"), 8, batch_size=2)
  else:
    dataset = datasets.synthetic_dataset(_shard(tmp_path, "synthetic"), 8,
                                         batch_size=2, skip_corrupt=True)
  iterator = iter(dataset)
  next(iterator)
  saved = tf.train.Checkpoint(iterator=iterator).save(
      str(tmp_path / "ckpt" / "it"))
  expected = next(iterator)["image"].numpy()
  restored = iter(dataset)
  tf.train.Checkpoint(iterator=restored).restore(saved)
  np.testing.assert_array_equal(next(restored)["image"].numpy(), expected)
  shutil.rmtree(tmp_path / "ckpt")
