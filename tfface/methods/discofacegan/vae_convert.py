"""Converts DiscoFaceGAN's released λ-VAE checkpoints (TF1) to tfface.

The public repository ships one TF1 V2 checkpoint per factor,
``vae/weights/<factor>/stage1_epoch_395.ckpt.{index,data-*}`` (MIT licence;
``exp``, ``gamma``, ``rot`` and ``id``), with variables named

    <factor>/stage1/encoder/fc{0,1,2}/{kernel,bias}
    <factor>/stage1/encoder/dense/{kernel,bias}      μ
    <factor>/stage1/encoder/dense_1/{kernel,bias}    log σ
    <factor>/stage1/decoder/fc{0,1,2}/{kernel,bias}
    <factor>/stage1/decoder/x_hat/{kernel,bias}
    <factor>/stage1/decoder/loggamma_x

(plus Adam slots and ``global_step``, ignored). ``tf.train.load_checkpoint``
reads them on TF 2.21 without TF1 code; :func:`convert_checkpoints` maps them
onto a :class:`~tfface.methods.discofacegan.vae.FactorVAEs` in the ``"bfm"``
layout (DiscoFaceGAN's R-Net layout 2: identity = id 80 + tex 80) and
:func:`convert_to_file` writes the tfface ``.npz``. TF1's ``dense`` is
``x @ kernel + bias`` with a ``[in, out]`` kernel, Keras' ``Dense`` the same,
so the arrays are copied unchanged.

``tools/convert_weights.py discofacegan_vae --from=<dir or prefix>
--to=<.npz>`` calls :func:`convert_to_file`.
"""

import glob
import os
import re
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfface.methods.discofacegan import vae as vae_lib

# tfface factor name -> the checkpoint's top scope.
CHECKPOINT_SCOPES = dict(vae_lib.REFERENCE_NAMES)
_FACTOR_OF_SCOPE = {v: k for k, v in CHECKPOINT_SCOPES.items()}


class ConversionError(ValueError):
  """A checkpoint that is not a DiscoFaceGAN VAE checkpoint."""


def find_checkpoints(source: str) -> Dict[str, str]:
  """The checkpoint prefix of every factor found at ``source``.

  Args:
    source: a checkpoint prefix (``.../exp/stage1_epoch_395.ckpt``), or a
      directory holding one (the newest epoch wins), or a directory of factor
      folders (``exp/``, ``gamma/``, ``rot/``, ``id/``, as the reference's
      ``vae/weights``).

  Returns:
    dict tfface factor name -> checkpoint prefix.

  Raises:
    ConversionError: nothing convertible is there.
  """
  if os.path.isfile(source + ".index"):
    return {_checkpoint_factor(source): source}
  if not os.path.isdir(source):
    raise ConversionError(
        f"DiscoFaceGAN VAE source {source!r} is neither a checkpoint prefix "
        "(<prefix>.index) nor a directory; expected vae/weights/ with the "
        "factor folders, one factor folder, or a checkpoint prefix.")
  found = {}
  prefix = _newest_prefix(source)
  if prefix is not None:
    found[_checkpoint_factor(prefix)] = prefix
  for scope in sorted(_FACTOR_OF_SCOPE):
    folder = os.path.join(source, scope)
    prefix = _newest_prefix(folder) if os.path.isdir(folder) else None
    if prefix is not None:
      factor = _checkpoint_factor(prefix)
      if factor in found and found[factor] != prefix:
        raise ConversionError(f"{source}: two checkpoints of factor "
                              f"{factor!r}: {found[factor]} and {prefix}.")
      found[factor] = prefix
  if not found:
    raise ConversionError(
        f"no TF1 checkpoint (*.index) in {source} or its factor folders "
        f"{sorted(_FACTOR_OF_SCOPE)}.")
  return found


def _newest_prefix(folder: str) -> Optional[str]:
  """The checkpoint prefix with the largest number in its name, or None."""
  prefixes = [p[:-len(".index")]
              for p in glob.glob(os.path.join(folder, "*.index"))]
  if not prefixes:
    return None

  def key(prefix):
    numbers = re.findall(r"\d+", os.path.basename(prefix))
    return (int(numbers[-1]) if numbers else -1, prefix)

  return max(prefixes, key=key)


def _checkpoint_factor(prefix: str) -> str:
  """The factor of a checkpoint, from its ``<scope>/stage1/...`` names."""
  names = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
  scopes = {n.split("/")[0] for n in names
            if "/stage1/decoder/" in n and "Adam" not in n}
  factors = [_FACTOR_OF_SCOPE[s] for s in scopes if s in _FACTOR_OF_SCOPE]
  if len(factors) != 1:
    raise ConversionError(
        f"{prefix}: expected the variables of one DiscoFaceGAN VAE factor "
        f"(<scope>/stage1/decoder/..., scope one of "
        f"{sorted(_FACTOR_OF_SCOPE)}), found scopes {sorted(scopes)}.")
  return factors[0]


