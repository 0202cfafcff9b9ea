"""The in-graph input checks of exported signatures (export.validation)."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfface.export import savedmodel
from tfface.export import validation as v

IMAGE = v.Input("image", (v.BATCH, 8, 8, 3), meaning="RGB in [-1, 1]",
                finite=True)
Z = v.Input("z", (v.BATCH, 5), finite=True)
ROTATION = v.Input("rotation", (v.BATCH, 3),
                   meaning="(pitch, yaw, roll) in radians", finite=True)
N = v.Input("n", (), tf.int32, minimum=1)


def _message(error: tf.errors.InvalidArgumentError) -> str:
  """The text of the failed assertion: ``assertion failed: [<text>]``."""
  found = re.search(r"assertion failed: \[(.*)\]", error.message)
  assert found, error.message
  return found.group(1)


def _refusal(inputs, *values) -> str:
  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    v.validate("sig", inputs, *values)
  return _message(info.value)


def test_expected_texts_specs_and_descriptions():
  assert IMAGE.expected() == (
      "[B, 8, 8, 3] float32 RGB in [-1, 1] with B >= 1")
  assert N.expected() == "a scalar int32 >= 1"
  assert v.Input("x", (None, "N", "N"), maximum=2).expected() == (
      "[?, N, N] float32 <= 2 with N >= 1")
  assert v.Input("x", (3,), minimum=-1, maximum=0.5).range_text() == (
      "in [-1, 0.5]")
  spec = IMAGE.spec
  assert spec.shape.rank is None and spec.dtype == tf.float32
  assert spec.name == "image"
  assert IMAGE.static_shape.as_list() == [None, 8, 8, 3]
  assert v.input_signature([Z, N])[1] == tf.TensorSpec(None, tf.int32, "n")
  assert v.describe([N]) == [{"name": "n", "shape": [], "dtype": "int32",
                              "expected": "a scalar int32 >= 1",
                              "minimum": 1}]
  json.dumps(v.describe([IMAGE, Z, ROTATION, N]))


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="", shape=(1,)), "non-empty"),
    (dict(name="a b", shape=(1,)), "non-empty"),
    (dict(name="x", shape=(-1,)), "sizes >= 0"),
    (dict(name="x", shape=(1.5,)), "sizes >= 0"),
    (dict(name="x", shape=(), dtype=tf.int32, finite=True), "floating"),
    (dict(name="x", shape=(), minimum=2, maximum=1), "minimum 2 > maximum 1"),
])
def test_bad_declarations_are_refused(kwargs, match):
  with pytest.raises(ValueError, match=match):
    v.Input(**kwargs)


def test_good_inputs_pass_unchanged_with_static_shapes():
  z = np.arange(10, dtype=np.float32).reshape(2, 5)
  rotation = np.full([2, 3], 0.25, np.float32)
  out_z, out_rotation, out_n = v.validate("generate", [Z, ROTATION, N], z,
                                          rotation, np.int32(3))
  np.testing.assert_array_equal(out_z, z)
  np.testing.assert_array_equal(out_rotation, rotation)
  assert int(out_n) == 3

  @tf.function(input_signature=v.input_signature([Z, ROTATION]))
  def body(z, rotation):
    z, rotation = v.validate("generate", [Z, ROTATION], z, rotation)
    assert z.shape.as_list() == [None, 5]
    assert rotation.shape.as_list() == [None, 3]
    return z + tf.reduce_sum(rotation, axis=1, keepdims=True)

  np.testing.assert_allclose(body(z, rotation), z + 0.75)


@pytest.mark.parametrize("image_shape, got", [
    ([8, 8, 3], "[8, 8, 3]"),              # rank 3: the former abort
    ([2, 16, 8, 3], "[2, 16, 8, 3]"),      # non-square, wrong size
    ([2, 8, 8, 1], "[2, 8, 8, 1]"),        # channels
    ([0, 8, 8, 3], "[0, 8, 8, 3]"),        # batch 0
    ([1, 8, 8, 3, 1], "[1, 8, 8, 3, 1]"),  # rank 5
    ([], "[]"),
])
def test_shape_refusals_name_signature_input_and_expectation(image_shape, got):
  assert _refusal([IMAGE], np.zeros(image_shape, np.float32)) == (
      "sig: image must be [B, 8, 8, 3] float32 RGB in [-1, 1] with B >= 1, "
      f"got shape {got}")


def test_rotation_of_shape_3_is_refused_not_broadcast():
  assert _refusal([Z, ROTATION], np.zeros([2, 5], np.float32),
                  np.zeros([3], np.float32)) == (
                      "sig: rotation must be [B, 3] float32 (pitch, yaw, "
                      "roll) in radians with B >= 1, got shape [3]")


def test_batch_sizes_must_match():
  for rotation_batch in (3, 1):
    assert _refusal([Z, ROTATION], np.zeros([2, 5], np.float32),
                    np.zeros([rotation_batch, 3], np.float32)) == (
                        "sig: z and rotation must have the same batch size B,"
                        f" got 2 and {rotation_batch}")
  square = v.Input("m", (v.BATCH, "N", "N"))
  assert _refusal([square], np.zeros([1, 2, 3], np.float32)) == (
      "sig: m axis 1 and m axis 2 must have the same size N, got 2 and 3")
  v.validate("sig", [square], np.zeros([1, 3, 3], np.float32))


def test_non_finite_values_are_refused():
  rotation = np.zeros([2, 3], np.float32)
  rotation[1, 0], rotation[0, 2] = np.nan, np.inf
  assert _refusal([ROTATION], rotation) == (
      "sig: rotation must be finite, got 2 NaN or Inf values in shape [2, 3]")
  unchecked = v.Input("x", (v.BATCH,))
  v.validate("sig", [unchecked], np.array([np.nan], np.float32))


def test_ranges():
  assert _refusal([N], np.int32(0)) == "sig: n must be >= 1, got 0"
  box = v.Input("x", (v.BATCH, 2), minimum=-1, maximum=1)
  assert _refusal([box], np.array([[-2.0, 0.5]], np.float32)) == (
      "sig: x must be in [-1, 1], got values in [-2, 0.5]")
  v.validate("sig", [box], np.array([[-1.0, 1.0]], np.float32))


def test_checks_run_in_order_shapes_then_sizes_then_values():
  bad_values = np.full([2, 3], np.nan, np.float32)
  # A shape error wins over a batch mismatch and NaNs ...
  assert "got shape [2, 4]" in _refusal(
      [Z, ROTATION], np.zeros([2, 4], np.float32), bad_values[:1])
  # ... a batch mismatch over NaNs.
  assert "same batch size" in _refusal(
      [Z, ROTATION], np.zeros([3, 5], np.float32), bad_values)


def test_declaration_mistakes_are_python_errors():
  with pytest.raises(TypeError, match="sig: n must be a scalar int32 >= 1, "
                     "got dtype float32"):
    v.validate("sig", [N], np.float32(1))
  with pytest.raises(ValueError, match="2 tensors for 1 inputs"):
    v.validate("sig", [N], 1, 2)
  with pytest.raises(ValueError, match="repeat"):
    v.validate("sig", [N, N], 1, 2)

  # In a graph, a static input shape would let Grappler fold the checks.
  @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.float32, "z")])
  def tight(z):
    return v.validate("sig", [Z], z)

  with pytest.raises(TypeError, match="static shape"):
    tight.get_concrete_function()
  with pytest.raises(ValueError, match=r"parameters \['a'\] must be the "
                     r"inputs \['z'\]"):
    v.validated_function("sig", [Z])(lambda a: a)


def test_validated_function_positional_keyword_and_gradient():

  @v.validated_function("generate", [Z, ROTATION])
  def generate(z, rotation):
    return {"y": z * tf.reduce_sum(rotation, axis=1, keepdims=True)}

  assert generate.inputs == (Z, ROTATION)
  z, rotation = tf.ones([2, 5]), tf.fill([2, 3], 2.0)
  np.testing.assert_allclose(generate(z, rotation)["y"], 6.0)
  np.testing.assert_allclose(generate(rotation=rotation, z=z)["y"], 6.0)
  concrete = generate.get_concrete_function()
  assert [s.name for s in concrete.structured_input_signature[0]] == [
      "z", "rotation"]
  with tf.GradientTape() as tape:
    tape.watch(rotation)
    y = tf.reduce_sum(generate(z, rotation)["y"])
  np.testing.assert_allclose(tape.gradient(y, rotation), 5.0)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"generate: rotation must be \[B, 3\]"):
    generate(z, tf.zeros([3]))


class _Conv(tf.Module):
  """A conv behind a validated signature: on oneDNN builds a rank-3 input
  to the bare Conv2D kernel aborts the process (a CHECK failure)."""

  def __init__(self):
    super().__init__()
    self.kernel = tf.Variable(tf.ones([3, 3, 3, 2]))

    @v.validated_function("encode", [IMAGE])
    def encode(image):
      return {"y": tf.nn.conv2d(image, self.kernel, 1, "SAME")}

    self.encode = encode


_LOAD_AND_PROBE = r"""
import json, sys
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
out = {"tfface_imported": any(m.startswith("tfface") for m in sys.modules),
       "input_shape_known": loaded.signatures["encode"]
           .structured_input_signature[1]["image"].shape.rank is not None}
