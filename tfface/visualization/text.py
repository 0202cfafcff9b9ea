"""Row labels on image grids, drawn with a built-in 5×7 bitmap font.

No font file and no imaging library: the glyphs below are the classic 5×7
dot-matrix shapes (upper case, digits and a few signs); lower-case text is
drawn in upper case. Used by the PNG grids tfface's tools write, so a reader
knows what each row varies.
"""

from typing import Sequence

import numpy as np

GLYPH_WIDTH = 5
GLYPH_HEIGHT = 7

# Each glyph: 7 rows of 5 columns, '#' = ink.
_GLYPHS = {
    "A": (" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"),
    "B": ("#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "),
    "C": (" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "),
    "D": ("#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### "),
    "E": ("#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"),
    "F": ("#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    "),
    "G": (" ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####"),
    "H": ("#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"),
    "I": (" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "),
    "J": ("  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  "),
    "K": ("#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #"),
    "L": ("#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####"),
    "M": ("#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #"),
    "N": ("#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #"),
    "O": (" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "),
    "P": ("#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    "),
    "Q": (" ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #"),
    "R": ("#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"),
    "S": (" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "),
    "T": ("#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "),
    "U": ("#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "),
    "V": ("#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  "),
    "W": ("#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # "),
    "X": ("#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #"),
    "Y": ("#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  "),
    "Z": ("#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####"),
    "0": (" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "),
    "1": ("  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "),
    "2": (" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"),
    "3": ("#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "),
    "4": ("   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "),
    "5": ("#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "),
    "6": ("  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "),
    "7": ("#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "),
    "8": (" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "),
    "9": (" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "),
    " ": ("     ",) * 7,
    "-": ("     ", "     ", "     ", "#####", "     ", "     ", "     "),
    "_": ("     ", "     ", "     ", "     ", "     ", "     ", "#####"),
    ".": ("     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "),
    ",": ("     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   "),
    ":": ("     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "),
    "/": ("    #", "    #", "   # ", "  #  ", " #   ", "#    ", "#    "),
    "+": ("     ", "  #  ", "  #  ", "#####", "  #  ", "  #  ", "     "),
    "=": ("     ", "     ", "#####", "     ", "#####", "     ", "     "),
    "(": ("   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "),
    ")": (" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "),
    "°": (" ##  ", "#  # ", "#  # ", " ##  ", "     ", "     ", "     "),
    "?": (" ### ", "#   #", "    #", "   # ", "  #  ", "     ", "  #  "),
}

_MASKS = {c: np.array([[ch == "#" for ch in row] for row in rows], bool)
          for c, rows in _GLYPHS.items()}


def text_mask(text: str, scale: int = 1) -> np.ndarray:
  """The ink of ``text`` in the 5×7 font, one blank column between glyphs.

  Args:
    text: any string; lower case is drawn as upper case, characters the
      font lacks as '?'.
    scale: integer magnification (each font dot becomes scale × scale px).

  Returns:
    `[7 * scale, (6 * len(text) - 1) * scale]` bool (at least one column).
  """
  if scale < 1:
    raise ValueError(f"text scale must be an integer >= 1, got {scale}.")
  glyphs = [_MASKS.get(c, _MASKS["?"]) for c in str(text).upper()]
  if not glyphs:
    return np.zeros([GLYPH_HEIGHT * scale, scale], bool)
  gap = np.zeros([GLYPH_HEIGHT, 1], bool)
  columns = [part for g in glyphs for part in (g, gap)][:-1]
  mask = np.concatenate(columns, axis=1)
  return np.kron(mask, np.ones([scale, scale], bool)).astype(bool)


def label_rows(grid: np.ndarray, labels: Sequence[str],
               width: int = 0) -> np.ndarray:
  """Puts a label column left of an image grid, one label per row.

  Args:
    grid: `[R * S, W, 3]` uint8, ``R = len(labels)`` rows of height S.
    labels: one text per row, drawn white on black, vertically centred.
    width: label column width in px; 0 fits the longest label.

  Returns:
    `[R * S, width + W, 3]` uint8.
  """
  grid = np.asarray(grid)
  if grid.ndim != 3 or grid.shape[-1] != 3 or grid.dtype != np.uint8:
    raise ValueError(f"grid must be [H, W, 3] uint8, got {grid.shape} "
                     f"{grid.dtype}.")
  if not labels or grid.shape[0] % len(labels):
    raise ValueError(f"grid height {grid.shape[0]} is not a multiple of the "
                     f"{len(labels)} row labels.")
  row_height = grid.shape[0] // len(labels)
  # The largest scale (up to 3) at which a line fills at most 1/4 of a row.
  scale = min(3, max(1, row_height // (4 * GLYPH_HEIGHT)))
  masks = [text_mask(label, scale) for label in labels]
  margin = 2 * scale
  width = width or max(m.shape[1] for m in masks) + 2 * margin
  column = np.zeros([grid.shape[0], width, 3], np.uint8)
  for r, mask in enumerate(masks):
    h, w = mask.shape
    top = r * row_height + max(0, (row_height - h) // 2)
    h, w = min(h, row_height), min(w, width - margin)
    column[top:top + h, margin:margin + w][mask[:h, :w]] = 255
  return np.concatenate([column, grid], axis=1)
