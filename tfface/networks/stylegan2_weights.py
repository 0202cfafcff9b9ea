"""StyleGAN2 weights files, and loading a trained or converted generator.

A tfface weights file is an ``.npz`` archive: ``generator/<name>`` and
``discriminator/<name>`` arrays, named as in
:meth:`~tfface.networks.stylegan2.Generator.named_variables` /
:meth:`~tfface.networks.stylegan2.Discriminator.named_variables`, plus
``config`` (JSON with the constructor arguments). ``tools/convert_weights.py``
writes them from released PyTorch checkpoints
(:mod:`tfface.methods.stylegan2.convert`); :func:`export_model_weights` writes
them from tfface models.

Methods that build on a frozen StyleGAN2 (DiscoFaceGAN, StyleRig, LiftedGAN,
the latent models) take their generator from one entry point::

    from tfface.networks import load_stylegan2_generator
    g = load_stylegan2_generator(path_or_run_dir)

which reads either a weights ``.npz`` or a StyleGAN2 training run directory.
"""

import json
import os
import zipfile
from typing import Any, Dict, Mapping, Sequence, Tuple

import numpy as np

from tfface.networks import stylegan2

Arrays = Dict[str, np.ndarray]


class WeightsError(ValueError):
  """Weights do not fit the file format or the architecture."""


def save_weights(path: str, config: Mapping[str, Any], arrays: Arrays) -> None:
  """Writes a tfface weights ``.npz`` atomically (temporary name, rename).

  Args:
    path: the file to write (its directory is created).
    config: ``{"generator": {...}, "discriminator": {...}}`` constructor
      arguments (either may be absent), JSON-serializable.
    arrays: ``generator/<name>`` / ``discriminator/<name>`` -> array.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp = path + ".tmp.npz"
  payload = dict(arrays)
  payload["config"] = np.asarray(json.dumps(config))
  with open(tmp, "wb") as f:
    np.savez(f, **payload)
  os.replace(tmp, path)


def load_weights(path: str) -> Tuple[Dict[str, Any], Arrays]:
  """Reads a tfface weights ``.npz`` -> ``(config, arrays)``.

  Raises:
    FileNotFoundError: no file at ``path``.
    WeightsError: the file is no ``.npz`` archive or has no ``config``.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no tfface weights file at {path!r}")
  try:
    data = np.load(path, allow_pickle=False)
  except (OSError, ValueError, zipfile.BadZipFile) as e:
    raise WeightsError(f"{path} is not a tfface weights file: expected an "
                       f".npz archive with a 'config' entry ({e})") from e
  if not isinstance(data, np.lib.npyio.NpzFile):
    raise WeightsError(f"{path} is not a tfface weights file: it holds one "
                       "array; expected an .npz archive with a 'config' entry")
  with data:
    if "config" not in data.files:
      raise WeightsError(f"{path} is not a tfface weights file (no 'config' "
                         "entry)")
    try:
      config = json.loads(str(data["config"]))
    except ValueError as e:
      raise WeightsError(f"{path}: its 'config' entry is not JSON ({e})"
                         ) from e
    arrays = {k: data[k] for k in data.files if k != "config"}
  return config, arrays


def assign_named(variables: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                 what: str = "model") -> None:
  """Assigns ``arrays[name]`` to ``variables[name]`` for every name.

  Raises:
    WeightsError: the name sets differ or a shape does not match.
  """
  missing = sorted(set(variables) - set(arrays))
  extra = sorted(set(arrays) - set(variables))
  if missing or extra:
    raise WeightsError(f"{what} weights do not match the architecture: "
                       f"missing {missing[:5]}, unexpected {extra[:5]}")
  for name, variable in variables.items():
    value = np.asarray(arrays[name], np.float32)
    if tuple(variable.shape) != value.shape:
      raise WeightsError(f"{what} weight {name!r}: expected shape "
                         f"{tuple(variable.shape)}, got {value.shape}")
    variable.assign(value)


def _subset(arrays: Arrays, prefix: str) -> Arrays:
  return {k[len(prefix):]: v for k, v in arrays.items()
          if k.startswith(prefix)}


def build_generator(config: Mapping[str, Any], arrays: Arrays,
                    **kwargs) -> stylegan2.Generator:
  """A built :class:`~tfface.networks.stylegan2.Generator` holding ``arrays``.

  Args:
    config: the ``generator`` config (:meth:`Generator.config`, or the
      converter's ``generator_config``).
    arrays: generator names -> arrays (without the ``generator/`` prefix).
    **kwargs: extra constructor arguments (e.g. ``fused_modconv``).

  Raises:
    WeightsError: the arrays do not fit the architecture.
  """
  channels = {int(k): int(v) for k, v in config["channels"].items()}
  generator = stylegan2.Generator(
      int(config["resolution"]), channels, z_dim=int(config["z_dim"]),
      style_dim=int(config["style_dim"]),
      mapping_layers=int(config["mapping_layers"]),
      mapping_lr_multiplier=float(config.get("mapping_lr_multiplier", 0.01)),
      **kwargs)
  generator.build_all()
  assign_named(generator.named_variables(), arrays, "generator")
  return generator