calls = {"signature": lambda x: loaded.signatures["encode"](image=x),
         "attribute": lambda x: loaded.encode(x)}
for how, call in calls.items():
  for shape in ([8, 8, 3], [1, 8, 8, 3, 1]):
    try:
      call(tf.zeros(shape))
      out[f"{how} {shape}"] = "no error"
    except tf.errors.InvalidArgumentError as e:
      out[f"{how} {shape}"] = e.message
  out[f"{how} ok"] = call(tf.ones([2, 8, 8, 3]))["y"].numpy().tolist()
print(json.dumps(out))
"""


def test_saved_checks_run_before_the_model_in_a_fresh_process(tmp_path):
  module = _Conv()
  path = savedmodel.export_module(module, str(tmp_path / "export"),
                                  {"encode": module.encode})
  assert "Assert" in savedmodel.graph_op_names(path)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH="")
  result = subprocess.run([sys.executable, "-c", _LOAD_AND_PROBE, path],
                          capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=120, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert not out["tfface_imported"]
  assert not out["input_shape_known"]
  for how in ("signature", "attribute"):
    for shape in ("[8, 8, 3]", "[1, 8, 8, 3, 1]"):
      assert ("encode: image must be [B, 8, 8, 3] float32 RGB in [-1, 1] "
              f"with B >= 1, got shape {shape}") in out[f"{how} {shape}"]
    want = module.encode(tf.ones([2, 8, 8, 3]))["y"].numpy()
    np.testing.assert_allclose(out[f"{how} ok"], want, rtol=1e-6)
