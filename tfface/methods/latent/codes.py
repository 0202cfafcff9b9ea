"""Frozen autoencoders and the latent-code tables the latent models train on.

The conditional latent GANs, the keypoint mapper and the baseline's latent
arithmetic all work on the codes ``z = E(x)`` of a frozen autoencoder. Any
autoencoder that follows :class:`LatentAutoencoder` (ACAI here, the baseline
AE, StyleALAE in :mod:`tfface.methods.latent.alae`) can be used:

* ``encode(images)``: `[B, H, W, 3]` float32 in [-1, 1] -> `[B, Z]` float32;
* ``decode(z)``: `[B, Z]` -> `[B, H, W, 3]` float32 (about [-1, 1]);
* ``code_size`` (Z) and ``image_size`` (H = W) ints.

**Weights files.** :func:`save_autoencoder` writes a self-describing ``.npz``
(the tfface weights container, :mod:`tfface.networks.stylegan2_weights`):
``config`` = ``{"autoencoder": {"kind", "config", "metadata"}}`` and one array
per variable under ``autoencoder/<attribute path>``
(:func:`tfface.analysis.weights.named_variables`). A kind registers its
builder with :func:`register_kind` (``"acai"``, ``"latent_baseline"``; the
ALAE module registers its own); :func:`load_autoencoder` rebuilds it.

**Run directories.** :func:`load_autoencoder` also takes a training run
(``tools/train.py``'s ``operative_config.gin`` + ``checkpoints/``) whose
method has an ``autoencoder()`` method. It reads ``<run>/autoencoder.npz``,
which :func:`write_run_autoencoder` writes from the run's newest checkpoint;
when that file is missing or older than the newest checkpoint it is written
first, **in a child process**: restoring a run parses its gin config, and the
caller (a latent GAN being built by ``tools/train.py``) holds a different,
finalized gin config that must not be touched.

**The codes table** (:func:`cached_codes`). The labeled synthetic faces are
encoded once with the frozen encoder and cached as ``codes-<key>.npz`` next
to the autoencoder's weights file; the key hashes the weights file and the
data files (names, sizes, modification times) and the image size, so a
retrained autoencoder or new data gives a new table. Why a cache rather than
encoding inside the input pipeline: the encoder is frozen, so the codes are a
pure function of (weights, data); every latent model, every run of it and the
evaluator read the same table, encoding costs a pass of a convolutional
encoder over every face (about a minute for 4000 faces at 64 px on a CPU)
while an epoch over the table costs nothing, and the GAN steps then run on
`[B, Z]` vectors only. The table holds the codes (no flip or other
augmentation), every factor θ_i, the 68 landmarks (pixels at the image size),
the identity id and the render style of each face.

**Held-out faces** are whole identities: identity ``i`` is held out when
``i % heldout_modulus == heldout_modulus - 1`` (:func:`heldout_mask`), the
same rule for images (:mod:`tfface.methods.latent.data`) and codes.
"""

import hashlib
import json
import os
import subprocess
import sys
from typing import Any, Callable, Dict, Mapping, Optional, Protocol
from typing import runtime_checkable

from absl import logging
import numpy as np
import tensorflow as tf

from tfface.networks import stylegan2_weights

WeightsError = stylegan2_weights.WeightsError
AUTOENCODER_FILE = "autoencoder.npz"
_PREFIX = "autoencoder/"
_BUILDERS: Dict[str, Callable[[Mapping[str, Any]], tf.keras.Model]] = {}
# The module that registers each kind (imported lazily: no cycles).
_KIND_MODULES = {"acai": "tfface.methods.latent.acai",
                 "latent_baseline": "tfface.methods.latent.baseline",
                 "alae": "tfface.methods.latent.alae"}


@runtime_checkable
class LatentAutoencoder(Protocol):
  """What the latent models need of a frozen autoencoder (see module doc)."""

  code_size: int
  image_size: int

  def encode(self, images: tf.Tensor) -> tf.Tensor:
    """`[B, H, W, 3]` float32 in [-1, 1] -> `[B, Z]` float32."""

  def decode(self, z: tf.Tensor) -> tf.Tensor:
    """`[B, Z]` float32 -> `[B, H, W, 3]` float32."""


def register_kind(kind: str):
  """Class decorator: the class rebuilds as ``cls.from_config(config)``.

  The class must be a Keras model following :class:`LatentAutoencoder`, with
  ``from_config(config) -> built model`` and ``autoencoder_config() -> dict``
  (JSON-serializable constructor arguments).
  """
  def decorate(cls):
    if kind in _BUILDERS and _BUILDERS[kind] is not cls.from_config:
      raise ValueError(f"autoencoder kind {kind!r} is registered twice")
    _BUILDERS[kind] = cls.from_config
    cls.autoencoder_kind = kind
    return cls
  return decorate


