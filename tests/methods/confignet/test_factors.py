"""ConfigNet factor tables: presets, sorted latent layout, validation."""

import pytest

from tfface.methods.confignet import factors


def test_paper_table_has_12_factors_and_145_latents():
  table = factors.paper_factor_table()
  assert len(table) == 12 and table.latent_dim == 145
  assert table.theta_dim == 304
  # Alphabetical layout as in the reference: blendshapes occupy 7..36.
  assert table.latent_slice("blendshape_values") == (7, 37)
  assert table.latent_slice("upper_eyelash_style") == (143, 145)


def test_table_from_sizes_drops_pose_and_sorts():
  table = factors.table_from_sizes(
      {"pose": 3, "sh": 27, "expression": 24, "gaze": 2},
      z_dims={"gaze": 2})
  assert table.names == ("expression", "gaze", "sh")
  assert table["sh"].z_dim == 14 and table["expression"].z_dim == 12
  # A colour keeps its three channels (the reference's hair colour: 3 -> 3).
  assert [factors.default_z_dim(n) for n in (1, 2, 3, 4, 62, 100)] == [
      1, 2, 3, 2, 30, 30]
  with pytest.raises(ValueError, match="unknown factors"):
    factors.table_from_sizes({"sh": 27}, z_dims={"nope": 2})
  with pytest.raises(ValueError, match="preset"):
    factors.make_factor_table("nonsense")


def test_synthetic_preset_follows_dataset_sizes():
  from tfface.data import synthetic
  sizes = synthetic.synthetic_factor_sizes()
  table = factors.synthetic_factor_table()
  assert "pose" not in table.names
  assert set(table.names) == set(sizes) - {"pose"}
  for f in table.factors:
    assert f.theta_dim == sizes[f.name]


def test_table_slices_are_contiguous_in_sorted_order():
  table = factors.FactorTable({"b": (4, 3), "a": (2, 2), "c": (1, 1)})
  assert table.names == ("a", "b", "c")
  assert [table.latent_slice(n) for n in table.names] == [(0, 2), (2, 5),
                                                          (5, 6)]
  assert table.latent_dim == 6 and table.theta_dim == 7 and len(table) == 3
  assert table["b"] == factors.Factor("b", 4, 3)
  assert list(table.as_dict().items()) == [("a", (2, 2)), ("b", (4, 3)),
                                           ("c", (1, 1))]
  with pytest.raises(ValueError, match="at least one factor"):
    factors.FactorTable({})
  with pytest.raises(ValueError, match="positive"):
    factors.FactorTable({"a": (0, 2)})
  explicit = factors.make_factor_table(factors={"x": [3, 2]})
  assert explicit.names == ("x",) and explicit.latent_dim == 2
