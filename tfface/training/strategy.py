"""Choosing a ``tf.distribute`` strategy by name.

Names:
  * ``default``: one device (the first GPU if there is one, else the CPU).
  * ``mirrored``: every local GPU; on a machine without GPUs, ``num_cpu_replicas``
    logical CPU devices (for testing data parallelism on a laptop or CI).
  * ``multi_worker``: ``MultiWorkerMirroredStrategy`` configured from the
    ``TF_CONFIG`` environment variable (one process per host).
  * ``tpu``: ``TPUStrategy`` on the TPU named by ``tpu_address`` (or the local one).
"""

import json
import os
from typing import Dict, Optional, Sequence, Tuple

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")

# One MirroredStrategy per device set and process. Each new strategy object
# starts its collective group and instance keys at the same numbers, so a
# second strategy over the same devices in one process (several trainers,
# a test suite) collides with the first one's collectives ("Shape mismatch in
# the collective instance 100").
_MIRRORED: Dict[Tuple[str, ...], tf.distribute.MirroredStrategy] = {}


def _mirrored(devices: Optional[Sequence[str]] = None
              ) -> tf.distribute.MirroredStrategy:
  key = tuple(devices) if devices else ("<all-gpus>",)
  if key not in _MIRRORED:
    _MIRRORED[key] = tf.distribute.MirroredStrategy(
        devices=list(devices) if devices else None)
  return _MIRRORED[key]


def configure_cpu_replicas(num_replicas: int) -> None:
  """Splits the physical CPU into ``num_replicas`` logical devices.

  Must run before TensorFlow initializes its devices. Calling it again with a
  number of replicas that is already configured is allowed.

  Raises:
    RuntimeError: devices were already initialized with another split.
  """
  if num_replicas < 1:
    raise ValueError(f"num_cpu_replicas must be >= 1, got {num_replicas}")
  cpu = tf.config.list_physical_devices("CPU")[0]
  existing = tf.config.get_logical_device_configuration(cpu)
  if existing is not None and len(existing) >= num_replicas:
    return
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_replicas)
  except RuntimeError as e:
    have = len(tf.config.list_logical_devices("CPU"))
    if have >= num_replicas:
      return
    raise RuntimeError(
        f"cannot create {num_replicas} logical CPU devices: TensorFlow already "
        f"initialized {have}; configure them before any TensorFlow op runs") from e


def make_strategy(name: str = "default",
                  num_cpu_replicas: int = 1,
                  tpu_address: Optional[str] = None) -> tf.distribute.Strategy:
  """Returns the strategy called ``name`` (see the module docstring).

  ``mirrored`` returns the same strategy object for the same devices within a
  process (see ``_MIRRORED``).

  Raises:
    ValueError: unknown name, or ``multi_worker`` without a valid TF_CONFIG.
  """
  if name not in STRATEGIES:
    raise ValueError(f"unknown strategy {name!r}; expected one of {STRATEGIES}")
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
      return _mirrored()
    configure_cpu_replicas(num_cpu_replicas)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    return _mirrored(devices[:num_cpu_replicas])
  if name == "multi_worker":
    config = os.environ.get("TF_CONFIG")
    if not config:
      raise ValueError("strategy 'multi_worker' needs the TF_CONFIG environment "
                       "variable with 'cluster' and 'task' entries")
    try:
      parsed = json.loads(config)
      parsed["cluster"]["worker"], parsed["task"]["index"]  # pylint: disable=pointless-statement
    except (ValueError, KeyError, TypeError) as e:
      raise ValueError("TF_CONFIG must be JSON with cluster.worker and "
                       f"task.index; got {config!r}") from e
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING)
    return tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=options)
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """True for the process that writes checkpoints and summaries."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not isinstance(
      strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  return task_type in (None, "chief") or (task_type == "worker" and task_id == 0
                                          and "chief" not in
                                          resolver.cluster_spec().as_dict())


def task_index(strategy: tf.distribute.Strategy) -> int:
  """Index of this worker (0 for single-process strategies)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not isinstance(
      strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return 0
  return int(resolver.task_id or 0)