def _import_kinds(kinds=None) -> None:
  """Imports the modules registering ``kinds`` (default: every known one).

  The import may run while a training process holds a finalized gin config
  (a latent GAN's ``build()`` loading its autoencoder), and the modules
  define gin configurables, so it runs with the config unlocked.
  """
  import importlib  # pylint: disable=g-import-not-at-top
  import gin  # pylint: disable=g-import-not-at-top
  for kind in (kinds if kinds is not None else list(_KIND_MODULES)):
    module = _KIND_MODULES.get(kind)
    if module is None or kind in _BUILDERS:
      continue
    try:
      with gin.unlock_config():
        importlib.import_module(module)
    except ModuleNotFoundError as e:
      if e.name != module:
        raise


def registered_kinds():
  _import_kinds()
  return tuple(sorted(_BUILDERS))


def save_autoencoder(path: str, autoencoder: tf.keras.Model,
                     metadata: Optional[Mapping[str, Any]] = None) -> None:
  """Writes a built autoencoder of a registered kind, atomically.

  Args:
    path: the ``.npz`` to write.
    autoencoder: a built model whose class was registered (:func:`register_kind`).
    metadata: free-form JSON-able facts (source run, checkpoint, step).
  """
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  kind = getattr(type(autoencoder), "autoencoder_kind", None)
  if kind is None:
    raise WeightsError(f"{type(autoencoder).__name__} is not a registered "
                       "autoencoder kind (use @codes.register_kind)")
  header = {"autoencoder": {"kind": kind,
                            "config": dict(autoencoder.autoencoder_config()),
                            "metadata": dict(metadata or {})}}
  arrays = {_PREFIX + k: v
            for k, v in analysis_weights.network_arrays(autoencoder).items()}
  stylegan2_weights.save_weights(path, header, arrays)


def load_autoencoder_file(path: str) -> tf.keras.Model:
  """Rebuilds an autoencoder from a file written by :func:`save_autoencoder`.

  Returns:
    The built model; ``model.weights_metadata`` holds the file's metadata and
    ``model.weights_path`` the path.

  Raises:
    FileNotFoundError: no file; WeightsError: not an autoencoder weights
      file, an unknown kind or weights that do not fit.
  """
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  header, arrays = stylegan2_weights.load_weights(path)
  entry = header.get("autoencoder")
  if not isinstance(entry, dict) or "kind" not in entry:
    raise WeightsError(f"{path} is not an autoencoder weights file (its config "
                       "has no 'autoencoder' entry); expected a file written "
                       "by tfface.methods.latent.codes.save_autoencoder")
  kind = entry["kind"]
  _import_kinds([kind])
  if kind not in _BUILDERS:
    raise WeightsError(f"{path}: unknown autoencoder kind {kind!r}; expected "
                       f"one of {sorted(_BUILDERS)}")
  model = _BUILDERS[kind](entry.get("config", {}))
  arrays = {k[len(_PREFIX):]: v for k, v in arrays.items()
            if k.startswith(_PREFIX)}
  analysis_weights.assign_arrays(model, arrays, f"{path} ({kind})")
  model.trainable = False
  model.weights_metadata = dict(entry.get("metadata", {}))
  model.weights_path = path
  return model


def _is_run_dir(path: str) -> bool:
  return os.path.isdir(path) and os.path.isfile(
      os.path.join(path, "operative_config.gin"))


def run_autoencoder_path(run_dir: str) -> str:
  """``<run_dir>/autoencoder.npz``."""
  return os.path.join(run_dir, AUTOENCODER_FILE)


def write_run_autoencoder(run_dir: str) -> str:
  """Restores a run and writes its ``autoencoder()`` to ``<run>/autoencoder.npz``.

  Parses the run's gin config into the current (unfinalized) gin config:
  call it in a process of its own (:func:`load_autoencoder` does).

  Returns:
    The written path.

  Raises:
    ValueError: the run's method has no ``autoencoder()``.
  """
  from tfface.training import checkpoints  # pylint: disable=g-import-not-at-top
  from tfface.training import restore  # pylint: disable=g-import-not-at-top
  method = restore.restore_run(run_dir)
  if not hasattr(method, "autoencoder"):
    raise ValueError(f"the run in {run_dir!r} ({type(method).__name__}) has no "
                     "autoencoder(); expected an ACAI, baseline, decoder "
                     "fine-tuning or ALAE run")
  checkpoint = checkpoints.resolve_checkpoint(run_dir)
  path = run_autoencoder_path(run_dir)
  save_autoencoder(path, method.autoencoder(), {
      "run": os.path.abspath(run_dir),
      "checkpoint": os.path.basename(checkpoint),
      "step": int(method.global_step.numpy()),
      "method": type(method).__name__})
  return path


