"""Official StyleALAE checkpoints (podgorskiy/ALAE) -> tfface autoencoder files.

A released checkpoint (``training_artifacts/celeba/model_final.pth``, saved
by ``checkpointer.py``) is ``{"models": {...}, "auxiliary": {...}}`` with
the state dicts ``discriminator`` (the encoder E), ``generator`` (G),
``mapping_tl`` (the latent discriminator D), ``mapping_fl`` (the mapping F),
``dlatent_avg`` (``buff`` `[2·layer_count, latent]`, w̄ per layer) and the EMA
copies ``discriminator_s``, ``generator_s``, ``mapping_tl_s``,
``mapping_fl_s`` that inference uses (``interactive_demo.py`` L79-85; the
EMA model has no w̄ of its own, the trained model's is used).

Two parts:

* pure numpy: :func:`convert_checkpoint` maps ``{"models": {name: state
  dict}}`` (numpy arrays) to ``(config, arrays)`` for
  :class:`~tfface.methods.latent.alae.StyleALAE`, named by attribute path
  (:func:`tfface.analysis.weights.named_variables`), and checks every key:
  missing, unexpected and mis-shaped keys are one :class:`ConversionError`
  naming them;
* readers: :func:`load_torch_checkpoint` (PyTorch, ``weights_only=True``)
  and :func:`load_npz_checkpoint` (the same exported to ``.npz`` without
  PyTorch); :func:`convert_file` writes the autoencoder weights file that
  :func:`tfface.methods.latent.codes.load_autoencoder` and
  :func:`~tfface.methods.latent.alae.load_style_alae` read.

**What changes between the layouts.**

* *Equalized lr.* ALAE's ``lreq`` layers run in "implicit" mode: the stored
  weight is the run-time weight and the optimizer scales its steps by
  ``c = gain·lrmul/√fan_in``. tfface stores unit-scale weights and multiplies
  by c at run time, so ``kernel = W / c`` and ``bias = b / lrmul`` (gains:
  √2 for convs, F, D and E's style maps; 1 for G's style maps; 0.03 for
  ToRGB; lrmul 0.1 for F and D).
* *Layouts.* Conv weights OIHW -> HWIO; linear weights `(out, in)` ->
  `(in, out)`; the constant `(1, C, 4, 4)` -> `(1, 4, 4, C)`; per-channel
  ``bias_*`` / ``noise_weight_*`` `(1, C, 1, 1)` -> `(C,)`.
* *Fused convs* (G's ``conv_1`` at >= 128 px, E's ``conv_2`` at >= 128 px):
  both sides store the 3×3 kernel and build the 4×4 four-shift kernel at run
  time; G's is a ``ConvTranspose2d`` weight `(in, out, 3, 3)` -> HWIO by
  ``transpose(2, 3, 0, 1)``, with fan-in 9·in.
* *D's last layer* has 2·latent outputs of which ``MappingD`` reads unit
  ``latent`` (``x[:, 0, x.shape[2] // 2]``); that row becomes the single
  output of :class:`~tfface.networks.alae.LatentDiscriminator`.
* *Blocks* are indexed from 4×4 up on both of G's sides; E's
  ``encode_block.j`` / ``from_rgb.j`` (top resolution first) become
  ``block_{L−1−j}``.
* The ``[1, 2, 1]`` blur buffers are checked against the kernel tfface
  recomputes and dropped.
"""

import math
import os
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from tfface.networks import torch_checkpoint

Arrays = Dict[str, np.ndarray]
SQRT2 = math.sqrt(2.0)
MODELS = ("discriminator", "generator", "mapping_tl", "mapping_fl")
F_LR_MULTIPLIER = 0.1  # MappingF's MappingBlock(lrmul=0.1)
D_LR_MULTIPLIER = 0.1  # MappingD's ln.Linear(lrmul=0.1)
TO_RGB_GAIN = 0.03
FUSED_MIN_RESOLUTION = 128


class ConversionError(ValueError):
  """A checkpoint does not have the keys or shapes the converter expects."""


def _blur_kernel(channels: int) -> np.ndarray:
  f = np.array([1.0, 2.0, 1.0], np.float32)
  f = np.outer(f, f)
  return np.tile((f / f.sum())[None, None], [channels, 1, 1, 1])


