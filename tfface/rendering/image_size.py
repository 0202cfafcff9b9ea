"""The one image-size check of tfface: an int or `(height, width)` of ints.

Renderers, cameras, the rasterizer and the dataset readers and writers all take
``image_size`` as ``S`` (square) or ``(H, W)`` and validate it here, each with
its own minimum, so every bad size gets the same clear sentence.
"""

from typing import Tuple

import numpy as np


def _is_int(value) -> bool:
  return (isinstance(value, (int, np.integer))
          and not isinstance(value, (bool, np.bool_)))


def parse_image_size(image_size, minimum: int = 1,
                     name: str = "image_size") -> Tuple[int, int]:
  """An int ``S`` or ``(height, width)`` -> ``(height, width)`` Python ints.

  Python and NumPy integers are accepted (a 2-element NumPy integer array or
  a ``tf.TensorShape`` too); bools, floats, strings, ``None`` and sizes below
  ``minimum`` are rejected.

  Args:
    image_size: ``S`` (a square ``S x S`` image) or ``(H, W)`` in pixels.
    minimum: the smallest allowed height and width.
    name: the argument's name, for the error message.

  Returns:
    ``(height, width)``, Python ints, each ``>= minimum``.

  Raises:
    ValueError: one sentence naming ``name``, what was given and what was
      expected.
  """
  if _is_int(image_size):
    size = (image_size, image_size)
  else:
    try:
      size = tuple(image_size)
    except TypeError:
      size = ()
  if (len(size) != 2 or not all(_is_int(s) for s in size)
      or min(size) < minimum):
    raise ValueError(f"{name} must be an int or (height, width) of ints, each "
                     f">= {minimum}, got {image_size!r}.")
  return int(size[0]), int(size[1])
