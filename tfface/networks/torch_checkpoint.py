"""The one reader of PyTorch checkpoint files every tfface converter uses.

Converters (StyleGAN2, ALAE, Deep3DFaceRecon, ArcFace, FaceNet) read released
``.pt`` / ``.pth`` files with ``torch.load(map_location="cpu",
weights_only=True)``, so no pickled code runs, and turn every tensor into a
numpy array; each converter then picks the entries it knows. PyTorch is the
optional ``tfface[torch]`` extra: without it, reading is one clear
ImportError (an ``.npz`` of the same arrays needs no PyTorch).
"""

import os
from typing import Any, Mapping, Sequence, Type

TORCH_EXTRA = ("reading PyTorch checkpoints needs torch; install the "
               "optional extra: pip install 'tfface[torch]'")


def to_numpy(value: Any) -> Any:
  """Tensors -> numpy arrays (float16 / bfloat16 as float32), recursively
  through dicts; other values are returned as they are."""
  if isinstance(value, Mapping):
    return {k: to_numpy(v) for k, v in value.items()}
  if hasattr(value, "detach"):
    value = value.detach().cpu()
    if value.is_floating_point():
      value = value.float()
    return value.numpy()
  return value


def read_torch_file(path: str, error: Type[Exception] = ValueError,
                    allowed_globals: Sequence[type] = (),
                    refused_hint: str = "") -> Mapping[str, Any]:
  """Reads a PyTorch checkpoint into nested dicts of numpy arrays.

  Args:
    path: the ``.pt`` / ``.pth`` file.
    error: the converter's error class, raised when the file is unreadable.
    allowed_globals: classes ``weights_only`` loading may rebuild (e.g. the
      ``argparse.Namespace`` rosinality stores under ``args``).
    refused_hint: appended to the error when ``weights_only`` refuses the
      file (what the user can do about it).

  Returns:
    The checkpoint's top-level dict with every tensor as a numpy array.

  Raises:
    ImportError: PyTorch is not installed.
    FileNotFoundError: no file at ``path``.
    error: ``torch.load(weights_only=True)`` cannot read it, or it holds no
      dict.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no checkpoint file at {path!r}")
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(TORCH_EXTRA) from e
  safe = getattr(torch.serialization, "safe_globals", None)
  try:
    if allowed_globals and safe is not None:
      with safe(list(allowed_globals)):
        raw = torch.load(path, map_location="cpu", weights_only=True)
    else:
      raw = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # pylint: disable=broad-except
    # torch raises pickle.UnpicklingError (or RuntimeError for a file that is
    # no zip / legacy archive); both mean "not a readable checkpoint".
    raise error(f"{path}: torch.load(weights_only=True) cannot read it "
                f"({type(e).__name__}: {str(e)[:200]})"
                + (f"; {refused_hint}" if refused_hint else "")) from e
  if not isinstance(raw, Mapping):
    raise error(f"{path}: expected a dict (a state dict or a checkpoint), "
                f"got {type(raw).__name__}")
  return to_numpy(raw)
