"""Released PyTorch face-analysis checkpoints -> tfface analysis networks.

Converters (pure numpy in, a built and filled Keras network out):

* :func:`convert_deep3d_recon`: Deep3DFaceRecon_pytorch's R-Net, the
  ``net_recon`` state dict of ``checkpoints/<name>/epoch_20.pth``
  (``sicxu/Deep3DFaceRecon_pytorch:models/base_model.py`` ``save_networks``
  stores ``{"net_recon": state_dict, "opt_00": ..., "sched_00": ...}``) ->
  :class:`~tfface.analysis.public_nets.Deep3DReconNet`;
* :func:`convert_arcface`: an insightface arcface_torch IR-ResNet state dict
  (``backbone.pth``, flat; or ``state_dict_backbone`` of a training
  checkpoint) -> :class:`~tfface.analysis.public_nets.ArcFaceIResNet`.

What the R-Net state dict holds (``ReconNetWrapper(use_last_fc=False)``, the
release's setting): ``backbone.*`` — torchvision ResNet-50 *without* ``fc``
(the wrapper does not build it) — with every BatchNorm's ``weight``,
``bias``, ``running_mean``, ``running_var`` and ``num_batches_tracked``, and
``final_layers.{0..6}.weight`` `(out, 2048, 1, 1)` / ``.bias`` for id 80,
exp 64, tex 80, angle 3, gamma 27, (tx, ty) 2 and tz 1. arcface_torch's
keys: ``conv1.weight``, ``bn1.*``, ``prelu.weight``,
``layer{s}.{i}.{bn1,conv1,bn2,prelu,conv2,bn3,downsample.0,downsample.1}``,
``bn2.*``, ``fc.weight`` `(512, 512·7·7)`, ``fc.bias``, ``features.*``.

Layout changes only: conv weights OIHW -> HWIO, 1×1 head convs and linears
`(out, in)` -> `(in, out)`, PReLU `(C,)` -> `(1, 1, C)`, BatchNorm ``weight``
/ ``bias`` / ``running_mean`` / ``running_var`` -> ``gamma`` / ``beta`` /
``moving_mean`` / ``moving_variance`` (``num_batches_tracked`` is dropped),
and ``fc``'s columns permuted from PyTorch's NCHW flatten to tfface's NHWC
one. A missing, unknown or mis-shaped key is a
:class:`~tfface.networks.stylegan2_weights.WeightsError` naming it.

Readers: :func:`load_torch_state_dict` (needs PyTorch, the optional
``tfface[torch]`` extra; ``weights_only=True``) and
:func:`load_npz_state_dict` (the same tensors exported with numpy, no
PyTorch); :func:`read_state_dict` picks one by the file name.
:func:`convert_file` is what
``tools/convert_weights.py`` runs: read, convert, write a weights file with
:func:`tfface.analysis.weights.save_network`.
"""

import os
import re
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfface.analysis import public_nets
from tfface.analysis import weights
from tfface.networks import iresnet
from tfface.networks import torch_checkpoint
from tfface.networks import torchvision_resnet

Arrays = Dict[str, np.ndarray]
WeightsError = weights.WeightsError

# Entries of a checkpoint dict that hold the network's state dict, in the
# order they are tried: Deep3DFaceRecon_pytorch, generic, arcface_torch's
# training checkpoint (checkpoint_gpu_<rank>.pt).
STATE_DICT_KEYS = ("net_recon", "state_dict", "state_dict_backbone")
_MODULE_PREFIX = "module."  # DataParallel / DistributedDataParallel
_BN_FIELDS = (("weight", "gamma"), ("bias", "beta"),
              ("running_mean", "moving_mean"),
              ("running_var", "moving_variance"))


# --------------------------------------------------------------------------
# Reading checkpoints.


def _is_array(value) -> bool:
  return isinstance(value, (np.ndarray, np.generic))


def _strip_module_prefix(state: Mapping[str, Any]) -> Arrays:
  return {(k[len(_MODULE_PREFIX):] if k.startswith(_MODULE_PREFIX) else k): v
          for k, v in state.items()}