def build_discriminator(config: Mapping[str, Any],
                        arrays: Arrays) -> stylegan2.Discriminator:
  """A built :class:`~tfface.networks.stylegan2.Discriminator` holding
  ``arrays`` (names without the ``discriminator/`` prefix)."""
  channels = {int(k): int(v) for k, v in config["channels"].items()}
  discriminator = stylegan2.Discriminator(int(config["resolution"]), channels)
  discriminator.build_all()
  assign_named(discriminator.named_variables(), arrays, "discriminator")
  return discriminator


def load_generator(path: str, **kwargs) -> stylegan2.Generator:
  """The generator stored in a tfface weights ``.npz``.

  Raises:
    FileNotFoundError: no file at ``path``.
    WeightsError: not a weights file, no generator in it, or weights that do
      not fit its config.
  """
  config, arrays = load_weights(path)
  if "generator" not in config:
    raise WeightsError(f"{path} holds no generator")
  return build_generator(config["generator"], _subset(arrays, "generator/"),
                         **kwargs)


def load_discriminator(path: str) -> stylegan2.Discriminator:
  """The discriminator stored in a tfface weights ``.npz``."""
  config, arrays = load_weights(path)
  if "discriminator" not in config:
    raise WeightsError(f"{path} holds no discriminator (convert with the "
                       "'d' entry present)")
  return build_discriminator(config["discriminator"],
                             _subset(arrays, "discriminator/"))


def export_model_weights(path: str, generator: stylegan2.Generator,
                         discriminator: stylegan2.Discriminator = None) -> None:
  """Saves tfface models (e.g. a trained ``g_ema``) as a weights ``.npz``."""
  config = {"generator": generator.config()}
  arrays = {f"generator/{k}": v.numpy()
            for k, v in generator.named_variables().items()}
  if discriminator is not None:
    config["discriminator"] = discriminator.config()
    arrays.update({f"discriminator/{k}": v.numpy()
                   for k, v in discriminator.named_variables().items()})
  save_weights(path, config, arrays)


def load_generator_from_run(model_dir: str,
                            gin_params: Sequence[str] = ()
                            ) -> stylegan2.Generator:
  """The EMA generator (``g_ema``) of a StyleGAN2 training run.

  Restores the run with :func:`tfface.training.restore_run` (its
  ``operative_config.gin`` plus ``gin_params``, its newest checkpoint).

  Raises:
    ValueError: the run's method has no StyleGAN2 ``g_ema``; and what
      :func:`~tfface.training.restore_run` raises (no config, no checkpoint).
  """
  # Lazy: networks sit below the training runtime.
  from tfface.training import restore  # pylint: disable=g-import-not-at-top
  method = restore.restore_run(model_dir, gin_params)
  generator = getattr(method, "g_ema", None)
  if not isinstance(generator, stylegan2.Generator):
    raise ValueError(f"the run in {model_dir!r} is not a StyleGAN2 run: its "
                     f"method {type(method).__name__} has no StyleGAN2 g_ema")
  return generator


def load_stylegan2_generator(path_or_run_dir: str,
                             gin_params: Sequence[str] = ()
                             ) -> stylegan2.Generator:
  """A built StyleGAN2 generator from a weights file or a training run.

  Args:
    path_or_run_dir: a tfface weights ``.npz`` (``tools/convert_weights.py``
      or :func:`export_model_weights`), or a StyleGAN2 run directory written
      by ``tools/train.py`` (``operative_config.gin`` + ``checkpoints/``;
      its ``g_ema`` is returned).
    gin_params: extra gin bindings when reading a run directory.

  Returns:
    The generator, built, holding the stored weights.

  Raises:
    FileNotFoundError: nothing exists at ``path_or_run_dir``.
    ValueError: it is neither a weights file nor a StyleGAN2 run (or the
      file or run is damaged); :class:`WeightsError` for weights files.
  """
  path = os.fspath(path_or_run_dir or "")
  expected = ("expected a tfface StyleGAN2 weights .npz "
              "(tools/convert_weights.py) or a StyleGAN2 training run "
              "directory (with operative_config.gin and checkpoints/)")
  if not path or not os.path.exists(path):
    raise FileNotFoundError(f"no StyleGAN2 generator at {path!r}: {expected}")
  if os.path.isdir(path):
    if not os.path.isfile(os.path.join(path, "operative_config.gin")):
      raise ValueError(f"{path!r} is a directory without "
                       f"operative_config.gin: {expected}")
    return load_generator_from_run(path, gin_params)
  if gin_params:
    raise ValueError(f"gin_params apply to run directories only, but "
                     f"{path!r} is a file")
  return load_generator(path)
