"""rosinality/stylegan2-pytorch checkpoints -> tfface StyleGAN2 weights.

Two parts:

* pure numpy: :func:`convert_generator` / :func:`convert_discriminator` map a
  PyTorch ``state_dict`` (name -> ``np.ndarray``) to the tfface names of
  :meth:`Generator.named_variables` / :meth:`Discriminator.named_variables`
  (layout transposes only; the equalized-lr runtime scales are the same on
  both sides, so raw values carry over), and :func:`convert_checkpoint` does
  a whole checkpoint (``g_ema``, ``latent_avg``, noise buffers, optionally
  ``d``);
* :func:`load_torch_checkpoint`, a thin reader that needs PyTorch (the
  optional ``tfface[torch]`` extra) and reads with ``weights_only=True``, and
  :func:`load_npz_checkpoint`, the same for a checkpoint exported to ``.npz``.

The converted ``(config, arrays)`` are written as a tfface weights file with
:func:`tfface.networks.stylegan2_weights.save_weights`; loading such a file
(or a training run) is :func:`tfface.networks.load_stylegan2_generator`.
"""

import os
import re
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from tfface.layers import fir
from tfface.networks import torch_checkpoint

Arrays = Dict[str, np.ndarray]


class ConversionError(ValueError):
  """A checkpoint does not have the keys or shapes the converter expects."""


def _get(state: Mapping[str, np.ndarray], key: str) -> np.ndarray:
  if key not in state:
    raise ConversionError(f"checkpoint lacks {key!r}")
  return np.asarray(state[key], dtype=np.float32)


def _conv_hwio(weight: np.ndarray, key: str) -> np.ndarray:
  """PyTorch conv weight `(out, in, k, k)` or `(1, out, in, k, k)` -> HWIO."""
  if weight.ndim == 5:
    if weight.shape[0] != 1:
      raise ConversionError(f"{key}: expected leading dimension 1, got "
                            f"{weight.shape}")
    weight = weight[0]
  if weight.ndim != 4:
    raise ConversionError(f"{key}: expected a 4-D conv weight, got "
                          f"{weight.shape}")
  return np.ascontiguousarray(weight.transpose(2, 3, 1, 0))


def _indices(state: Mapping[str, Any], pattern: str) -> list:
  regex = re.compile(pattern)
  return sorted({int(m.group(1)) for k in state
                 for m in [regex.fullmatch(k)] if m})


def generator_config(state: Mapping[str, np.ndarray]) -> Dict[str, Any]:
  """Architecture of a rosinality ``Generator`` state dict.

  Returns:
    ``{"resolution", "z_dim", "style_dim", "mapping_layers", "channels"}``
    (channels keyed by resolution as strings, JSON-friendly).
  """
  layers = _indices(state, r"style\.(\d+)\.weight")
  if not layers:
    raise ConversionError("not a rosinality generator state dict: no "
                          "'style.N.weight' keys")
  first = _get(state, f"style.{layers[0]}.weight")
  to_rgbs = _indices(state, r"to_rgbs\.(\d+)\.conv\.weight")
  log_size = len(to_rgbs) + 2
  channels = {"4": int(_get(state, "conv1.conv.weight").shape[1])}
  for k in range(len(to_rgbs)):
    channels[str(2**(k + 3))] = int(
        _get(state, f"convs.{2 * k}.conv.weight").shape[1])
  return {"resolution": 2**log_size, "z_dim": int(first.shape[1]),
          "style_dim": int(first.shape[0]), "mapping_layers": len(layers),
          "channels": channels}


def discriminator_config(state: Mapping[str, np.ndarray]) -> Dict[str, Any]:
  """Architecture of a rosinality ``Discriminator`` state dict."""
  blocks = _indices(state, r"convs\.(\d+)\.conv1\.0\.weight")
  if not blocks:
    raise ConversionError("not a rosinality discriminator state dict: no "
                          "'convs.N.conv1.0.weight' keys")
  resolution = 2**(len(blocks) + 2)
  channels = {str(resolution): int(_get(state, "convs.0.0.weight").shape[0])}
  for i in blocks:
    channels[str(resolution >> i)] = int(
        _get(state, f"convs.{i}.conv2.1.weight").shape[0])
  return {"resolution": resolution, "channels": channels}


def _check_fir(state, key, expected):
  if key in state:
    value = np.asarray(state[key], np.float32)
    if value.shape != expected.shape or not np.allclose(value, expected,
                                                        atol=1e-6):
      raise ConversionError(f"{key}: FIR kernel differs from the [1,3,3,1] "
                            "kernel tfface recomputes")