def unwrap_state_dict(checkpoint: Mapping[str, Any], key: Optional[str] = None,
                      what: str = "checkpoint") -> Arrays:
  """The flat state dict inside a checkpoint dict.

  Args:
    checkpoint: a state dict (name -> array), or a dict holding one under
      ``key`` or one of :data:`STATE_DICT_KEYS` (``net_recon``,
      ``state_dict``, ``state_dict_backbone``).
    key: the entry to take; None picks the first of :data:`STATE_DICT_KEYS`
      present, or ``checkpoint`` itself when all its values are arrays.
    what: how errors name the checkpoint (its file).

  Returns:
    name -> array, with a ``module.`` prefix (DataParallel) removed.

  Raises:
    WeightsError: ``key`` is absent, or no state dict is found.
  """
  if key is not None:
    if key not in checkpoint:
      raise WeightsError(f"{what} has no {key!r} entry; it has "
                         f"{sorted(checkpoint)[:10]}")
    state = checkpoint[key]
  else:
    state = next((checkpoint[k] for k in STATE_DICT_KEYS if k in checkpoint),
                 checkpoint)
  if not isinstance(state, Mapping) or not state:
    raise WeightsError(f"{what}: expected a state dict (name -> tensor), got "
                       f"{type(state).__name__}")
  not_arrays = sorted(k for k, v in state.items() if not _is_array(v))
  if not_arrays:
    raise WeightsError(
        f"{what} holds no state dict at its top level (entries "
        f"{not_arrays[:5]} are not tensors); name the entry that holds the "
        f"network's state dict (one of {list(STATE_DICT_KEYS)} is found "
        "automatically)")
  return _strip_module_prefix(state)


def load_torch_state_dict(path: str, key: Optional[str] = None) -> Arrays:
  """Reads a PyTorch ``.pth`` / ``.pt`` file into a state dict of numpy arrays.

  Needs PyTorch (``pip install 'tfface[torch]'``); reads with
  ``torch.load(map_location="cpu", weights_only=True)``, so no pickled code
  runs. Optimizer and scheduler entries of the checkpoint are ignored.

  Reads with :func:`tfface.networks.torch_checkpoint.read_torch_file`, the
  reader every converter shares.

  Args:
    path: the checkpoint file.
    key: the entry holding the state dict (default: ``net_recon``,
      ``state_dict``, ``state_dict_backbone`` or the file itself, see
      :func:`unwrap_state_dict`).

  Returns:
    name -> array.

  Raises:
    ImportError: PyTorch is not installed.
    FileNotFoundError: no file at ``path``.
    WeightsError: the file holds no state dict, or ``weights_only`` loading
      refuses it.
  """
  raw = torch_checkpoint.read_torch_file(path, WeightsError)
  return unwrap_state_dict(raw, key, path)


