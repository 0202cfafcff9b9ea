"""torchvision ResNet in Keras: stride on the 3×3, PyTorch padding and BN ε.

The NumPy functions below re-implement torchvision's ``Bottleneck`` /
``BasicBlock`` / ``ResNet`` forward (eval mode, NCHW) from PyTorch semantics,
and build state dicts with torchvision's key names and shapes; the analysis
converter tests reuse them.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.layers import torch_reference as ref
from tfface.networks import torchvision_resnet as tvr

EPS = 1e-5


# ---------------------------------------------------------------- NumPy side


def batch_norm(x, sd, prefix, eps=EPS):
  """nn.BatchNorm2d/1d in eval mode; channel axis 1."""
  shape = [1, -1] + [1] * (x.ndim - 2)
  mean = sd[f"{prefix}.running_mean"].reshape(shape)
  var = sd[f"{prefix}.running_var"].reshape(shape)
  scale = sd[f"{prefix}.weight"].reshape(shape)
  return ((x - mean) / np.sqrt(var + eps) * scale
          + sd[f"{prefix}.bias"].reshape(shape))


def relu(x):
  return np.maximum(x, 0.0)


def max_pool(x, k=3, stride=2, padding=1):
  """nn.MaxPool2d(k, stride, padding): -inf padding, floor mode."""
  x = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)],
             constant_values=-np.inf)
  h = (x.shape[2] - k) // stride + 1
  w = (x.shape[3] - k) // stride + 1
  out = np.full(x.shape[:2] + (h, w), -np.inf)
  for i in range(k):
    for j in range(k):
      out = np.maximum(out, x[:, :, i:i + stride * h:stride,
                              j:j + stride * w:stride])
  return out


def bottleneck(sd, p, x, stride, stride_on_3x3=True):
  """torchvision Bottleneck; ``stride_on_3x3=False`` is the v1 (Keras) one."""
  s1, s2 = (1, stride) if stride_on_3x3 else (stride, 1)
  out = relu(batch_norm(ref.conv2d(x, sd[f"{p}.conv1.weight"], 0, s1), sd,
                        f"{p}.bn1"))
  out = relu(batch_norm(ref.conv2d(out, sd[f"{p}.conv2.weight"], 1, s2), sd,
                        f"{p}.bn2"))
  out = batch_norm(ref.conv2d(out, sd[f"{p}.conv3.weight"]), sd, f"{p}.bn3")
  if f"{p}.downsample.0.weight" in sd:
    x = batch_norm(ref.conv2d(x, sd[f"{p}.downsample.0.weight"], 0, stride),
                   sd, f"{p}.downsample.1")
  return relu(out + x)


def basic_block(sd, p, x, stride):
  out = relu(batch_norm(ref.conv2d(x, sd[f"{p}.conv1.weight"], 1, stride), sd,
                        f"{p}.bn1"))
  out = batch_norm(ref.conv2d(out, sd[f"{p}.conv2.weight"], 1), sd, f"{p}.bn2")
  if f"{p}.downsample.0.weight" in sd:
    x = batch_norm(ref.conv2d(x, sd[f"{p}.downsample.0.weight"], 0, stride),
                   sd, f"{p}.downsample.1")
  return relu(out + x)


def resnet_forward(sd, x, depth, prefix=""):
  """torchvision ResNet._forward_impl without fc: `(N, 3, H, W)` -> `(N, C)`."""
  blocks, is_bottleneck = tvr.DEPTHS[depth]
  x = relu(batch_norm(ref.conv2d(x, sd[f"{prefix}conv1.weight"], 3, 2), sd,
                      f"{prefix}bn1"))
  x = max_pool(x)
  for s, count in enumerate(blocks, start=1):
    for i in range(count):
      stride = 2 if (s > 1 and i == 0) else 1
      p = f"{prefix}layer{s}.{i}"
      x = (bottleneck(sd, p, x, stride) if is_bottleneck
           else basic_block(sd, p, x, stride))
  return x.mean(axis=(2, 3))


def _arr(rng, *shape, scale=1.0):
  return (scale * rng.standard_normal(shape)).astype(np.float32)


def bn_state(sd, prefix, channels, rng):
  sd[f"{prefix}.weight"] = (1.0 + 0.1 * rng.standard_normal(channels)
                            ).astype(np.float32)
  sd[f"{prefix}.bias"] = _arr(rng, channels, scale=0.1)
  sd[f"{prefix}.running_mean"] = _arr(rng, channels, scale=0.1)
  sd[f"{prefix}.running_var"] = rng.uniform(0.5, 1.5, channels).astype(
      np.float32)
  sd[f"{prefix}.num_batches_tracked"] = np.asarray(1000, np.int64)


def conv_state(sd, key, cout, cin, k, rng):
  sd[key] = _arr(rng, cout, cin, k, k, scale=np.sqrt(1.0 / (cin * k * k)))


def resnet_state(depth, width=64, rng=None, prefix=""):
  """A torchvision resnet<depth> state dict without ``fc`` (keys, shapes)."""
  rng = rng or np.random.default_rng(0)
  blocks, is_bottleneck = tvr.DEPTHS[depth]
  expansion = 4 if is_bottleneck else 1
  sd = {}
  conv_state(sd, f"{prefix}conv1.weight", width, 3, 7, rng)
  bn_state(sd, f"{prefix}bn1", width, rng)
  cin = width
  for s, count in enumerate(blocks, start=1):
    planes = width * 2**(s - 1)
    cout = planes * expansion
    for i in range(count):
      p = f"{prefix}layer{s}.{i}"
      if is_bottleneck:
        conv_state(sd, f"{p}.conv1.weight", planes, cin, 1, rng)
        conv_state(sd, f"{p}.conv2.weight", planes, planes, 3, rng)
        conv_state(sd, f"{p}.conv3.weight", cout, planes, 1, rng)
        for b, c in (("bn1", planes), ("bn2", planes), ("bn3", cout)):
          bn_state(sd, f"{p}.{b}", c, rng)
      else:
        conv_state(sd, f"{p}.conv1.weight", planes, cin, 3, rng)
        conv_state(sd, f"{p}.conv2.weight", planes, planes, 3, rng)
        bn_state(sd, f"{p}.bn1", planes, rng)
        bn_state(sd, f"{p}.bn2", planes, rng)
      if i == 0 and (s > 1 or cin != cout):
        conv_state(sd, f"{p}.downsample.0.weight", cout, cin, 1, rng)
        bn_state(sd, f"{p}.downsample.1", cout, rng)
      cin = cout
  return sd


# ---------------------------------------------------------------- Keras side


def fill_bn(layer, sd, prefix):
  layer.gamma.assign(sd[f"{prefix}.weight"])
  layer.beta.assign(sd[f"{prefix}.bias"])
  layer.moving_mean.assign(sd[f"{prefix}.running_mean"])
  layer.moving_variance.assign(sd[f"{prefix}.running_var"])


def fill_conv(layer, sd, key):
  layer.kernel.assign(sd[key].transpose(2, 3, 1, 0))


def nchw(x):
  return np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))


def test_bottleneck_puts_the_stride_on_the_3x3_conv():
  # One downsampling bottleneck (stride 2) on an even 8×8 input: torchvision
  # strides conv2 (3×3, symmetric padding 1); Keras' ResNet50 would stride
  # conv1, and "same" padding would shift the grid.
  rng = np.random.default_rng(0)
  cin, planes = 6, 4
  sd = {}
  conv_state(sd, "b.conv1.weight", planes, cin, 1, rng)
  conv_state(sd, "b.conv2.weight", planes, planes, 3, rng)
  conv_state(sd, "b.conv3.weight", 4 * planes, planes, 1, rng)
  conv_state(sd, "b.downsample.0.weight", 4 * planes, cin, 1, rng)
  for name, c in (("bn1", planes), ("bn2", planes), ("bn3", 4 * planes),
                  ("downsample.1", 4 * planes)):
    bn_state(sd, f"b.{name}", c, rng)
  block = tvr.Bottleneck(planes, stride=2, downsample=True)
  x = rng.standard_normal([2, 8, 8, cin]).astype(np.float32)
  block(x)
  for name in ("conv1", "conv2", "conv3"):
    fill_conv(getattr(block, name), sd, f"b.{name}.weight")
  for name in ("bn1", "bn2", "bn3"):
    fill_bn(getattr(block, name), sd, f"b.{name}")
  fill_conv(block.downsample_0, sd, "b.downsample.0.weight")
  fill_bn(block.downsample_1, sd, "b.downsample.1")
  got = block(x, training=False).numpy()
  assert got.shape == (2, 4, 4, 16)
  want = bottleneck(sd, "b", nchw(x), 2).transpose(0, 2, 3, 1)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  # The v1 placement (stride on the first 1×1) is a different function, so
  # the comparison above does tell the two apart.
  v1 = bottleneck(sd, "b", nchw(x), 2, stride_on_3x3=False).transpose(
      0, 2, 3, 1)
  assert np.abs(v1 - want).max() > 0.05
  # Eval-mode BN uses PyTorch's ε = 1e-5 (keras' default is 1e-3).
  assert block.bn2.epsilon == EPS


def test_basic_block_stride_and_projection():
  rng = np.random.default_rng(1)
  sd = {}
  conv_state(sd, "b.conv1.weight", 5, 3, 3, rng)
  conv_state(sd, "b.conv2.weight", 5, 5, 3, rng)
  conv_state(sd, "b.downsample.0.weight", 5, 3, 1, rng)
  for name in ("bn1", "bn2", "downsample.1"):
    bn_state(sd, f"b.{name}", 5, rng)
  block = tvr.BasicBlock(5, stride=2, downsample=True)
  x = rng.standard_normal([1, 7, 7, 3]).astype(np.float32)  # odd size too
  block(x)
  fill_conv(block.conv1, sd, "b.conv1.weight")
  fill_conv(block.conv2, sd, "b.conv2.weight")
  fill_conv(block.downsample_0, sd, "b.downsample.0.weight")
  for name in ("bn1", "bn2"):
    fill_bn(getattr(block, name), sd, f"b.{name}")
  fill_bn(block.downsample_1, sd, "b.downsample.1")
  want = basic_block(sd, "b", nchw(x), 2).transpose(0, 2, 3, 1)
  got = block(x, training=False).numpy()
  assert got.shape == (1, 4, 4, 5)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("depth,width,features,num_weights", [
    (50, 64, 2048, 265),   # torchvision resnet50 minus fc: 53 convs, 53 BNs
    (18, 8, 64, 100),      # basic blocks: 20 convs, 20 BNs
])
def test_structure_and_feature_size(depth, width, features, num_weights):
  net = tvr.TorchvisionResNet(depth, width)
  out = net(tf.zeros([1, 64, 64, 3]))
  assert out.shape == (1, features) and net.feature_size == features
  assert len(net.weights) == num_weights
  assert len({v.path for v in net.weights}) == num_weights
  assert net.config() == {"depth": depth, "width": width}
  # Downsampling only where torchvision has a projection.
  has_projection = [b.downsample_0 is not None
                    for stage in net.stages for b in stage[:1]]
  assert has_projection == ([True] * 4 if depth == 50
                            else [False, True, True, True])
  # Every block is a named attribute (checkpoint dependency), not just a list.
  assert net.layer4_0 is net.stages[3][0]
  with pytest.raises(ValueError, match="depth"):
    tvr.TorchvisionResNet(42)


def test_whole_network_matches_numpy_torchvision():
  # Narrow ResNet-50 (width 4), every stage, odd input size (stem + max-pool
  # padding), eval-mode BatchNorm.
  rng = np.random.default_rng(2)
  sd = resnet_state(50, 4, rng)
  net = tvr.TorchvisionResNet(50, 4)
  x = rng.uniform(0, 1, [2, 45, 45, 3]).astype(np.float32)
  net(x)
  fill_conv(net.conv1, sd, "conv1.weight")
  fill_bn(net.bn1, sd, "bn1")
  for s, stage in enumerate(net.stages, start=1):
    for i, block in enumerate(stage):
      p = f"layer{s}.{i}"
      for name in ("conv1", "conv2", "conv3"):
        fill_conv(getattr(block, name), sd, f"{p}.{name}.weight")
      for name in ("bn1", "bn2", "bn3"):
        fill_bn(getattr(block, name), sd, f"{p}.{name}")
      if block.downsample_0 is not None:
        fill_conv(block.downsample_0, sd, f"{p}.downsample.0.weight")
        fill_bn(block.downsample_1, sd, f"{p}.downsample.1")
  want = resnet_forward(sd, nchw(x), 50)
  got = net(x, training=False).numpy()
  np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(
      want).max())
  assert np.abs(want).max() > 0.1