def read_factor(prefix: str, factor: str
                ) -> Tuple[Dict[str, object], Dict[str, np.ndarray], int]:
  """One factor's spec and arrays (keyed as tfface's FactorVAE) from TF1.

  Returns:
    ``(spec, arrays, global_step)``: the :data:`~tfface.methods.discofacegan.
    vae.LAYOUTS` ``"bfm"`` spec with the sizes read from the kernels,
    ``{"encoder/fc0/kernel": ..., "decoder/loggamma_x": ...}`` (with an
    identity ``x_shift`` 0 / ``x_scale`` 1) and the
    checkpoint's step (-1 if absent).

  Raises:
    ConversionError: on missing variables or sizes that do not fit the BFM
      layout.
  """
  reader = tf.train.load_checkpoint(prefix)
  shapes = reader.get_variable_to_shape_map()
  scope = f"{CHECKPOINT_SCOPES[factor]}/stage1"

  def get(name):
    full = f"{scope}/{name}"
    if full not in shapes:
      raise ConversionError(f"{prefix}: missing variable {full!r}.")
    return np.asarray(reader.get_tensor(full), np.float32)

  depth = 0
  while f"{scope}/decoder/fc{depth}/kernel" in shapes:
    depth += 1
  if depth == 0:
    raise ConversionError(f"{prefix}: no {scope}/decoder/fc0/kernel.")
  arrays = {}
  for part in ("encoder", "decoder"):
    for i in range(depth):
      for leaf in ("kernel", "bias"):
        arrays[f"{part}/fc{i}/{leaf}"] = get(f"{part}/fc{i}/{leaf}")
  for ours, theirs in (("encoder/mean", "encoder/dense"),
                       ("encoder/log_sd", "encoder/dense_1"),
                       ("decoder/x_hat", "decoder/x_hat")):
    for leaf in ("kernel", "bias"):
      arrays[f"{ours}/{leaf}"] = get(f"{theirs}/{leaf}")
  arrays["decoder/loggamma_x"] = get("decoder/loggamma_x").reshape(())
  latent_size, width = arrays["decoder/fc0/kernel"].shape
  output_size = arrays["decoder/x_hat/kernel"].shape[1]
  # The reference models raw coefficients: no standardization.
  arrays["x_shift"] = np.zeros([output_size], np.float32)
  arrays["x_scale"] = np.ones([output_size], np.float32)
  reference = vae_lib.LAYOUTS["bfm"][factor]
  expected = sum(size for _, size in reference["groups"])
  if output_size != expected:
    raise ConversionError(
        f"{prefix}: factor {factor!r} decodes {output_size} values; the BFM "
        f"layout expects {expected} ({reference['groups']}).")
  spec = dict(reference, latent_size=int(latent_size), width=int(width),
              depth=depth)
  step_name = f"{CHECKPOINT_SCOPES[factor]}/global_step"
  step = int(reader.get_tensor(step_name)) if step_name in shapes else -1
  return spec, arrays, step


def convert_checkpoints(source: str,
                        factors: Optional[List[str]] = None
                        ) -> vae_lib.FactorVAEs:
  """A built, frozen :class:`FactorVAEs` from the released checkpoints.

  Args:
    source: see :func:`find_checkpoints`.
    factors: the factors to convert (default every one found).

  Returns:
    The VAEs; ``weights_metadata`` holds the source prefixes and steps.

  Raises:
    ConversionError: on a missing factor or an unfit checkpoint.
  """
  found = find_checkpoints(source)
  if factors is not None:
    missing = [f for f in factors if f not in found]
    if missing:
      raise ConversionError(f"{source}: no checkpoint for factors {missing}"
                            f" (found {sorted(found)}).")
    found = {f: found[f] for f in factors}
  specs, arrays, metadata = {}, {}, {}
  for factor, prefix in found.items():
    spec, factor_arrays, step = read_factor(prefix, factor)
    specs[factor] = spec
    for name, value in factor_arrays.items():
      arrays[f"vae_{factor}/{name}"] = value
    metadata[factor] = {"checkpoint": os.path.abspath(prefix),
                        "global_step": step}
  vaes = vae_lib.FactorVAEs(specs)
  vaes.build()
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  analysis_weights.assign_arrays(vaes, arrays, f"{source} (DiscoFaceGAN VAEs)")
  vaes.trainable = False
  vaes.weights_metadata = {
      "source": "microsoft/DiscoFaceGAN vae/weights (MIT licence)",
      "layout": "bfm", "checkpoints": metadata}
  return vaes


def convert_to_file(source: str, destination: str,
                    factors: Optional[List[str]] = None) -> Mapping[str, int]:
  """Converts the checkpoints at ``source`` and writes ``destination``.

  Returns:
    dict factor -> number of converted arrays, for the tool to print.
  """
  vaes = convert_checkpoints(source, factors)
  vae_lib.save_factor_vaes(destination, vaes, vaes.weights_metadata)
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  names = analysis_weights.named_variables(vaes)
  return {f: sum(1 for n in names if n.startswith(f"vae_{f}/"))
          for f in vaes.factors}