def load_npz_state_dict(path: str, key: Optional[str] = None) -> Arrays:
  """Reads a state dict exported to ``.npz`` (no PyTorch needed).

  Keys are the state-dict names (``backbone.conv1.weight``, ...), optionally
  grouped as ``<entry>/<name>`` (``net_recon/backbone.conv1.weight``); with
  ``key`` (or one of :data:`STATE_DICT_KEYS` present as a group) that group
  is taken. Other ``/`` in names are kept (TF variable names).

  Raises:
    FileNotFoundError: no file at ``path``.
    WeightsError: the file is no ``.npz`` archive or ``key`` is absent.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no checkpoint file at {path!r}")
  try:
    data = np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise WeightsError(f"{path} is not an .npz archive of a state dict ({e})"
                       ) from e
  if not isinstance(data, np.lib.npyio.NpzFile):
    raise WeightsError(f"{path} holds one array; expected an .npz archive of "
                       "a state dict (name -> array)")
  with data:
    arrays = {k: data[k] for k in data.files}
  groups = [key] if key is not None else [
      k for k in STATE_DICT_KEYS if any(n.startswith(k + "/") for n in arrays)]
  if groups:
    prefix = groups[0] + "/"
    state = {n[len(prefix):]: v for n, v in arrays.items()
             if n.startswith(prefix)}
    if not state:
      raise WeightsError(f"{path} has no '{prefix}<name>' arrays; its keys "
                         f"start with {sorted(arrays)[:5]}")
    arrays = state
  if not arrays:
    raise WeightsError(f"{path} holds no arrays")
  return _strip_module_prefix(arrays)


def read_state_dict(path: str, key: Optional[str] = None) -> Arrays:
  """Reads ``path`` by its name: ``.npz`` without PyTorch, anything else with.

  See :func:`load_npz_state_dict` and :func:`load_torch_state_dict`.
  """
  if path.endswith(".npz"):
    return load_npz_state_dict(path, key)
  return load_torch_state_dict(path, key)


# --------------------------------------------------------------------------
# Filling a built network from a state dict.


def _same(value: np.ndarray) -> np.ndarray:
  return value


class _StateDictPlan:
  """Which state-dict key fills which variable of a (not yet built) model.

  The key set is checked (:meth:`check_keys`: missing, unknown) before the
  model is built, since building is the slow part; shapes are checked when
  the arrays are assigned (:meth:`assign`, on the built model).
  """

  def __init__(self):
    # (key, layer, attribute, torch shape from the Keras shape, transform)
    self.entries = []
    self.optional = set()  # keys that may be present and are dropped

  def _add(self, key: str, layer, attribute: str,
           torch_shape: Callable[[Tuple[int, ...]], Tuple[int, ...]],
           transform: Callable[[np.ndarray], np.ndarray] = _same) -> None:
    self.entries.append((key, layer, attribute, torch_shape, transform))

  def conv(self, prefix: str, layer) -> None:
    """``<prefix>.weight`` `(O, I, kh, kw)` -> kernel `(kh, kw, I, O)`."""
    self._add(f"{prefix}.weight", layer, "kernel",
              lambda s: (s[3], s[2], s[0], s[1]),
              lambda w: w.transpose(2, 3, 1, 0))
    if layer.use_bias:
      self._add(f"{prefix}.bias", layer, "bias", tuple)

  def batch_norm(self, prefix: str, layer) -> None:
    """BatchNorm2d / 1d: weight, bias, running_mean, running_var."""
    for torch_name, keras_name in _BN_FIELDS:
      self._add(f"{prefix}.{torch_name}", layer, keras_name, tuple)
    # A training counter; inference does not use it.
    self.optional.add(f"{prefix}.num_batches_tracked")

  def prelu(self, prefix: str, layer) -> None:
    """``nn.PReLU(C).weight`` `(C,)` -> alpha `(1, 1, C)`."""
    self._add(f"{prefix}.weight", layer, "alpha", lambda s: (s[-1],))

  def dense_from_1x1(self, prefix: str, layer) -> None:
    """1×1 conv on a `[B, C, 1, 1]` map `(O, C, 1, 1)` -> Dense `(C, O)`."""
    self._add(f"{prefix}.weight", layer, "kernel",
              lambda s: (s[1], s[0], 1, 1),
              lambda w: w.reshape(w.shape[0], w.shape[1]).T)
    self._add(f"{prefix}.bias", layer, "bias", tuple)

  def linear_from_nchw(self, prefix: str, layer, channels: int,
                       size: int) -> None:
    """``nn.Linear`` on an NCHW-flattened map -> Dense on an NHWC one.

    PyTorch's input index is ``c·H·W + h·W + w``; tfface's is
    ``(h·W + w)·C + c``, so the weight `(O, C·H·W)` becomes
    ``reshape(O, C, H, W).transpose(2, 3, 1, 0).reshape(H·W·C, O)``.
    """
    self._add(f"{prefix}.weight", layer, "kernel", lambda s: (s[1], s[0]),
              lambda w: w.reshape(w.shape[0], channels, size, size)
              .transpose(2, 3, 1, 0).reshape(-1, w.shape[0]))
    self._add(f"{prefix}.bias", layer, "bias", tuple)

  def check_keys(self, state: Mapping[str, Any], what: str) -> None:
    """Raises WeightsError for the first missing key, or unknown keys."""
    expected = [e[0] for e in self.entries]
    missing = [k for k in expected if k not in state]
    if missing:
      more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
      raise WeightsError(f"{what} lacks {missing[0]!r}{more}")
    unknown = sorted(set(state) - set(expected) - self.optional)
    if unknown:
      more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
      raise WeightsError(f"{what} has keys the converter does not know: "
                         f"{unknown[:5]}{more}")

  def assign(self, model: tf.keras.Model, state: Mapping[str, Any],
             what: str) -> None:
    """Checks every shape and assigns the arrays to the built ``model``."""
    names = {id(v): n for n, v in weights.named_variables(model).items()}
    arrays: Arrays = {}
    for key, layer, attribute, torch_shape, transform in self.entries:
      variable = getattr(layer, attribute)
      shape = tuple(int(d) for d in variable.shape)
      expected = tuple(torch_shape(shape))
      value = np.asarray(state[key], np.float32)
      if value.shape != expected:
        raise WeightsError(f"{what}: {key!r} has shape {value.shape}; "
                           f"expected {expected}")
      arrays[names[id(variable)]] = np.ascontiguousarray(
          transform(value)).reshape(shape)
    weights.assign_arrays(model, arrays, what)


def _block_counts(state: Mapping[str, Any], pattern: str) -> Tuple[int, ...]:
  """Blocks per stage ``layer1..layer4`` from keys matching ``pattern``."""
  regex = re.compile(pattern)
  counts = {}
  for k in state:
    m = regex.fullmatch(k)
    if m:
      stage, index = int(m.group(1)), int(m.group(2))
      counts[stage] = max(counts.get(stage, 0), index + 1)
  return tuple(counts.get(s, 0) for s in range(1, 5))


def _require(state: Mapping[str, Any], key: str, what: str,
             kind: str) -> np.ndarray:
  if key not in state:
    raise WeightsError(f"{what} is not {kind} state dict: it has no {key!r} "
                       f"key (its keys begin {sorted(state)[:3]})")
  return np.asarray(state[key])


# --------------------------------------------------------------------------
# Deep3DFaceRecon_pytorch R-Net.


def deep3d_recon_architecture(state: Mapping[str, Any],
                              what: str = "R-Net state dict"
                              ) -> Dict[str, int]:
  """``{"depth", "width"}`` of a ``net_recon`` state dict, from its keys."""
  stem = _require(state, "backbone.conv1.weight", what,
                  "a Deep3DFaceRecon_pytorch R-Net (net_recon)")
  counts = _block_counts(state, r"backbone\.layer([1-4])\.(\d+)\.conv1\.weight")
  bottleneck = "backbone.layer1.0.conv3.weight" in state
  for depth, (blocks, is_bottleneck) in torchvision_resnet.DEPTHS.items():
    if blocks == counts and is_bottleneck == bottleneck:
      return {"depth": depth, "width": int(stem.shape[0])}
  raise WeightsError(
      f"{what}: its backbone has {list(counts)} "
      f"{'bottleneck' if bottleneck else 'basic'} blocks per stage, which is "
      f"no torchvision ResNet of depth {sorted(torchvision_resnet.DEPTHS)}")


def convert_deep3d_recon(state: Mapping[str, Any], input_size: int = 224,
                         what: str = "R-Net state dict"
                         ) -> public_nets.Deep3DReconNet:
  """A ``net_recon`` state dict -> a built, filled :class:`Deep3DReconNet`.

  Args:
    state: name -> array: the ``net_recon`` state dict (or a checkpoint dict
      holding it; a ``module.`` prefix is removed).
    input_size: the side images are resized to (224, the reference's).
    what: how errors name the source.

  Returns:
    The network; ``model.config()`` rebuilds it (for
    :func:`~tfface.analysis.weights.save_network`).

  Raises:
    WeightsError: a key is missing, unknown (e.g. a torchvision ``fc``, which
      the R-Net does not have) or mis-shaped.
  """
  state = unwrap_state_dict(state, what=what)
  arch = deep3d_recon_architecture(state, what)
  model = public_nets.Deep3DReconNet(arch["depth"], arch["width"],
                                     int(input_size))
  plan = _StateDictPlan()
  backbone = model.backbone
  plan.conv("backbone.conv1", backbone.conv1)
  plan.batch_norm("backbone.bn1", backbone.bn1)
  names = ("conv1", "bn1", "conv2", "bn2") + (
      ("conv3", "bn3") if backbone.bottleneck else ())
  for s, stage in enumerate(backbone.stages, start=1):
    for i, block in enumerate(stage):
      prefix = f"backbone.layer{s}.{i}"
      for name in names:
        layer = getattr(block, name)
        if name.startswith("conv"):
          plan.conv(f"{prefix}.{name}", layer)
        else:
          plan.batch_norm(f"{prefix}.{name}", layer)
      if block.downsample_0 is not None:
        plan.conv(f"{prefix}.downsample.0", block.downsample_0)
        plan.batch_norm(f"{prefix}.downsample.1", block.downsample_1)
  for j, head in enumerate(model.heads):
    plan.dense_from_1x1(f"final_layers.{j}", head)
  plan.check_keys(state, what)
  model(tf.zeros([1, model.input_size, model.input_size, 3]))
  plan.assign(model, state, what)
  return model


# --------------------------------------------------------------------------
# insightface arcface_torch IR-ResNet.


def arcface_architecture(state: Mapping[str, Any],
                         what: str = "arcface state dict") -> Dict[str, int]:
  """``{"depth", "width", "embedding_size", "input_size"}`` from the keys.

  The input size follows from ``fc``: `(E, C·s·s)` with the last map `s × s`
  after a stride-16 trunk (112 px -> 7).
  """
  kind = "an arcface_torch iresnet"
  stem = _require(state, "conv1.weight", what, kind)
  fc = _require(state, "fc.weight", what, kind)
  counts = _block_counts(state, r"layer([1-4])\.(\d+)\.conv1\.weight")
  depth = next((d for d, blocks in iresnet.DEPTHS.items() if blocks == counts),
               None)
  if depth is None:
    raise WeightsError(f"{what}: it has {list(counts)} blocks per stage, which "
                       "is no iresnet of depth "
                       f"{sorted(iresnet.DEPTHS)}")
  width = int(stem.shape[0])
  channels = 8 * width
  if fc.ndim != 2 or fc.shape[1] % channels:
    raise WeightsError(f"{what}: 'fc.weight' has shape {fc.shape}; expected "
                       f"(embedding, {channels}·s·s)")
  side = int(round(np.sqrt(fc.shape[1] // channels)))
  if side * side * channels != fc.shape[1]:
    raise WeightsError(f"{what}: 'fc.weight' has shape {fc.shape}; "
                       f"{fc.shape[1]} inputs are not {channels}·s·s")
  return {"depth": depth, "width": width, "embedding_size": int(fc.shape[0]),
          "input_size": 16 * side}


def convert_arcface(state: Mapping[str, Any], depth: Optional[int] = None,
                    what: str = "arcface state dict"
                    ) -> public_nets.ArcFaceIResNet:
  """An arcface_torch iresnet state dict -> a built, filled ArcFaceIResNet.

  Args:
    state: name -> array (``backbone.pth``; or a checkpoint dict with
      ``state_dict_backbone``; a ``module.`` prefix is removed).
    depth: 18, 34, 50, 100 or 200, or None to infer it from the keys; when
      given it must match them.
    what: how errors name the source.

  Raises:
    WeightsError: a key is missing, unknown or mis-shaped, or ``depth``
      differs from the state dict's.
  """
  state = unwrap_state_dict(state, what=what)
  arch = arcface_architecture(state, what)
  if depth is not None and int(depth) != arch["depth"]:
    raise WeightsError(f"{what} holds an iresnet{arch['depth']}, not the "
                       f"iresnet{int(depth)} asked for")
  model = public_nets.ArcFaceIResNet(**arch)
  net = model.backbone
  plan = _StateDictPlan()
  plan.conv("conv1", net.conv1)
  plan.batch_norm("bn1", net.bn1)
  plan.prelu("prelu", net.prelu)
  for s, stage in enumerate(net.stages, start=1):
    for i, block in enumerate(stage):
      prefix = f"layer{s}.{i}"
      plan.batch_norm(f"{prefix}.bn1", block.bn1)
      plan.conv(f"{prefix}.conv1", block.conv1)
      plan.batch_norm(f"{prefix}.bn2", block.bn2)
      plan.prelu(f"{prefix}.prelu", block.prelu)
      plan.conv(f"{prefix}.conv2", block.conv2)
      plan.batch_norm(f"{prefix}.bn3", block.bn3)
      if block.downsample_0 is not None:
        plan.conv(f"{prefix}.downsample.0", block.downsample_0)
        plan.batch_norm(f"{prefix}.downsample.1", block.downsample_1)
  plan.batch_norm("bn2", net.bn2)
  plan.linear_from_nchw("fc", net.fc, net.feature_channels,
                        net.feature_map_size)
  plan.batch_norm("features", net.features)
  plan.check_keys(state, what)
  model(tf.zeros([1, model.input_size, model.input_size, 3]))
  plan.assign(model, state, what)
  return model


# --------------------------------------------------------------------------
# What tools/convert_weights.py runs.

IMAGES = ("[B, H, W, 3] float32 RGB in [-1, 1], any size (the network "
          "resizes, bilinear without antialiasing)")
SUBJECTS = ("deep3d_recon", "arcface", "facenet")


def _facenet_module():
  """``tfface.analysis.convert_facenet``, imported on first use."""
  try:
    from tfface.analysis import convert_facenet  # pylint: disable=g-import-not-at-top
  except ModuleNotFoundError as e:
    if e.name != "tfface.analysis.convert_facenet":
      raise
    raise ImportError("the FaceNet converter (tfface.analysis.convert_facenet)"
                      " is not part of this tfface installation") from e
  return convert_facenet


def _config(model) -> Dict[str, Any]:
  """Constructor arguments: ``model.config()``, else its ``get_config()``."""
  config = getattr(model, "config", None)
  if callable(config):
    return dict(config())
  return dict(model.get_config())


def convert_file(subject: str, source: str, target: str,
                 key: Optional[str] = None,
                 depth: Optional[int] = None) -> str:
  """Reads a released checkpoint, converts it, writes a tfface weights file.

  Args:
    subject: ``"deep3d_recon"``, ``"arcface"`` or ``"facenet"``
      (:data:`SUBJECTS`).
    source: the checkpoint (``.pth``/``.pt`` needs PyTorch; ``.npz`` of the
      same arrays does not).
    target: the ``.npz`` weights file to write (atomically).
    key: the checkpoint entry holding the state dict (default automatic).
    depth: arcface only: the expected iresnet depth (default inferred).

  Returns:
    A one-line summary of what was written.

  Raises:
    ValueError (WeightsError): a bad subject or checkpoint.
    ImportError: a ``.pth`` without PyTorch, or no FaceNet converter.
  """
  if subject not in SUBJECTS:
    raise ValueError(f"unknown subject {subject!r}; expected one of "
                     f"{list(SUBJECTS)}")
  if depth is not None and subject != "arcface":
    raise ValueError("--depth applies to the arcface subject only")
  name = os.path.basename(source)
  if subject == "facenet":
    module = _facenet_module()
    # The FaceNet converter's own reader when it has one (it knows
    # facenet-pytorch's files); --key goes through the generic one.
    reader = getattr(module, "read_state_dict", None)
    state = (reader(source) if reader is not None and key is None
             else read_state_dict(source, key))
  else:
    state = read_state_dict(source, key)
  if subject == "deep3d_recon":
    model = convert_deep3d_recon(state, what=name)
    metadata = {
        "reference": "sicxu/Deep3DFaceRecon_pytorch ReconNetWrapper "
                     f"(torchvision resnet{model.backbone.depth} + "
                     "final_layers)",
        "reference_input": f"{model.input_size}x{model.input_size} aligned "
                           "crop, RGB in [0, 1]",
        "output": "coefficients [B, 257] in the D3D/PT layout id | exp | tex "
                  "| angles | gamma | trans, and its named slices",
        "coefficient_slices": {k: list(v) for k, v in
                               public_nets.BFM_257_SLICES.items()}}
    detail = f"resnet{model.backbone.depth}"
  elif subject == "arcface":
    model = convert_arcface(state, depth, what=name)
    metadata = {
        "reference": "deepinsight/insightface arcface_torch "
                     f"iresnet{model.backbone.depth}",
        "reference_input": f"{model.input_size}x{model.input_size} aligned "
                           "crop, RGB, (x / 255 - 0.5) / 0.5",
        "output": f"[B, {model.backbone.embedding_size}] embedding, "
                  "L2-normalized (call with normalize=False for the raw "
                  "features)"}
    detail = f"iresnet{model.backbone.depth}"
  else:
    model = module.convert_facenet(state)
    describe = getattr(module, "conversion_metadata", None)
    metadata = dict(describe(source)) if describe is not None else {}
    detail = type(model).__name__
  metadata.setdefault("input", IMAGES)
  metadata.update({"source": name, "subject": subject,
                   "input_size": int(model.input_size)})
  weights.save_network(target, model, _config(model), metadata)
  return (f"wrote {target} ({subject}: {detail}, {model.input_size} px; "
          f"{len(model.weights)} tensors)")

