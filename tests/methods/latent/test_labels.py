"""Conditions from synthetic factors, on hand-built factor tables."""

import numpy as np
import pytest

from tfface.data import synthetic
from tfface.methods.latent import labels
from tfface.rendering import procedural_model


def _table(**factors):
  return {f"factor/{k}": np.asarray(v, np.float32) for k, v in factors.items()}


def test_hair_colour_classes_follow_the_nearest_palette_entry():
  palette = synthetic.HAIR_PALETTE
  table = _table(hair_color=palette * 1.05)  # jittered palette colours
  hair = labels.make_condition("hair_color")
  assert hair.classes == ("black", "brown", "red", "blond", "grey")
  np.testing.assert_array_equal(hair.values(table),
                                [0, 0, 1, 1, 2, 2, 3, 3, 3, 4])
  two = labels.make_condition("hair_dark_blond")
  np.testing.assert_array_equal(two.values(table),
                                [0, 0, 0, -1, -1, -1, 1, 1, 1, -1])
  vectors = hair.vectors(hair.values(table))
  assert vectors.shape == (10, 5) and np.all(vectors.sum(1) == 1)


def test_beard_smile_jaw_and_yaw():
  names = procedural_model.ProceduralFaceModel().expression_names
  expression = np.zeros([3, len(names)], np.float32)
  expression[0, names.index("mouthSmileLeft")] = 0.8
  expression[0, names.index("mouthSmileRight")] = 0.6
  expression[1, names.index("mouthSmileLeft")] = 0.4   # mean 0.2
  expression[2, names.index("jawOpen")] = 0.5
  yaw = np.radians([-30.0, 0.0, 20.0])
  table = _table(expression=expression,
                 beard_style=[[0.0, 0.5, 0.5], [0.3, 0.5, 0.5], [1, 1, 1]],
                 pose=np.stack([np.zeros(3), yaw, np.zeros(3)], 1))
  assert list(labels.make_condition("beard").values(table)) == [0, 1, 1]
  assert list(labels.make_condition("smile").values(table)) == [1, 0, 0]
  assert list(labels.make_condition("smile:0.1").values(table)) == [1, 1, 0]
  assert list(labels.make_condition("jaw_open").values(table)) == [0, 0, 1]
  assert list(labels.make_condition("yaw").values(table)) == [0, 1, 2]
  assert list(labels.make_condition("yaw:25").values(table)) == [0, 1, 1]


def test_factor_slices_are_continuous_conditions():
  table = _table(pose=[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
  yaw = labels.make_condition("factor:pose[1:2]", {"pose": 3})
  assert not yaw.discrete and yaw.size == 1
  np.testing.assert_allclose(yaw.values(table), [[0.2], [0.5]])
  np.testing.assert_allclose(yaw.vectors(yaw.values(table)), [[0.2], [0.5]])
  whole = labels.make_condition("factor:pose", {"pose": 3})
  assert whole.size == 3
  assert whole.describe() == {"spec": "factor:pose", "kind": "continuous",
                              "size": 3}


def test_attribute_tables_drop_none_and_both():
  table = {"attributes": np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0],
                                   [0, 0, 1]]),
           "attribute_names": np.array(["Black_Hair", "Blond_Hair", "Male"])}
  hair = labels.make_condition("attribute:Black_Hair,Blond_Hair")
  assert list(hair.values(table)) == [0, 1, -1, -1]


@pytest.mark.parametrize("spec, message", [
    ("eye_colour", "unknown condition"), ("factor:nose", "unknown factor"),
    ("factor:pose[2:5]", "outside"), ("smile:lots", "not a number"),
    ("", "spec string")])
def test_bad_specs_are_one_clear_error(spec, message):
  with pytest.raises(ValueError, match=message):
    labels.make_condition(spec, {"pose": 3})


def test_a_table_without_the_factor_names_what_it_has():
  with pytest.raises(ValueError, match="has no factor 'beard_style'"):
    labels.make_condition("beard").values(_table(pose=np.zeros([1, 3])))