def convert_generator(state: Mapping[str, np.ndarray],
                      latent_avg: Optional[np.ndarray] = None
                      ) -> Tuple[Dict[str, Any], Arrays]:
  """rosinality ``Generator`` (e.g. ``g_ema``) state dict -> tfface names.

  Mapping (PyTorch -> tfface):
    ``style.{j}.weight (out, in)`` -> ``mapping.dense_{j-1}.kernel`` (transposed);
    ``input.input (1, C, 4, 4)`` -> ``synthesis.const_input.const (1, 4, 4, C)``;
    ``*.conv.weight (1, out, in, k, k)`` -> ``(k, k, in, out)``;
    ``*.conv.modulation.weight (in, D)`` -> ``kernel (D, in)``;
    ``*.noise.weight`` -> ``noise.strength``; ``to_rgb*.bias (1, 3, 1, 1)``
    -> ``(3,)``; ``noises.noise_{i} (1, 1, r, r)`` -> ``synthesis.noise_{i}
    (1, r, r, 1)``; ``latent_avg`` -> ``w_avg``. FIR kernel buffers are
    checked against the recomputed ones and dropped.

  Args:
    state: name -> array (torch tensors converted with ``.numpy()``).
    latent_avg: `[style_dim]` w̄, or None (w_avg becomes zeros).

  Returns:
    ``(config, arrays)``: Generator constructor arguments and tfface name ->
    array.

  Raises:
    ConversionError: a key is missing or has an unexpected shape, or the
      state dict has keys the converter does not know.
  """
  config = generator_config(state)
  used = set()
  out: Arrays = {}

  def take(key):
    used.add(key)
    return _get(state, key)

  for j, index in enumerate(_indices(state, r"style\.(\d+)\.weight")):
    out[f"mapping.dense_{j}.kernel"] = take(f"style.{index}.weight").T.copy()
    out[f"mapping.dense_{j}.bias"] = take(f"style.{index}.bias")
  const = take("input.input")
  out["synthesis.const_input.const"] = np.ascontiguousarray(
      const.transpose(0, 2, 3, 1))

  def styled(src, dst):
    key = f"{src}.conv.weight"
    out[f"synthesis.{dst}.conv.weight"] = _conv_hwio(take(key), key)
    out[f"synthesis.{dst}.conv.modulation.kernel"] = take(
        f"{src}.conv.modulation.weight").T.copy()
    out[f"synthesis.{dst}.conv.modulation.bias"] = take(
        f"{src}.conv.modulation.bias")

  styled("conv1", "conv1")
  out["synthesis.conv1.noise.strength"] = take("conv1.noise.weight").reshape(1)
  out["synthesis.conv1.activate.bias"] = take("conv1.activate.bias")
  up_kernel = fir.make_kernel(fir.DEFAULT_KERNEL) * 4
  for i in _indices(state, r"convs\.(\d+)\.conv\.weight"):
    styled(f"convs.{i}", f"convs_{i}")
    out[f"synthesis.convs_{i}.noise.strength"] = take(
        f"convs.{i}.noise.weight").reshape(1)
    out[f"synthesis.convs_{i}.activate.bias"] = take(
        f"convs.{i}.activate.bias")
    _check_fir(state, f"convs.{i}.conv.blur.kernel", up_kernel)
    used.add(f"convs.{i}.conv.blur.kernel")
  rgbs = [("to_rgb1", "to_rgb1")] + [
      (f"to_rgbs.{k}", f"to_rgbs_{k}")
      for k in _indices(state, r"to_rgbs\.(\d+)\.conv\.weight")]
  for src, dst in rgbs:
    styled(src, dst)
    out[f"synthesis.{dst}.bias"] = take(f"{src}.bias").reshape(-1)
    _check_fir(state, f"{src}.upsample.kernel", up_kernel)
    used.add(f"{src}.upsample.kernel")
  for i in _indices(state, r"noises\.noise_(\d+)"):
    noise = take(f"noises.noise_{i}")
    out[f"synthesis.noise_{i}"] = np.ascontiguousarray(
        noise.transpose(0, 2, 3, 1))
  if latent_avg is None:
    out["w_avg"] = np.zeros([config["style_dim"]], np.float32)
  else:
    out["w_avg"] = np.asarray(latent_avg, np.float32).reshape(-1)
  unknown = sorted(set(state) - used)
  if unknown:
    raise ConversionError(f"generator state dict has keys the converter does "
                          f"not know: {unknown[:5]}")
  return config, out


