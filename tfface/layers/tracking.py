"""Making Keras 3 track layers that a model keeps in a list or dict.

Keras 3 tracks layers held in Python lists and dicts for its own ``weights``,
but ``tf.train.Checkpoint`` does not see them as dependencies, so a
checkpoint would silently miss their variables. Every network in tfface that
keeps a sequence of layers registers them with :func:`track`, which makes
each one a named attribute (``<prefix>_<key>``) of its owner.
"""

from typing import Dict, List, Mapping, Sequence, TypeVar, Union

T = TypeVar("T")


def track(owner, prefix: str,
          layers: Union[Sequence[T], Mapping[object, T]],
          start: int = 0) -> Union[List[T], Dict[object, T]]:
  """Sets ``owner.<prefix>_<key>`` for every layer; returns the layers.

  Args:
    owner: the ``keras.layers.Layer`` / ``keras.Model`` that holds them.
    prefix: attribute prefix (the checkpoint key prefix).
    layers: a sequence (keys ``start, start + 1, ...``) or a mapping (its
      keys; they must make valid attribute suffixes).
    start: index of the first layer of a sequence.

  Returns:
    A list (for a sequence) or a dict (for a mapping) of the same layers, to
    keep as the owner's ordered view.
  """
  if isinstance(layers, Mapping):
    out = dict(layers)
    items = out.items()
  else:
    out = list(layers)
    items = enumerate(out, start=start)
  for key, layer in items:
    setattr(owner, f"{prefix}_{key}", layer)
  return out


def tracked(owner, prefix: str, count: int, start: int = 0) -> list:
  """The layers ``owner.<prefix>_<start> .. <prefix>_<start + count - 1>``."""
  return [getattr(owner, f"{prefix}_{i}") for i in range(start, start + count)]