def _run_file_is_current(run_dir: str) -> bool:
  from tfface.training import checkpoints  # pylint: disable=g-import-not-at-top
  path = run_autoencoder_path(run_dir)
  if not os.path.isfile(path):
    return False
  latest = checkpoints.latest_checkpoint(run_dir)
  try:
    header, _ = stylegan2_weights.load_weights(path)
  except (OSError, WeightsError):
    return False
  stored = header.get("autoencoder", {}).get("metadata", {}).get("checkpoint")
  return latest is None or stored == os.path.basename(latest)


def load_autoencoder(path: str) -> tf.keras.Model:
  """A frozen :class:`LatentAutoencoder` from a weights file or a run.

  Args:
    path: an autoencoder weights ``.npz`` (:func:`save_autoencoder`), or a
      training run directory whose method has ``autoencoder()`` (ACAI,
      baseline, decoder fine-tuning, ALAE): its ``autoencoder.npz`` is
      (re)written from the newest checkpoint in a child process when needed.

  Returns:
    The built model, frozen (``trainable = False``).

  Raises:
    FileNotFoundError: nothing at ``path``.
    ValueError: neither a weights file nor a run with an autoencoder (the
      child's last error line is quoted).
  """
  path = os.fspath(path or "")
  if not path:
    raise ValueError("no autoencoder given: expected an autoencoder weights "
                     ".npz or an ACAI/baseline/ALAE training run directory")
  if os.path.isfile(path):
    return load_autoencoder_file(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f"no autoencoder at {path!r}: expected an "
                            "autoencoder weights .npz or a training run "
                            "directory")
  if not _is_run_dir(path):
    raise ValueError(f"{path!r} is a directory without operative_config.gin: "
                     "expected an autoencoder weights .npz or a training run "
                     "directory written by tools/train.py")
  if not _run_file_is_current(path):
    logging.info("writing %s from the run's newest checkpoint",
                 run_autoencoder_path(path))
    script = ("import sys\nfrom tfface.methods.latent import codes\n"
              "codes.write_run_autoencoder(sys.argv[1])\n")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [repo] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["CUDA_VISIBLE_DEVICES"] = ""  # the child only copies weights
    result = subprocess.run([sys.executable, "-c", script, path],
                            capture_output=True, text=True, env=env,
                            check=False)
    if result.returncode != 0:
      lines = [l for l in result.stderr.strip().splitlines() if l.strip()]
      last = lines[-1] if lines else f"exit status {result.returncode}"
      raise ValueError(f"cannot read the autoencoder of run {path!r}: {last}")
  return load_autoencoder_file(run_autoencoder_path(path))


# -- the codes table ------------------------------------------------------------

def heldout_mask(identity, modulus: int) -> np.ndarray:
  """True for faces of held-out identities (``id % modulus == modulus - 1``).

  ``modulus`` 0 or 1 means "no held-out faces" (1 would otherwise hold out
  every face).
  """
  identity = np.asarray(identity)
  if modulus <= 1:
    return np.zeros(identity.shape, bool)
  return identity % modulus == modulus - 1


def encode_faces(autoencoder, file_pattern: str, image_size: int,
                 batch_size: int = 64,
                 max_faces: Optional[int] = None) -> Dict[str, np.ndarray]:
  """Encodes every labeled synthetic face of ``file_pattern`` once.

  Args:
    autoencoder: a :class:`LatentAutoencoder`.
    file_pattern: the ``labeled`` TFRecord shards.
    image_size: size the faces are read at (the autoencoder's).
    batch_size: encoder batch.
    max_faces: stop after this many (tests).

  Returns:
    ``z`` `[N, Z]` float32; ``landmarks`` `[N, 68, 2]` float32 pixels at
    ``image_size``; ``identity`` `[N]` int32; ``pseudo_real`` `[N]` float32;
    ``factor/<name>`` `[N, n]` float32 for every factor θ_i; ``factor_names``
    (the names, in the shards' order).
  """
  from tfface.data import datasets  # pylint: disable=g-import-not-at-top
  data = datasets.synthetic_dataset(file_pattern, image_size,
                                    batch_size=None, shuffle=False,
                                    repeat=False, analysis_labels=True)
  names = list(data.factor_sizes)
  data = data.batch(batch_size)

  @tf.function
  def encode(images):
    return autoencoder.encode(images)

  parts: Dict[str, list] = {"z": [], "landmarks": [], "identity": [],
                            "pseudo_real": []}
  for name in names:
    parts[f"factor/{name}"] = []
  count = 0
  for batch in data:
    parts["z"].append(encode(batch["image"]).numpy())
    parts["landmarks"].append(batch["landmarks"].numpy())
    parts["identity"].append(batch["identity"].numpy())
    parts["pseudo_real"].append(batch["pseudo_real"].numpy())
    for name in names:
      parts[f"factor/{name}"].append(batch["factors"][name].numpy())
    count += int(batch["image"].shape[0])
    if max_faces and count >= max_faces:
      break
  if not count:
    raise ValueError(f"no faces in {file_pattern!r}")
  out = {k: np.concatenate(v)[:max_faces or None] for k, v in parts.items()}
  out["z"] = out["z"].astype(np.float32)
  out["identity"] = out["identity"].astype(np.int32)
  out["factor_names"] = np.asarray(names)
  return out


