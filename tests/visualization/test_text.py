"""The bitmap-font row labels of tfface's PNG grids."""

import numpy as np
import pytest

from tfface.visualization import text


def test_text_mask_size_scale_and_case():
  mask = text.text_mask("ab", scale=2)
  assert mask.shape == (14, 22) and mask.dtype == bool
  np.testing.assert_array_equal(mask, text.text_mask("AB", scale=2))
  # One blank (scaled) column between the glyphs, each glyph its own shape.
  assert not mask[:, 10:12].any()
  assert not np.array_equal(mask[:, :10], mask[:, 12:])
  assert not text.text_mask(" ").any()
  # Unknown characters are drawn as '?', not dropped.
  np.testing.assert_array_equal(text.text_mask("~"), text.text_mask("?"))
  with pytest.raises(ValueError, match="text scale"):
    text.text_mask("a", scale=0)


def test_every_glyph_is_seven_rows_of_five():
  for glyph, rows in text._GLYPHS.items():  # pylint: disable=protected-access
    assert len(rows) == 7 and all(len(r) == 5 for r in rows), glyph


def test_label_rows_puts_each_label_beside_its_row():
  grid = np.full([3 * 56, 50, 3], 128, np.uint8)
  out = text.label_rows(grid, ["yaw", "", "pitch"])
  width = out.shape[1] - 50
  np.testing.assert_array_equal(out[:, width:], grid)
  ink = out[:, :width, 0] == 255
  rows = ink.reshape(3, 56, width).any(axis=(1, 2))
  assert rows.tolist() == [True, False, True]
  # 56 px rows: 2x-scaled glyphs (14 px tall), centred in their row.
  first = np.nonzero(ink[:56].any(axis=1))[0]
  assert first.min() == 21 and first.max() == 34
  assert first.max() - first.min() + 1 == 14
  with pytest.raises(ValueError, match="multiple of the 2 row labels"):
    text.label_rows(np.zeros([5, 4, 3], np.uint8), ["a", "b"])
  with pytest.raises(ValueError, match="uint8"):
    text.label_rows(np.zeros([4, 4, 3], np.float32), ["a"])
