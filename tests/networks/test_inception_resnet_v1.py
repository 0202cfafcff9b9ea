"""InceptionResnetV1 (facenet-pytorch): names, shapes and block numerics.

The reference here is written from timesler/facenet-pytorch's
``models/inception_resnet_v1.py`` without torch: :func:`reference_state_dict`
builds a state dict with its key names and shapes (random values), and the
``reference_*`` functions compute what its ``forward`` computes, in NumPy
(NCHW, float64). ``tests/analysis/test_convert_facenet.py`` reuses both.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfface.networks import inception_resnet_v1 as irv1

# --------------------------------------------------------------------------
# The reference: key names / shapes of InceptionResnetV1.state_dict().


def reference_state_dict(seed=0, embedding_size=512, num_classes=0):
  """facenet-pytorch ``InceptionResnetV1`` state dict, random float32 values.

  Conv weights are He-scaled and BatchNorm statistics random but sensible, so
  activations stay O(1) through all 21 residual blocks.
  """
  rng = np.random.default_rng(seed)
  sd = {}

  def normal(*shape, std=1.0):
    return (rng.standard_normal(shape) * std).astype(np.float32)

  def bn(prefix, c):
    sd[f"{prefix}.weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
    sd[f"{prefix}.bias"] = normal(c, std=0.1)
    sd[f"{prefix}.running_mean"] = normal(c, std=0.2)
    sd[f"{prefix}.running_var"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
    sd[f"{prefix}.num_batches_tracked"] = np.asarray(1000, np.int64)

  def basic(prefix, cin, cout, kh, kw=None):  # BasicConv2d
    kw = kh if kw is None else kw
    sd[f"{prefix}.conv.weight"] = normal(cout, cin, kh, kw,
                                         std=math.sqrt(2.0 / (cin * kh * kw)))
    bn(f"{prefix}.bn", cout)

  def conv(prefix, cin, cout):  # nn.Conv2d(cin, cout, 1), with bias
    sd[f"{prefix}.weight"] = normal(cout, cin, 1, 1, std=1 / math.sqrt(cin))
    sd[f"{prefix}.bias"] = normal(cout, std=0.1)

  basic("conv2d_1a", 3, 32, 3)
  basic("conv2d_2a", 32, 32, 3)
  basic("conv2d_2b", 32, 64, 3)
  basic("conv2d_3b", 64, 80, 1)
  basic("conv2d_4a", 80, 192, 3)
  basic("conv2d_4b", 192, 256, 3)
  for i in range(5):  # Block35
    p = f"repeat_1.{i}"
    basic(f"{p}.branch0", 256, 32, 1)
    basic(f"{p}.branch1.0", 256, 32, 1)
    basic(f"{p}.branch1.1", 32, 32, 3)
    basic(f"{p}.branch2.0", 256, 32, 1)
    basic(f"{p}.branch2.1", 32, 32, 3)
    basic(f"{p}.branch2.2", 32, 32, 3)
    conv(f"{p}.conv2d", 96, 256)
  basic("mixed_6a.branch0", 256, 384, 3)
  basic("mixed_6a.branch1.0", 256, 192, 1)
  basic("mixed_6a.branch1.1", 192, 192, 3)
  basic("mixed_6a.branch1.2", 192, 256, 3)
  for i in range(10):  # Block17
    p = f"repeat_2.{i}"
    basic(f"{p}.branch0", 896, 128, 1)
    basic(f"{p}.branch1.0", 896, 128, 1)
    basic(f"{p}.branch1.1", 128, 128, 1, 7)
    basic(f"{p}.branch1.2", 128, 128, 7, 1)
    conv(f"{p}.conv2d", 256, 896)
  basic("mixed_7a.branch0.0", 896, 256, 1)
  basic("mixed_7a.branch0.1", 256, 384, 3)
  basic("mixed_7a.branch1.0", 896, 256, 1)
  basic("mixed_7a.branch1.1", 256, 256, 3)
  basic("mixed_7a.branch2.0", 896, 256, 1)
  basic("mixed_7a.branch2.1", 256, 256, 3)
  basic("mixed_7a.branch2.2", 256, 256, 3)
  for p in [f"repeat_3.{i}" for i in range(5)] + ["block8"]:  # Block8
    basic(f"{p}.branch0", 1792, 192, 1)
    basic(f"{p}.branch1.0", 1792, 192, 1)
    basic(f"{p}.branch1.1", 192, 192, 1, 3)
    basic(f"{p}.branch1.2", 192, 192, 3, 1)
    conv(f"{p}.conv2d", 384, 1792)
  sd["last_linear.weight"] = normal(embedding_size, 1792,
                                    std=1 / math.sqrt(1792))
  bn("last_bn", embedding_size)
  if num_classes:
    sd["logits.weight"] = normal(num_classes, embedding_size,
                                 std=1 / math.sqrt(embedding_size))
    sd["logits.bias"] = normal(num_classes, std=0.1)
  return sd


# --------------------------------------------------------------------------
# The reference: what forward() computes (PyTorch semantics, NCHW).


def _pair(v):
  return (v, v) if isinstance(v, int) else tuple(v)


def reference_conv2d(x, w, stride=1, padding=0):
  """F.conv2d: x `(N, C, H, W)`, w `(O, C, kh, kw)`, zero padding each side."""
  ph, pw = _pair(padding)
  x = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])
  _, _, kh, kw = w.shape
  ho = (x.shape[2] - kh) // stride + 1
  wo = (x.shape[3] - kw) // stride + 1
  out = np.zeros([x.shape[0], w.shape[0], ho, wo])
  for i in range(kh):
    for j in range(kw):
      patch = x[:, :, i:i + stride * (ho - 1) + 1:stride,
                j:j + stride * (wo - 1) + 1:stride]
      out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j], optimize=True)
  return out


def reference_batch_norm(x, sd, prefix, eps=1e-3):
  """Eval-mode BatchNorm1d/2d on the channel axis 1."""
  shape = [1, -1] + [1] * (x.ndim - 2)
  get = lambda name: np.asarray(sd[f"{prefix}.{name}"], np.float64).reshape(
      shape)
  return ((x - get("running_mean")) / np.sqrt(get("running_var") + eps)
          * get("weight") + get("bias"))


def reference_max_pool(x, k=3, stride=2):
  """nn.MaxPool2d(3, stride=2): no padding, floor mode."""
  ho = (x.shape[2] - k) // stride + 1
  wo = (x.shape[3] - k) // stride + 1
  out = np.full([x.shape[0], x.shape[1], ho, wo], -np.inf)
  for i in range(k):
    for j in range(k):
      out = np.maximum(out, x[:, :, i:i + stride * (ho - 1) + 1:stride,
                              j:j + stride * (wo - 1) + 1:stride])
  return out


def _relu(x):
  return np.maximum(x, 0.0)


def reference_basic_conv(sd, p, x, stride=1, padding=0):
  y = reference_conv2d(x, np.asarray(sd[f"{p}.conv.weight"], np.float64),
                       stride, padding)
  return _relu(reference_batch_norm(y, sd, f"{p}.bn"))


def _residual(sd, p, x, branches, scale, relu=True):
  out = reference_conv2d(np.concatenate(branches, axis=1),
                         np.asarray(sd[f"{p}.conv2d.weight"], np.float64))
  out = out + np.asarray(sd[f"{p}.conv2d.bias"], np.float64).reshape(
      1, -1, 1, 1)
  out = out * scale + x
  return _relu(out) if relu else out


def reference_block35(sd, p, x, scale=0.17):
  b = lambda name, y, **kw: reference_basic_conv(sd, f"{p}.{name}", y, **kw)
  x0 = b("branch0", x)
  x1 = b("branch1.1", b("branch1.0", x), padding=1)
  x2 = b("branch2.2", b("branch2.1", b("branch2.0", x), padding=1), padding=1)
  return _residual(sd, p, x, [x0, x1, x2], scale)


def reference_block17(sd, p, x, scale=0.10):
  b = lambda name, y, **kw: reference_basic_conv(sd, f"{p}.{name}", y, **kw)
  x0 = b("branch0", x)
  x1 = b("branch1.2", b("branch1.1", b("branch1.0", x), padding=(0, 3)),
         padding=(3, 0))
  return _residual(sd, p, x, [x0, x1], scale)


def reference_block8(sd, p, x, scale=0.20, relu=True):
  b = lambda name, y, **kw: reference_basic_conv(sd, f"{p}.{name}", y, **kw)
  x0 = b("branch0", x)
  x1 = b("branch1.2", b("branch1.1", b("branch1.0", x), padding=(0, 1)),
         padding=(1, 0))
  return _residual(sd, p, x, [x0, x1], scale, relu)


def reference_mixed_6a(sd, x, p="mixed_6a"):
  b = lambda name, y, **kw: reference_basic_conv(sd, f"{p}.{name}", y, **kw)
  x0 = b("branch0", x, stride=2)
  x1 = b("branch1.2", b("branch1.1", b("branch1.0", x), padding=1), stride=2)
  return np.concatenate([x0, x1, reference_max_pool(x)], axis=1)


def reference_mixed_7a(sd, x, p="mixed_7a"):
  b = lambda name, y, **kw: reference_basic_conv(sd, f"{p}.{name}", y, **kw)
  x0 = b("branch0.1", b("branch0.0", x), stride=2)
  x1 = b("branch1.1", b("branch1.0", x), stride=2)
  x2 = b("branch2.2", b("branch2.1", b("branch2.0", x), padding=1), stride=2)
  return np.concatenate([x0, x1, x2, reference_max_pool(x)], axis=1)


def reference_forward(sd, x):
  """InceptionResnetV1.forward in eval mode: x `(N, 3, H, W)` standardised.

  Returns:
    ``(embedding, bottleneck)``: the ``classify=False`` output (normalised)
    and the ``last_bn`` output that ``logits`` would take.
  """
  b = lambda name, y, **kw: reference_basic_conv(sd, name, y, **kw)
  x = b("conv2d_1a", x, stride=2)
  x = b("conv2d_2a", x)
  x = b("conv2d_2b", x, padding=1)
  x = reference_max_pool(x)
  x = b("conv2d_3b", x)
  x = b("conv2d_4a", x)
  x = b("conv2d_4b", x, stride=2)
  for i in range(5):
    x = reference_block35(sd, f"repeat_1.{i}", x)
  x = reference_mixed_6a(sd, x)
  for i in range(10):
    x = reference_block17(sd, f"repeat_2.{i}", x)
  x = reference_mixed_7a(sd, x)
  for i in range(5):
    x = reference_block8(sd, f"repeat_3.{i}", x)
  x = reference_block8(sd, "block8", x, scale=1.0, relu=False)
  x = x.mean(axis=(2, 3))  # avgpool_1a; dropout is the identity in eval
  x = x @ np.asarray(sd["last_linear.weight"], np.float64).T
  x = reference_batch_norm(x, sd, "last_bn")
  # F.normalize(x, p=2, dim=1)
  norm = np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
  return x / norm, x


# --------------------------------------------------------------------------
# Tests.


def _nchw(x):
  return np.asarray(x, np.float64).transpose(0, 3, 1, 2)


def _assign_from_torch(layer, prefix, sd):
  """Fills a built layer from torch-layout arrays (own transposes)."""
  for key, (variable, layout) in layer.torch_variables(prefix).items():
    value = sd[key]
    if layout == irv1.CONV:
      value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    elif layout == irv1.LINEAR:
      value = value.T
    variable.assign(value)


@pytest.fixture(scope="module")
def state():
  return reference_state_dict(seed=1)


@pytest.fixture(scope="module")
def network():
  net = irv1.InceptionResnetV1()
  net(tf.zeros([1, 160, 160, 3]))
  return net


def test_variables_have_the_reference_names_and_shapes(network, state):
  mapping = network.torch_variables()
  reference = {k: v for k, v in state.items()
               if not k.endswith("num_batches_tracked")}
  assert set(mapping) == set(reference)
  for key, (variable, layout) in mapping.items():
    shape = reference[key].shape
    if layout == irv1.CONV:
      shape = tuple(shape[i] for i in (2, 3, 1, 0))
    elif layout == irv1.LINEAR:
      shape = shape[::-1]
    assert tuple(variable.shape) == shape, key
  # Every variable is named, once; trainable ones are exactly the reference's
  # parameters (23.48 M: facenet-pytorch's count without `logits`).
  assert len(mapping) == len(network.weights)
  assert len({id(v) for v, _ in mapping.values()}) == len(mapping)
  params = sum(v.size for k, v in reference.items()
               if not k.endswith(("running_mean", "running_var")))
  assert params == 23_482_624
  assert sum(int(np.prod(v.shape)) for v in network.trainable_weights) == params
  paths = [v.path for v in network.weights]
  assert len(set(paths)) == len(paths)
  assert ("inception_resnet_v1/repeat_2_3/branches/branch1_1/conv/kernel"
          in paths)


def test_embedding_shape_and_norm_at_160_and_smallest_size(network):
  x = tf.random.stateless_uniform([2, 160, 160, 3], [0, 1], -1, 1)
  y = network(x)
  assert y.shape == (2, 512)
  np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)
  # 75 px is the smallest input whose last feature map is not empty.
  assert network(x[:1, :75, :75]).shape == (1, 512)
  with pytest.raises(ValueError, match="num_classes=0"):
    network.classify(x)


def test_l2_normalize_matches_f_normalize_and_is_safe_at_zero():
  x = tf.constant([[3.0, 4.0], [0.0, 0.0], [1e-7, 0.0]])
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = irv1.l2_normalize(x)
  grad = tape.gradient(y, x)
  np.testing.assert_allclose(y, [[0.6, 0.8], [0, 0], [1, 0]], rtol=1e-6)
  assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("kernel,stride,padding,explicit", [
    (3, 1, 1, False), ((1, 7), 1, (0, 3), False), (3, 2, 0, False),
    (3, 2, 1, True), (2, 1, 1, True)])
def test_basic_conv_pads_like_pytorch(kernel, stride, padding, explicit):
  rng = np.random.default_rng(2)
  layer = irv1.BasicConv2d(5, kernel, stride, padding, name="c")
  x = rng.standard_normal([2, 9, 10, 4]).astype(np.float32)
  layer(x)
  kh, kw = _pair(kernel)
  sd = {"c.conv.weight": rng.standard_normal([5, 4, kh, kw]).astype(
      np.float32)}
  for name, value in (("weight", 1.2), ("bias", 0.3), ("running_mean", 0.1),
                      ("running_var", 0.8)):
    sd[f"c.bn.{name}"] = np.full([5], value, np.float32) + rng.uniform(
        0, 0.2, 5).astype(np.float32)
  _assign_from_torch(layer, "c", sd)
  expected = reference_basic_conv(sd, "c", _nchw(x), stride, padding)
  got = _nchw(layer(x))
  assert (layer.pad is not None) == explicit
  assert got.shape == expected.shape
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


# (layer maker, PyTorch prefix, reference, input [B, H, W, C]).
_BLOCKS = {
    "block35": (lambda: irv1.block35(0.17, name="b"), "repeat_1.2",
                lambda sd, x: reference_block35(sd, "repeat_1.2", x),
                [2, 7, 7, 256]),
    "block17": (lambda: irv1.block17(0.10, name="b"), "repeat_2.7",
                lambda sd, x: reference_block17(sd, "repeat_2.7", x),
                [1, 9, 8, 896]),
    "block8_no_relu": (lambda: irv1.block8(1.0, activate=False, name="b"),
                       "block8",
                       lambda sd, x: reference_block8(sd, "block8", x, 1.0,
                                                      relu=False),
                       [2, 3, 4, 1792]),
    "mixed_6a": (lambda: irv1.mixed_6a(name="b"), "mixed_6a",
                 reference_mixed_6a, [2, 17, 16, 256]),
    "mixed_7a": (lambda: irv1.mixed_7a(name="b"), "mixed_7a",
                 reference_mixed_7a, [1, 8, 9, 896]),
}


@pytest.mark.parametrize("which", sorted(_BLOCKS))
def test_block_matches_pytorch_semantics(which, state):
  make, prefix, reference, shape = _BLOCKS[which]
  layer = make()
  x = np.random.default_rng(3).uniform(0, 2, shape).astype(np.float32)
  layer(x)
  _assign_from_torch(layer, prefix, state)
  got = _nchw(layer(x))
  expected = reference(state, _nchw(x))
  assert got.shape == expected.shape
  # The residual scale and the branch outputs both matter: the block's output
  # differs from its input (residual blocks) by a clear margin.
  if which.startswith("block"):
    assert np.abs(expected - _nchw(x)).mean() > 0.05
    assert np.any(expected < 0) == (which == "block8_no_relu")
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
