"""gin configuration: registration of TF/Keras classes and parsing with clear errors.

``import gin.tf`` fails on TensorFlow 2.21 (it needs ``tf.estimator``), so the
TF and Keras classes that gin files refer to are registered here by hand.
Library code stays gin-free; entry points (``train``, dataset builders,
method classes) are ``@gin.configurable``.
"""

import os
from typing import Iterable, Sequence

import gin
import tensorflow as tf


class ConfigError(ValueError):
  """A gin file or binding could not be used; the message is one line."""


_REGISTERED = False

# gin resolves ``include 'gin/...'`` against its search paths, the working
# directory first. Adding the root of this checkout (the directory holding
# ``gin/``) lets the shipped gin files include each other by repository path
# (``include 'gin/stylegan2/ffhq_256.gin'``) from any working directory.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SEARCH_PATH_ADDED = False


def add_repo_search_path() -> None:
  """Puts the checkout's root on gin's include search path (idempotent)."""
  global _SEARCH_PATH_ADDED
  if _SEARCH_PATH_ADDED:
    return
  if os.path.isdir(os.path.join(_REPO_ROOT, "gin")):
    gin.add_config_file_search_path(_REPO_ROOT)
  _SEARCH_PATH_ADDED = True


def register_external_configurables() -> None:
  """Makes Keras optimizers and schedules nameable in gin (idempotent).

  After this, gin files may say ``@tf.keras.optimizers.Adam`` and bind
  ``tf.keras.optimizers.Adam.learning_rate = 2e-4``.
  """
  global _REGISTERED
  if _REGISTERED:
    return
  optimizers = tf.keras.optimizers
  for name in ("Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adadelta"):
    gin.external_configurable(getattr(optimizers, name),
                              module="tf.keras.optimizers")
  schedules = optimizers.schedules
  for name in ("ExponentialDecay", "PiecewiseConstantDecay", "CosineDecay",
               "PolynomialDecay"):
    gin.external_configurable(getattr(schedules, name),
                              module="tf.keras.optimizers.schedules")
  _REGISTERED = True


def _one_line(error: BaseException) -> str:
  text = " ".join(str(error).split())
  return text if len(text) <= 400 else text[:397] + "..."


def parse_config(gin_files: Sequence[str] = (),
                 gin_params: Iterable[str] = (),
                 finalize: bool = True) -> None:
  """Parses gin files and bindings, raising ConfigError with one clear line.

  Args:
    gin_files: paths of ``.gin`` files, applied in order. Their ``include``
      statements name files relative to the working directory or to the
      checkout's root (``include 'gin/confignet/cpu_demo.gin'``).
    gin_params: bindings such as ``"train.max_steps = 10"``, applied after the
      files.
    finalize: lock the config after parsing.

  Raises:
    ConfigError: a file is missing, or a file or binding does not parse or
      names an unknown configurable or parameter.
  """
  register_external_configurables()
  add_repo_search_path()
  # Importing these registers their configurables (train, methods, datasets).
  import tfface.methods  # pylint: disable=g-import-not-at-top,unused-import
  import tfface.training.train_lib  # pylint: disable=g-import-not-at-top,unused-import
  for path in gin_files:
    if not os.path.isfile(path):
      raise ConfigError(f"gin file {path!r} does not exist; expected a path to "
                        "a .gin file such as gin/confignet/cpu_demo.gin")
  for path in gin_files:
    try:
      gin.parse_config_file(path, skip_unknown=False)
    except Exception as e:  # gin raises many types; all mean the same here.
      raise ConfigError(f"gin file {path!r} is invalid: {_one_line(e)}") from e
  for binding in gin_params:
    try:
      gin.parse_config(binding, skip_unknown=False)
    except Exception as e:
      raise ConfigError(
          f"gin binding {binding!r} is invalid: {_one_line(e)}; expected "
          "'configurable.parameter = value'") from e
  if finalize:
    gin.finalize()



def resolve_macros(value):
  """``value`` with gin macro references (``%NAME``, chains of them)
  replaced by the macros' values."""
  seen = set()
  while (isinstance(value, gin.config.ConfigurableReference) and
         value.selector == "gin.macro"):
    name = value.scoped_selector.split("/")[0]
    if name in seen:
      raise ConfigError(f"gin macro %{name} refers to itself")
    seen.add(name)
    value = gin.query_parameter("%" + name)
  return value


def query_value(binding: str, default=None):
  """The value bound to ``configurable.parameter`` (or ``%MACRO``) in the
  current gin config, macros followed (``x.a = %DATA`` with ``DATA =
  'faces/*'`` gives ``'faces/*'``); ``default`` when the parameter is not
  bound or the configurable is unknown.
  """
  try:
    return resolve_macros(gin.query_parameter(binding))
  except ValueError:
    return default
