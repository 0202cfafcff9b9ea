"""timesler/facenet-pytorch ``InceptionResnetV1`` weights -> a tfface FaceNet.

facenet-pytorch releases plain ``state_dict`` files
(``20180402-114759-vggface2.pt``, ``20180408-102900-casia-webface.pt``).
:func:`convert_facenet` maps one (name -> numpy array) onto a built
:class:`tfface.analysis.facenet.FaceNet`:

* ``*.conv.weight`` / ``*.conv2d.weight`` `(out, in, kh, kw)` -> Keras
  `(kh, kw, in, out)`; ``*.conv2d.bias`` as is;
* ``*.bn.weight, bias, running_mean, running_var`` -> BatchNorm ``gamma,
  beta, moving_mean, moving_variance`` (same eps 1e-3, so frozen outputs are
  identical);
* ``last_linear.weight`` `(E, 1792)` -> Dense kernel `(1792, E)`; ``last_bn``
  as the other BatchNorms;
* ``*.num_batches_tracked`` are dropped; ``logits.*`` (the classifier over
  the training identities) are dropped unless ``keep_logits``.

The result is written with :func:`tfface.analysis.weights.save_network`::

    state = read_state_dict("20180402-114759-vggface2.pt")
    model = convert_facenet(state)
    weights.save_network("facenet_vggface2.npz", model, model.get_config(),
                         conversion_metadata("20180402-114759-vggface2.pt"))
"""

import os
from typing import Any, Dict, Mapping, Optional

import numpy as np
import tensorflow as tf

from tfface.analysis import facenet
from tfface.analysis import weights
from tfface.networks import inception_resnet_v1 as irv1

WeightsError = weights.WeightsError

_IGNORED_SUFFIX = ".num_batches_tracked"


def _state_dict_sizes(state: Mapping[str, Any], keep_logits: bool):
  """``(embedding_size, num_classes)`` read off the state dict."""
  if "last_linear.weight" not in state:
    raise WeightsError("facenet-pytorch state dict lacks 'last_linear.weight' "
                       "(is this an InceptionResnetV1 state_dict?)")
  last = np.shape(state["last_linear.weight"])
  if len(last) != 2:
    raise WeightsError(f"facenet-pytorch state dict: 'last_linear.weight' has "
                       f"shape {tuple(last)}, expected (embedding_size, 1792)")
  num_classes = 0
  if keep_logits:
    if "logits.weight" not in state:
      raise WeightsError("keep_logits=True but the facenet-pytorch state dict "
                         "has no 'logits.weight'")
    num_classes = int(np.shape(state["logits.weight"])[0])
  return int(last[0]), num_classes


def convert_facenet(state: Mapping[str, np.ndarray],
                    keep_logits: bool = False,
                    into: Optional[facenet.FaceNet] = None) -> facenet.FaceNet:
  """A built :class:`~tfface.analysis.facenet.FaceNet` holding ``state``.

  Args:
    state: facenet-pytorch ``InceptionResnetV1.state_dict()``, name -> array
      (torch tensors as ``.numpy()``; see :func:`read_state_dict`).
    keep_logits: also convert the ``logits`` layer (`[num_classes, E]`, for
      :meth:`FaceNet.classify`); by default it is dropped.
    into: an existing FaceNet (of the state dict's sizes) to fill instead of
      building a new one; nothing is assigned unless every key and shape fits.

  Returns:
    The filled network; ``model.get_config()`` is its constructor config for
    :func:`~tfface.analysis.weights.save_network`.

  Raises:
    WeightsError: a key the network needs is missing, the state dict has a key
      the converter does not know, or an array has the wrong shape (each
      message names the key).
  """
  embedding_size, num_classes = _state_dict_sizes(state, keep_logits)
  if into is None:
    model = facenet.FaceNet(embedding_size=embedding_size,
                            num_classes=num_classes)
  else:
    model = into
    sizes = (model.network.embedding_size, model.network.num_classes)
    if sizes != (embedding_size, num_classes):
      raise WeightsError(
          f"the facenet-pytorch state dict has embedding size "
          f"{embedding_size} and {num_classes} logits, the network to fill "
          f"{sizes[0]} and {sizes[1]}")
  if not model.built:
    model(tf.zeros([1, facenet.INPUT_SIZE, facenet.INPUT_SIZE, 3]))
  targets = model.network.torch_variables()

  known = set(targets)
  given = set()
  for key in state:
    if key.endswith(_IGNORED_SUFFIX):
      continue
    if not keep_logits and (key == "logits" or key.startswith("logits.")):
      continue
    given.add(key)
  missing = sorted(known - given)
  if missing:
    raise WeightsError(f"facenet-pytorch state dict lacks {missing[0]!r}"
                       + (f" (and {len(missing) - 1} more)"
                          if len(missing) > 1 else ""))
  unexpected = sorted(given - known)
  if unexpected:
    raise WeightsError(f"facenet-pytorch state dict has a key the converter "
                       f"does not know: {unexpected[0]!r}"
                       + (f" (and {len(unexpected) - 1} more)"
                          if len(unexpected) > 1 else ""))
  # Check every shape before assigning anything.
  values = {}
  for key, (variable, layout) in targets.items():
    value = np.asarray(state[key], np.float32)
    expected = irv1.torch_shape(variable.shape, layout)
    if value.shape != expected:
      raise WeightsError(f"facenet-pytorch state dict: {key!r} has shape "
                         f"{value.shape}, expected {expected}")
    values[key] = irv1.from_torch(value, layout)
  for key, (variable, _) in targets.items():
    variable.assign(values[key])
  return model


def conversion_metadata(source: Optional[str] = None) -> Dict[str, Any]:
  """Facts to keep in the weights file (input conventions, provenance)."""
  meta = {
      "architecture": "timesler/facenet-pytorch InceptionResnetV1",
      "input": "[B, H, W, 3] float32 RGB in [-1, 1], aligned face crop; "
               "resized bilinearly to 160x160 and standardised as "
               "(pixel_0_255 - 127.5) / 128",
      "output": "[B, embedding_size] L2-normalised identity embedding",
  }
  if source:
    meta["source"] = os.path.basename(source)
  return meta


def read_state_dict(path: str) -> Dict[str, np.ndarray]:
  """Reads a facenet-pytorch ``state_dict`` file -> name -> numpy array.

  ``.npz`` (the state dict saved with ``np.savez(path, **{k: v.numpy()})``)
  needs no PyTorch; anything else is read with ``torch.load(path,
  weights_only=True)`` (the optional ``tfface[torch]`` extra).

  Raises:
    FileNotFoundError: no file at ``path``.
    ImportError: a ``.pt`` file and no PyTorch.
    WeightsError: the file does not hold a dict of tensors.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no facenet-pytorch weights file at {path!r}")
  if path.endswith(".npz"):
    with np.load(path, allow_pickle=False) as data:
      return {k: np.asarray(data[k]) for k in data.files}
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError("reading PyTorch weights needs torch; install the "
                      "optional extra: pip install 'tfface[torch]'") from e
  raw = torch.load(path, map_location="cpu", weights_only=True)
  if isinstance(raw, Mapping) and "state_dict" in raw:
    raw = raw["state_dict"]
  if not isinstance(raw, Mapping):
    raise WeightsError(f"{path}: expected an InceptionResnetV1 state_dict, "
                       f"got a {type(raw).__name__}")
  return {k: v.detach().cpu().numpy() for k, v in raw.items()
          if hasattr(v, "detach")}
