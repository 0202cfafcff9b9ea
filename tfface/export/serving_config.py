"""The files stock TF Serving reads beside a tfface export.

* ``models.config``: a ``ModelServerConfig`` text proto listing each model's
  name and base path (the directory holding its numbered versions);
* ``batching_parameters.txt``: the ``BatchingParameters`` text proto for
  ``--enable_batching --batching_parameters_file=...``;
* ``<version>/assets.extra/tf_serving_warmup_requests``: a TFRecord file of
  ``PredictionLog``s the server replays when it loads a version, so the first
  real request does not pay for tracing and memory allocation.

Every file is written to a temporary name and renamed into place.
"""

import os
from typing import Mapping, Sequence, Tuple

from google.protobuf import text_format
import tensorflow as tf

from tfface.data import sharded_writer
from tfface.export import serving

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
# TF Serving replays at most this many warm-up records.
MAX_WARMUP_RECORDS = 1000


def _atomic_write(path: str, data: bytes) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(data)
  os.replace(tmp, path)


def models_config_text(models: Mapping[str, str]) -> str:
  """A ``ModelServerConfig`` text proto.

  Args:
    models: model name -> base path (the directory of numbered versions; the
      server loads the newest). Paths are written as given.
  """
  from tensorflow_serving.config import model_server_config_pb2  # pylint: disable=g-import-not-at-top
  if not models:
    raise ValueError("models.config needs at least one model")
  config = model_server_config_pb2.ModelServerConfig()
  for name, base_path in models.items():
    if not name or "/" in name:
      raise ValueError(f"model name {name!r} must be a non-empty name "
                       "without '/'")
    entry = config.model_config_list.config.add()
    entry.name = name
    entry.base_path = base_path
    entry.model_platform = "tensorflow"
  return text_format.MessageToString(config)


def write_models_config(path: str, models: Mapping[str, str]) -> str:
  """Writes :func:`models_config_text` to ``path``; returns ``path``."""
  header = ("# TF Serving model config written by tfface's export tool:\n"
            "#   tensorflow_model_server --rest_api_port=8501 --port=8500 \\\n"
            f"#       --model_config_file={os.path.abspath(path)}\n")
  _atomic_write(path, (header + models_config_text(models)).encode())
  return path


def batching_parameters_text(max_batch_size: int = 32,
                             batch_timeout_micros: int = 2000,
                             max_enqueued_batches: int = 100,
                             num_batch_threads: int = 4,
                             allowed_batch_sizes: Sequence[int] = (1, 8, 32)
                             ) -> str:
  """A ``BatchingParameters`` text proto (TF Serving's batching guide).

  ``allowed_batch_sizes`` must increase and end at ``max_batch_size``
  (TF Serving pads each batch up to the next allowed size).
  """
  sizes = [int(s) for s in allowed_batch_sizes]
  if sizes and (sizes != sorted(set(sizes)) or sizes[-1] != max_batch_size):
    raise ValueError("allowed_batch_sizes must increase and end at "
                     f"max_batch_size={max_batch_size}, got {sizes}")
  lines = [f"max_batch_size {{ value: {int(max_batch_size)} }}",
           f"batch_timeout_micros {{ value: {int(batch_timeout_micros)} }}",
           f"max_enqueued_batches {{ value: {int(max_enqueued_batches)} }}",
           f"num_batch_threads {{ value: {int(num_batch_threads)} }}"]
  lines += [f"allowed_batch_sizes: {s}" for s in sizes]
  return "\n".join(lines) + "\n"


def write_batching_parameters(path: str, **kwargs) -> str:
  """Writes :func:`batching_parameters_text` to ``path``; returns ``path``."""
  _atomic_write(path, batching_parameters_text(**kwargs).encode())
  return path


def warmup_records(model: str,
                   requests: Sequence[Tuple[str, Mapping[str, object]]]
                   ) -> Sequence[bytes]:
  """Serialized ``PredictionLog``s, one per ``(signature, inputs)``."""
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  if not 0 < len(requests) <= MAX_WARMUP_RECORDS:
    raise ValueError(f"warm-up needs 1..{MAX_WARMUP_RECORDS} requests, got "
                     f"{len(requests)}")
  records = []
  for signature, inputs in requests:
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(
            request=serving.grpc_predict_request(model, signature, inputs)))
    records.append(log.SerializeToString())
  return records


def write_warmup_requests(version_dir: str, model: str,
                          requests: Sequence[Tuple[str, Mapping[str, object]]]
                          ) -> str:
  """Writes ``<version_dir>/assets.extra/tf_serving_warmup_requests``.

  Returns:
    the file's path.
  """
  path = os.path.join(version_dir, WARMUP_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  sharded_writer.write_records_atomically(path,
                                          warmup_records(model, requests))
  return path


def read_warmup_requests(version_dir: str) -> Sequence[object]:
  """The ``PredictRequest``s of a version's warm-up file (for checks)."""
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  path = os.path.join(version_dir, WARMUP_FILE)
  requests = []
  for record in tf.data.TFRecordDataset(path):
    log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
    requests.append(log.predict_log.request)
  return requests



def write_serving_files(base_dir: str, model_name: str) -> Tuple[str, str]:
  """``models.config`` and ``batching_parameters.txt`` in ``base_dir``.

  The config serves ``base_dir`` (as an absolute path) under ``model_name``;
  start the server with::

    tensorflow_model_server --port=8500 --rest_api_port=8501 \\
        --model_config_file=<base_dir>/models.config \\
        --enable_batching --batching_parameters_file=<base_dir>/batching_parameters.txt

  Returns:
    the two paths.
  """
  base = os.path.abspath(base_dir)
  return (write_models_config(os.path.join(base, "models.config"),
                              {model_name: base}),
          write_batching_parameters(
              os.path.join(base, "batching_parameters.txt")))
