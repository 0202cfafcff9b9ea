"""IR-ResNet (arcface_torch iresnet) in Keras against a NumPy PyTorch reference.

``iresnet_state`` builds state dicts with arcface_torch's key names and shapes
and ``iresnet_forward`` re-implements ``IResNet.forward`` (eval mode, NCHW,
channel-major flatten before ``fc``); the analysis converter tests reuse them.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.layers import torch_reference as ref
from tests.networks import test_torchvision_resnet as tv
from tfface.networks import iresnet

batch_norm = tv.batch_norm


def prelu(x, weight):
  """nn.PReLU(C): one slope per channel (axis 1)."""
  shape = [1, -1] + [1] * (x.ndim - 2)
  return np.where(x >= 0, x, weight.reshape(shape) * x)


def ibasic_block(sd, p, x, stride):
  out = batch_norm(x, sd, f"{p}.bn1")
  out = batch_norm(ref.conv2d(out, sd[f"{p}.conv1.weight"], 1), sd, f"{p}.bn2")
  out = prelu(out, sd[f"{p}.prelu.weight"])
  out = batch_norm(ref.conv2d(out, sd[f"{p}.conv2.weight"], 1, stride), sd,
                   f"{p}.bn3")
  if f"{p}.downsample.0.weight" in sd:
    x = batch_norm(ref.conv2d(x, sd[f"{p}.downsample.0.weight"], 0, stride),
                   sd, f"{p}.downsample.1")
  return out + x


def iresnet_forward(sd, x, depth):
  """arcface_torch IResNet.forward: `(N, 3, S, S)` -> `(N, E)`."""
  x = prelu(batch_norm(ref.conv2d(x, sd["conv1.weight"], 1), sd, "bn1"),
            sd["prelu.weight"])
  for s, count in enumerate(iresnet.DEPTHS[depth], start=1):
    for i in range(count):
      x = ibasic_block(sd, f"layer{s}.{i}", x, 2 if i == 0 else 1)
  x = batch_norm(x, sd, "bn2")
  x = x.reshape(x.shape[0], -1)  # torch.flatten of NCHW: channel-major
  x = x @ sd["fc.weight"].T + sd["fc.bias"]
  return batch_norm(x, sd, "features")


def iresnet_state(depth, width=64, embedding=512, side=7, rng=None):
  """An arcface_torch iresnet<depth> state dict (``fc`` for a side² map)."""
  rng = rng or np.random.default_rng(0)
  sd = {}

  def prelu_state(key, c):
    sd[key] = rng.uniform(0.1, 0.4, c).astype(np.float32)

  tv.conv_state(sd, "conv1.weight", width, 3, 3, rng)
  tv.bn_state(sd, "bn1", width, rng)
  prelu_state("prelu.weight", width)
  cin = width
  for s, count in enumerate(iresnet.DEPTHS[depth], start=1):
    planes = width * 2**(s - 1)
    for i in range(count):
      p = f"layer{s}.{i}"
      tv.bn_state(sd, f"{p}.bn1", cin, rng)
      tv.conv_state(sd, f"{p}.conv1.weight", planes, cin, 3, rng)
      tv.bn_state(sd, f"{p}.bn2", planes, rng)
      prelu_state(f"{p}.prelu.weight", planes)
      tv.conv_state(sd, f"{p}.conv2.weight", planes, planes, 3, rng)
      tv.bn_state(sd, f"{p}.bn3", planes, rng)
      if i == 0:  # every stage starts with stride 2
        tv.conv_state(sd, f"{p}.downsample.0.weight", planes, cin, 1, rng)
        tv.bn_state(sd, f"{p}.downsample.1", planes, rng)
      cin = planes
  tv.bn_state(sd, "bn2", cin, rng)
  fan_in = cin * side * side
  sd["fc.weight"] = (rng.standard_normal([embedding, fan_in]) /
                     np.sqrt(fan_in)).astype(np.float32)
  sd["fc.bias"] = (0.1 * rng.standard_normal(embedding)).astype(np.float32)
  tv.bn_state(sd, "features", embedding, rng)
  return sd


def fill(net, sd):
  """Assigns an arcface state dict to a built IResNet (test-side mapping)."""
  tv.fill_conv(net.conv1, sd, "conv1.weight")
  tv.fill_bn(net.bn1, sd, "bn1")
  net.prelu.alpha.assign(sd["prelu.weight"].reshape(1, 1, -1))
  for s, stage in enumerate(net.stages, start=1):
    for i, block in enumerate(stage):
      p = f"layer{s}.{i}"
      for name in ("bn1", "bn2", "bn3"):
        tv.fill_bn(getattr(block, name), sd, f"{p}.{name}")
      tv.fill_conv(block.conv1, sd, f"{p}.conv1.weight")
      tv.fill_conv(block.conv2, sd, f"{p}.conv2.weight")
      block.prelu.alpha.assign(sd[f"{p}.prelu.weight"].reshape(1, 1, -1))
      if block.downsample_0 is not None:
        tv.fill_conv(block.downsample_0, sd, f"{p}.downsample.0.weight")
        tv.fill_bn(block.downsample_1, sd, f"{p}.downsample.1")
  tv.fill_bn(net.bn2, sd, "bn2")
  out, fan_in = sd["fc.weight"].shape
  c, s = net.feature_channels, net.feature_map_size
  net.fc.kernel.assign(sd["fc.weight"].reshape(out, c, s, s)
                       .transpose(2, 3, 1, 0).reshape(fan_in, out))
  net.fc.bias.assign(sd["fc.bias"])
  tv.fill_bn(net.features, sd, "features")


def test_reference_layout_at_112():
  net = iresnet.IResNet(18)
  out = net(tf.zeros([1, 112, 112, 3]))
  assert out.shape == (1, 512)
  assert net.feature_map_size == 7  # arcface_torch's fc_scale = 7 * 7
  assert tuple(net.fc.kernel.shape) == (512 * 7 * 7, 512)
  assert net.prelu.alpha.shape == (1, 1, 64)  # one slope per channel
  assert net.stages[0][0].prelu.alpha.shape == (1, 1, 64)
  assert float(net.prelu.alpha.numpy().mean()) == pytest.approx(0.25)
  assert net.features.epsilon == 1e-5 and net.bn2.epsilon == 1e-5
  # iresnet18: 21 convs (stem, 2 per block, 4 projections), 1 + 8 PReLUs,
  # 31 BNs of 4 arrays (stem, 3 per block, 4 projections, bn2, features),
  # fc kernel and bias.
  assert len(net.weights) == 21 + 9 + 4 * 31 + 2
  assert net.layer2_1 is net.stages[1][1]


def test_matches_numpy_reference_with_channel_major_fc():
  rng = np.random.default_rng(0)
  sd = iresnet_state(18, width=4, embedding=16, side=2, rng=rng)
  net = iresnet.IResNet(18, width=4, embedding_size=16, input_size=32)
  x = rng.uniform(-1, 1, [2, 32, 32, 3]).astype(np.float32)
  net(x)
  fill(net, sd)
  want = iresnet_forward(sd, tv.nchw(x), 18)
  got = net(x, training=False).numpy()
  np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(
      want).max())
  # The fc permutation matters: a plain transpose (NHWC rows taken as NCHW)
  # gives another function.
  net.fc.kernel.assign(sd["fc.weight"].T)
  wrong = net(x, training=False).numpy()
  assert np.abs(wrong - want).max() > 0.05 * np.abs(want).max()


def test_dropout_only_when_training():
  x = tf.random.stateless_uniform([4, 32, 32, 3], [1, 2], -1, 1)
  outputs = {}
  for rate in (0.0, 0.5):
    net = iresnet.IResNet(18, width=2, embedding_size=8, input_size=32,
                          dropout=rate)
    outputs[rate] = [net(x, training=t).numpy()
                     for t in (False, False, True, True)]
  for rate, (eval1, eval2, train1, train2) in outputs.items():
    np.testing.assert_array_equal(eval1, eval2)  # inference: no dropout
    # Training mode (batch statistics) is deterministic unless dropout acts.
    assert np.array_equal(train1, train2) == (rate == 0.0)


def test_lresnet18_configuration():
  # LiftedGAN's LResNet18: 4×4 stride-2 stem, first stage stride 1, 128 px
  # input -> 8×8 map before fc5.
  net = iresnet.IResNet(18, stem_kernel=4, stem_stride=2,
                        strides=(1, 2, 2, 2), input_size=128, width=4,
                        embedding_size=8)
  assert net(tf.zeros([1, 128, 128, 3])).shape == (1, 8)
  assert net.feature_map_size == 8
  assert tuple(net.conv1.kernel.shape) == (4, 4, 3, 4)
  assert net.stages[0][0].downsample_0 is None  # stride 1, same width
  assert net.config()["strides"] == [1, 2, 2, 2]
  with pytest.raises(ValueError, match="strides"):
    iresnet.IResNet(18, strides=(2, 2, 3, 2))
  with pytest.raises(ValueError, match="depth"):
    iresnet.IResNet(101)