def _indices(state: Mapping[str, Any], pattern: str) -> List[int]:
  regex = re.compile(pattern)
  return sorted({int(m.group(1)) for k in state
                 for m in [regex.fullmatch(k)] if m})


def _models(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
  if "models" in checkpoint and isinstance(checkpoint["models"], Mapping):
    return checkpoint["models"]
  return checkpoint


def _state(models: Mapping[str, Any], name: str, use_ema: bool
           ) -> Mapping[str, np.ndarray]:
  key = f"{name}_s" if use_ema else name
  if key not in models or models[key] is None:
    hint = (" (pass use_ema=False to convert the non-EMA weights)"
            if use_ema and name in models else "")
    raise ConversionError(f"checkpoint has no {key!r} state dict{hint}; it "
                          f"has {sorted(models)}")
  return models[key]


def checkpoint_config(checkpoint: Mapping[str, Any], use_ema: bool = True
                      ) -> Dict[str, Any]:
  """The :class:`StyleALAE` constructor arguments of a checkpoint.

  Read from the state dicts: layer count (``decode_block.N``), latent size
  (``decode_block.0.style_1.weight``), channels (``conv_2`` of each block),
  E's last block outputs, F's and D's layer counts.
  """
  models = _models(checkpoint)
  g = _state(models, "generator", use_ema)
  blocks = _indices(g, r"decode_block\.(\d+)\.conv_2\.weight")
  if not blocks or blocks != list(range(len(blocks))):
    raise ConversionError("not an ALAE generator state dict: expected "
                          "'decode_block.N.conv_2.weight' for N = 0, 1, ...")
  layer_count = len(blocks)
  channels = [int(np.shape(g[f"decode_block.{i}.conv_2.weight"])[0])
              for i in blocks]
  style = "decode_block.0.style_1.weight"
  if style not in g:
    raise ConversionError(f"generator state dict lacks {style!r}")
  latent = int(np.shape(g[style])[1])
  e = _state(models, "discriminator", use_ema)
  last_key = f"encode_block.{layer_count - 1}.conv_2.weight"
  if last_key not in e:
    raise ConversionError(f"encoder ('discriminator') state dict lacks "
                          f"{last_key!r} (expected {layer_count} blocks like "
                          "the generator)")
  f = _state(models, "mapping_fl", use_ema)
  d = _state(models, "mapping_tl", use_ema)
  mapping_layers = len(_indices(f, r"map_blocks\.(\d+)\.fc\.weight"))
  d_layers = len(_indices(d, r"map_blocks\.(\d+)\.weight"))
  if not mapping_layers or not d_layers:
    raise ConversionError("mapping_fl / mapping_tl state dicts lack "
                          "'map_blocks.N.fc.weight' / 'map_blocks.N.weight'")
  return {"resolution": 4 * 2**(layer_count - 1), "latent_size": latent,
          "channels": channels, "start_channels": channels[-1],
          "max_channels": max(channels),
          "last_channels": int(np.shape(e[last_key])[0]),
          "mapping_layers": mapping_layers,
          "mapping_lr_multiplier": F_LR_MULTIPLIER, "d_layers": d_layers,
          "d_lr_multiplier": D_LR_MULTIPLIER, "d_activation": None,
          "fused_min_resolution": FUSED_MIN_RESOLUTION,
          "to_rgb_gain": TO_RGB_GAIN, "style_mod": "one_plus",
          "truncation_psi": 0.7, "truncation_cutoff": 8}


class _Converter:
  """Collects ``(source key, expected shape, target name, transform)``."""

  def __init__(self, what: str, state: Mapping[str, np.ndarray]):
    self.what, self.state = what, state
    self.used = set()
    self.missing: List[str] = []
    self.misshaped: List[str] = []
    self.out: Arrays = {}

  def take(self, key: str, shape: Tuple[int, ...], target: Optional[str],
           transform: Callable[[np.ndarray], np.ndarray] = lambda x: x):
    self.used.add(key)
    if key not in self.state:
      self.missing.append(key)
      return
    value = np.asarray(self.state[key], np.float32)
    if value.shape != tuple(shape):
      self.misshaped.append(f"{key} {value.shape} (expected {tuple(shape)})")
      return
    if target is None:
      return
    self.out[target] = np.ascontiguousarray(transform(value), np.float32)

  def check_blur(self, key: str, channels: int):
    self.take(key, (channels, 1, 3, 3), None)
    if key in self.state and key not in self.missing and not any(
        m.startswith(key + " ") for m in self.misshaped):
      if not np.allclose(np.asarray(self.state[key]), _blur_kernel(channels),
                         atol=1e-6):
        self.misshaped.append(f"{key} (not the [1, 2, 1] blur kernel)")

  def errors(self) -> List[str]:
    unexpected = sorted(set(self.state) - self.used)
    out = []
    if self.missing:
      out.append(f"{self.what}: missing {self.missing[:6]}")
    if unexpected:
      out.append(f"{self.what}: unexpected {unexpected[:6]}")
    if self.misshaped:
      out.append(f"{self.what}: mis-shaped {self.misshaped[:4]}")
    return out


def _scale(gain: float, fan_in: int, lrmul: float = 1.0) -> float:
  """ALAE's ``lr_equalization_coef``, the run-time scale of tfface's layers."""
  return gain * lrmul / math.sqrt(fan_in)


def _linear(conv: _Converter, prefix: str, source: str, in_size: int,
            out_size: int, gain: float, lrmul: float = 1.0,
            row: Optional[int] = None) -> None:
  c = _scale(gain, in_size, lrmul)
  pick = (lambda w: w) if row is None else (lambda w: w[row:row + 1])
  conv.take(f"{source}.weight", (out_size, in_size), f"{prefix}/kernel",
            lambda w: pick(w).T / c)
  conv.take(f"{source}.bias", (out_size,), f"{prefix}/bias",
            lambda b: (b if row is None else b[row:row + 1]) / lrmul)


def _conv(conv: _Converter, target: str, source: str, c_in: int, c_out: int,
          k: int, gain: float = SQRT2, transposed: bool = False) -> None:
  c = _scale(gain, c_in * k * k)
  if transposed:  # ConvTranspose2d weight (in, out, k, k)
    conv.take(source, (c_in, c_out, k, k), target,
              lambda w: w.transpose(2, 3, 0, 1) / c)
  else:  # Conv2d weight (out, in, k, k)
    conv.take(source, (c_out, c_in, k, k), target,
              lambda w: w.transpose(2, 3, 1, 0) / c)


def _channel(conv: _Converter, target: str, source: str, channels: int):
  conv.take(source, (1, channels, 1, 1), target, lambda x: x.reshape(-1))


def convert_checkpoint(checkpoint: Mapping[str, Any], use_ema: bool = True
                       ) -> Tuple[Dict[str, Any], Arrays]:
  """An ALAE checkpoint -> ``(StyleALAE config, arrays)``.

  Args:
    checkpoint: ``{"models": {name: state dict}}`` (or the ``models`` dict
      itself) with numpy arrays; ``auxiliary`` (optimizers, scheduler,
      tracker) is ignored.
    use_ema: convert the ``*_s`` EMA copies (what inference uses); False
      converts the trained networks.

  Returns:
    ``config`` (:class:`StyleALAE` arguments, lod = top) and arrays keyed by
    the StyleALAE's attribute paths (``generator/block_1/conv_1/kernel``,
    ``mapping/w_avg``, ...).

  Raises:
    ConversionError: a state dict is absent, or has missing, unexpected or
      mis-shaped keys (all named, per network).
  """
  models = _models(checkpoint)
  config = checkpoint_config(checkpoint, use_ema)
  layers = len(config["channels"])
  ch = config["channels"]
  latent = config["latent_size"]
  last = config["last_channels"]
  res = [4 * 2**i for i in range(layers)]
  errors: List[str] = []
  arrays: Arrays = {}

  # G (generator_s).
  g = _Converter("generator" + ("_s" if use_ema else ""),
                 _state(models, "generator", use_ema))
  g.take("const", (1, ch[0], 4, 4), "generator/const",
         lambda x: x.transpose(0, 2, 3, 1))
  for i in range(layers):
    src, dst = f"decode_block.{i}", f"generator/block_{i}"
    if i > 0:
      fused = res[i] >= FUSED_MIN_RESOLUTION
      _conv(g, f"{dst}/conv_1/kernel", f"{src}.conv_1.weight", ch[i - 1],
            ch[i], 3, transposed=fused)
      g.check_blur(f"{src}.blur.weight", ch[i])
    else:
      g.check_blur(f"{src}.blur.weight", ch[i])  # unused in block 0
    _conv(g, f"{dst}/conv_2/kernel", f"{src}.conv_2.weight", ch[i], ch[i], 3)
    for n in (1, 2):
      layer = f"{dst}/layer_{n}"
      _channel(g, f"{layer}/noise_weight", f"{src}.noise_weight_{n}", ch[i])
      _channel(g, f"{layer}/bias", f"{src}.bias_{n}", ch[i])
      _linear(g, f"{layer}/style", f"{src}.style_{n}", latent, 2 * ch[i], 1.0)
    _conv(g, f"generator/to_rgb_{i}/kernel", f"to_rgb.{i}.to_rgb.weight",
          ch[i], 3, 1, gain=TO_RGB_GAIN)
    g.take(f"to_rgb.{i}.to_rgb.bias", (3,), f"generator/to_rgb_{i}/bias")
  errors += g.errors()
  arrays.update(g.out)

  # E (discriminator_s): encode_block.j is block L-1-j.
  e = _Converter("discriminator" + ("_s" if use_ema else ""),
                 _state(models, "discriminator", use_ema))
  for i in range(layers):
    j = layers - 1 - i
    src, dst = f"encode_block.{j}", f"encoder/block_{i}"
    out = last if i == 0 else ch[i - 1]
    e.take(f"from_rgb.{j}.from_rgb.weight", (ch[i], 3, 1, 1),
           f"encoder/from_rgb_{i}/kernel",
           lambda w, c=_scale(SQRT2, 3): w.transpose(2, 3, 1, 0) / c)
    e.take(f"from_rgb.{j}.from_rgb.bias", (ch[i],),
           f"encoder/from_rgb_{i}/bias")
    _conv(e, f"{dst}/conv_1/kernel", f"{src}.conv_1.weight", ch[i], ch[i], 3)
    _channel(e, f"{dst}/bias_1", f"{src}.bias_1", ch[i])
    e.check_blur(f"{src}.blur.weight", ch[i])
    _conv(e, f"{dst}/conv_2/kernel", f"{src}.conv_2.weight", ch[i], out, 3)
    _channel(e, f"{dst}/bias_2", f"{src}.bias_2", out)
    _linear(e, f"{dst}/style_1", f"{src}.style_1", 2 * ch[i], latent, SQRT2)
    _linear(e, f"{dst}/style_2", f"{src}.style_2", 2 * out, latent, SQRT2)
  errors += e.errors()
  arrays.update(e.out)

  # F (mapping_fl_s).
  f = _Converter("mapping_fl" + ("_s" if use_ema else ""),
                 _state(models, "mapping_fl", use_ema))
  for k in range(config["mapping_layers"]):
    _linear(f, f"mapping/dense_{k}", f"map_blocks.{k}.fc", latent, latent,
            SQRT2, F_LR_MULTIPLIER)
  errors += f.errors()
  arrays.update(f.out)

  # D (mapping_tl_s): the last layer's unit `latent` is the logit.
  d = _Converter("mapping_tl" + ("_s" if use_ema else ""),
                 _state(models, "mapping_tl", use_ema))
  for k in range(config["d_layers"]):
    final = k == config["d_layers"] - 1
    _linear(d, f"discriminator/dense_{k}", f"map_blocks.{k}", latent,
            2 * latent if final else latent, SQRT2, D_LR_MULTIPLIER,
            row=latent if final else None)
  errors += d.errors()
  arrays.update(d.out)

  # w̄ (dlatent_avg, the trained model's; rows are copies of one w̄).
  avg = models.get("dlatent_avg")
  if avg is None or "buff" not in avg:
    errors.append("dlatent_avg: missing ['buff']")
  else:
    buff = np.asarray(avg["buff"], np.float32)
    if buff.shape != (2 * layers, latent):
      errors.append(f"dlatent_avg: mis-shaped ['buff {buff.shape} (expected "
                    f"{(2 * layers, latent)})']")
    else:
      arrays["mapping/w_avg"] = buff.mean(axis=0)
    extra = sorted(set(avg) - {"buff"}) if avg is not None else []
    if extra:
      errors.append(f"dlatent_avg: unexpected {extra[:6]}")
  if errors:
    raise ConversionError("the checkpoint does not fit StyleALAE: " +
                          "; ".join(errors))
  return config, arrays


def build_autoencoder(config: Mapping[str, Any], arrays: Arrays):
  """A built :class:`StyleALAE` holding converted ``arrays``.

  Raises:
    WeightsError: the arrays do not fit the architecture (names each).
  """
  from tfface.analysis import weights as analysis_weights  # pylint: disable=g-import-not-at-top
  from tfface.methods.latent import alae  # pylint: disable=g-import-not-at-top
  model = alae.StyleALAE.from_config(dict(config))
  analysis_weights.assign_arrays(model, arrays, "StyleALAE")
  return model


def load_torch_checkpoint(path: str) -> Dict[str, Any]:
  """Reads an ALAE ``.pth`` into ``{"models": {name: {key: np.ndarray}}}``.

  Needs PyTorch (``pip install tfface[torch]``) and reads with
  ``torch.load(weights_only=True)`` through
  :func:`tfface.networks.torch_checkpoint.read_torch_file`.

  Raises:
    ImportError: PyTorch is not installed.
    FileNotFoundError: no file at ``path``.
    ConversionError: the file holds objects ``weights_only`` refuses (a full
      training checkpoint whose ``auxiliary`` tracker pickles ALAE classes)
      or no ``models`` entry.
  """
  raw = torch_checkpoint.read_torch_file(
      path, ConversionError,
      refused_hint="if it is a full training checkpoint whose 'auxiliary' "
      "entry pickles ALAE's tracker, keep only the models where you trust the "
      "file: torch.save({'models': torch.load(p, weights_only=False)"
      "['models']}, 'models_only.pth')")
  if not isinstance(raw, Mapping) or "models" not in raw:
    raise ConversionError(f"{path} is not an ALAE checkpoint: expected a dict "
                          "with a 'models' entry (checkpointer.py)")
  return {"models": dict(raw["models"])}


def load_npz_checkpoint(path: str) -> Dict[str, Any]:
  """Reads a checkpoint exported to ``.npz`` without PyTorch.

  Keys ``<model>/<state-dict key>`` (``generator_s/const``, ...), optionally
  prefixed with ``models/``; returns the nested dict of
  :func:`load_torch_checkpoint`.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no checkpoint file at {path!r}")
  models: Dict[str, Dict[str, np.ndarray]] = {}
  with np.load(path, allow_pickle=False) as data:
    for key in data.files:
      name = key[len("models/"):] if key.startswith("models/") else key
      group, _, param = name.partition("/")
      if not param:
        raise ConversionError(f"{path}: unexpected key {key!r}; expected "
                              "'<model>/<state-dict key>' such as "
                              "'generator_s/const'")
      models.setdefault(group, {})[param] = data[key]
  return {"models": models}


def load_checkpoint(path: str) -> Dict[str, Any]:
  """:func:`load_npz_checkpoint` for ``.npz``, else :func:`load_torch_checkpoint`."""
  if path.endswith(".npz"):
    return load_npz_checkpoint(path)
  return load_torch_checkpoint(path)


def convert_file(source: str, destination: str, use_ema: bool = True):
  """Converts an ALAE checkpoint file into a tfface autoencoder ``.npz``.

  Args:
    source: ``model_final.pth`` (PyTorch) or its ``.npz`` export.
    destination: the weights file to write (atomically); it is read by
      :func:`tfface.methods.latent.codes.load_autoencoder` and
      :func:`tfface.methods.latent.alae.load_style_alae`.
    use_ema: the ``*_s`` EMA weights (default) or the trained ones.

  Returns:
    The built :class:`StyleALAE`.
  """
  from tfface.methods.latent import codes  # pylint: disable=g-import-not-at-top
  config, arrays = convert_checkpoint(load_checkpoint(source), use_ema)
  model = build_autoencoder(config, arrays)
  codes.save_autoencoder(destination, model, {
      "source": os.path.abspath(source), "weights": "ema" if use_ema else
      "trained", "converter": "tfface.methods.latent.alae_convert"})
  return model