def convert_discriminator(state: Mapping[str, np.ndarray]
                          ) -> Tuple[Dict[str, Any], Arrays]:
  """rosinality ``Discriminator`` state dict -> tfface names.

  ``final_linear.0.weight (512, C·4·4)`` flattens NCHW; tfface flattens NHWC,
  so its rows are permuted: ``reshape(out, C, 4, 4).transpose(2, 3, 1, 0)``.
  """
  config = discriminator_config(state)
  used = set()
  out: Arrays = {}

  def take(key):
    used.add(key)
    return _get(state, key)

  def conv(src, dst):
    key = f"{src}.weight"
    out[f"{dst}.kernel"] = _conv_hwio(take(key), key)

  conv("convs.0.0", "from_rgb.conv")
  out["from_rgb.activate.bias"] = take("convs.0.1.bias")
  down_kernel = fir.make_kernel(fir.DEFAULT_KERNEL)
  for i in _indices(state, r"convs\.(\d+)\.conv1\.0\.weight"):
    conv(f"convs.{i}.conv1.0", f"convs_{i}.conv1.conv")
    out[f"convs_{i}.conv1.activate.bias"] = take(f"convs.{i}.conv1.1.bias")
    conv(f"convs.{i}.conv2.1", f"convs_{i}.conv2.conv")
    out[f"convs_{i}.conv2.activate.bias"] = take(f"convs.{i}.conv2.2.bias")
    conv(f"convs.{i}.skip.1", f"convs_{i}.skip.conv")
    for key in (f"convs.{i}.conv2.0.kernel", f"convs.{i}.skip.0.kernel"):
      _check_fir(state, key, down_kernel)
      used.add(key)
  conv("final_conv.0", "final_conv.conv")
  out["final_conv.activate.bias"] = take("final_conv.1.bias")
  linear = take("final_linear.0.weight")
  c4 = int(config["channels"]["4"])
  if linear.shape[1] != c4 * 16:
    raise ConversionError(f"final_linear.0.weight: expected {c4 * 16} inputs, "
                          f"got {linear.shape}")
  out["final_dense.kernel"] = np.ascontiguousarray(
      linear.reshape(linear.shape[0], c4, 4, 4).transpose(2, 3, 1, 0)
      .reshape(16 * c4, linear.shape[0]))
  out["final_dense.bias"] = take("final_linear.0.bias")
  out["final_out.kernel"] = take("final_linear.1.weight").T.copy()
  out["final_out.bias"] = take("final_linear.1.bias")
  unknown = sorted(set(state) - used)
  if unknown:
    raise ConversionError(f"discriminator state dict has keys the converter "
                          f"does not know: {unknown[:5]}")
  return config, out


def convert_checkpoint(checkpoint: Mapping[str, Any], generator_key: str = "g_ema",
                       include_discriminator: bool = True
                       ) -> Tuple[Dict[str, Any], Arrays]:
  """A whole rosinality checkpoint dict -> ``(config, arrays)``.

  Args:
    checkpoint: ``{"g_ema": state, "latent_avg": array, "d": state, ...}``
      with numpy arrays.
    generator_key: which generator to convert (``g_ema`` or ``g``).
    include_discriminator: also convert ``d`` when present.

  Returns:
    ``config`` = ``{"generator": {...}, "discriminator": {...} (optional)}``
    and arrays named ``generator/<name>`` / ``discriminator/<name>``.
  """
  if generator_key not in checkpoint:
    raise ConversionError(f"checkpoint has no {generator_key!r} entry; it has "
                          f"{sorted(checkpoint)}")
  g_config, g_arrays = convert_generator(checkpoint[generator_key],
                                         checkpoint.get("latent_avg"))
  config = {"generator": g_config}
  arrays = {f"generator/{k}": v for k, v in g_arrays.items()}
  if include_discriminator and "d" in checkpoint:
    d_config, d_arrays = convert_discriminator(checkpoint["d"])
    config["discriminator"] = d_config
    arrays.update({f"discriminator/{k}": v for k, v in d_arrays.items()})
  return config, arrays


def load_torch_checkpoint(path: str) -> Dict[str, Any]:
  """Reads a rosinality ``.pt`` file into nested dicts of numpy arrays.

  Needs PyTorch (``pip install tfface[torch]``). Uses
  ``torch.load(weights_only=True)``; the ``argparse.Namespace`` rosinality
  stores under ``args`` is allowed explicitly.

  Raises:
    ImportError: PyTorch is not installed.
    FileNotFoundError: no file at ``path``.
  """
  import argparse  # pylint: disable=g-import-not-at-top
  raw = torch_checkpoint.read_torch_file(path, ConversionError,
                                         allowed_globals=[argparse.Namespace])
  return {k: v for k, v in raw.items()
          if k in ("g_ema", "g", "d", "latent_avg")}


def load_npz_checkpoint(path: str) -> Dict[str, Any]:
  """Reads a checkpoint exported to ``.npz`` without PyTorch.

  Keys ``g_ema/<state-dict name>``, ``g/<name>``, ``d/<name>`` and
  ``latent_avg``; returns the same nested dict as
  :func:`load_torch_checkpoint`.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no checkpoint file at {path!r}")
  out: Dict[str, Any] = {}
  with np.load(path, allow_pickle=False) as data:
    for key in data.files:
      if key == "latent_avg":
        out[key] = data[key]
        continue
      group, _, name = key.partition("/")
      if group not in ("g_ema", "g", "d") or not name:
        raise ConversionError(f"{path}: unexpected key {key!r}; expected "
                              "'g_ema/<name>', 'g/<name>', 'd/<name>' or "
                              "'latent_avg'")
      out.setdefault(group, {})[name] = data[key]
  return out