def _fingerprint(path: str) -> str:
  digest = hashlib.sha1()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def codes_key(weights_path: str, file_pattern: str, image_size: int,
              max_faces: Optional[int] = None) -> str:
  """The cache key: weights content, data files (name, size, mtime), size."""
  files = sorted(tf.io.gfile.glob(file_pattern))
  if not files:
    raise ValueError(f"no files match {file_pattern!r}; expected the labeled "
                     "synthetic TFRecord shards (tools/make_synthetic.py "
                     "--mode=labeled)")
  stats = [(os.path.abspath(f), os.path.getsize(f), int(os.path.getmtime(f)))
           for f in files]
  text = json.dumps({"weights": _fingerprint(weights_path), "files": stats,
                     "image_size": int(image_size),
                     "max_faces": max_faces}, sort_keys=True)
  return hashlib.sha1(text.encode()).hexdigest()[:16]


def save_table(path: str, table: Mapping[str, np.ndarray]) -> None:
  """Writes a codes table ``.npz`` atomically."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp.npz"
  with open(tmp, "wb") as f:
    np.savez(f, **table)
  os.replace(tmp, path)


def load_table(path: str) -> Dict[str, np.ndarray]:
  """Reads a codes table (a cache or a user's ``.npz`` with at least ``z``).

  Raises:
    ValueError: no readable ``.npz`` with a `[N, Z]` ``z``.
  """
  try:
    with np.load(path, allow_pickle=False) as data:
      table = {k: data[k] for k in data.files}
  except (OSError, ValueError) as e:
    raise ValueError(f"cannot read the codes table {path!r}: expected an .npz "
                     f"with a [N, Z] 'z' ({e})") from e
  if "z" not in table or table["z"].ndim != 2:
    raise ValueError(f"codes table {path!r} has no [N, Z] 'z' entry (keys "
                     f"{sorted(table)})")
  return table


def cached_codes(autoencoder_source: str, file_pattern: str,
                 image_size: Optional[int] = None,
                 max_faces: Optional[int] = None,
                 autoencoder=None) -> Dict[str, np.ndarray]:
  """The codes table of the labeled faces under a frozen autoencoder.

  Reads ``codes-<key>.npz`` next to the autoencoder's weights file or
  encodes the faces and writes it (see the module docstring).

  Args:
    autoencoder_source: a weights file or run directory
      (:func:`load_autoencoder`).
    file_pattern: the labeled TFRecord shards.
    image_size: read size (default the autoencoder's).
    max_faces: encode only the first N faces (tests).
    autoencoder: the already loaded model (saves loading it again).

  Returns:
    The table of :func:`encode_faces`; ``table["path"]`` is not included,
    the cache path is logged.
  """
  ae = autoencoder if autoencoder is not None else load_autoencoder(
      autoencoder_source)
  weights_path = getattr(ae, "weights_path", None)
  if weights_path is None:
    weights_path = (run_autoencoder_path(autoencoder_source)
                    if os.path.isdir(autoencoder_source)
                    else autoencoder_source)
  size = int(image_size or ae.image_size)
  key = codes_key(weights_path, file_pattern, size, max_faces)
  path = os.path.join(os.path.dirname(os.path.abspath(weights_path)),
                      f"codes-{key}.npz")
  if os.path.isfile(path):
    logging.info("latent codes from %s", path)
    return load_table(path)
  logging.info("encoding the faces of %s into %s", file_pattern, path)
  table = encode_faces(ae, file_pattern, size, max_faces=max_faces)
  save_table(path, table)
  return table


def factors_of(table: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
  """``name -> [N, n]`` factor arrays of a codes table."""
  return {k[len("factor/"):]: v for k, v in table.items()
          if k.startswith("factor/")}
