"""NumPy re-implementations of rosinality/stylegan2-pytorch ops (NCHW).

Written from the PyTorch semantics (``F.conv2d``, ``F.conv_transpose2d``,
``upfirdn2d``), independently of tfface's TensorFlow code, so tests can check
layers and converted checkpoints against them.
"""

import math

import numpy as np

SQRT2 = math.sqrt(2.0)


def fused_lrelu(x, bias=None, channel_axis=1):
  if bias is not None:
    shape = [1] * x.ndim
    shape[channel_axis] = -1
    x = x + bias.reshape(shape)
  return np.where(x >= 0, x, 0.2 * x) * SQRT2


def equal_linear(x, weight, bias, lr_mul=1.0, activation=False):
  """EqualLinear: weight `(out, in)`."""
  y = x @ (weight * (lr_mul / math.sqrt(weight.shape[1]))).T
  if activation:
    return fused_lrelu(y, bias * lr_mul)
  return y + bias * lr_mul


def conv2d(x, w, padding=0, stride=1):
  """F.conv2d: x `(N, C, H, W)`, w `(O, C, k, k)`."""
  x = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
  k = w.shape[2]
  h_out = (x.shape[2] - k) // stride + 1
  w_out = (x.shape[3] - k) // stride + 1
  out = np.zeros([x.shape[0], w.shape[0], h_out, w_out], np.float64)
  for i in range(k):
    for j in range(k):
      patch = x[:, :, i:i + stride * h_out:stride, j:j + stride * w_out:stride]
      out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
  return out


def conv_transpose2d(x, w, stride=2):
  """F.conv_transpose2d with padding 0: x `(N, C, H, W)`, w `(C, O, k, k)`."""
  n, _, h, wd = x.shape
  k = w.shape[2]
  out = np.zeros([n, w.shape[1], (h - 1) * stride + k, (wd - 1) * stride + k])
  for i in range(k):
    for j in range(k):
      out[:, :, i:i + stride * (h - 1) + 1:stride,
          j:j + stride * (wd - 1) + 1:stride] += np.einsum(
              "nchw,co->nohw", x, w[:, :, i, j])
  return out


def make_kernel(k):
  k = np.asarray(k, np.float64)
  k = np.outer(k, k)
  return k / k.sum()


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
  """rosinality upfirdn2d (true convolution with ``kernel``)."""
  n, c, h, w = x.shape
  if up > 1:
    y = np.zeros([n, c, h * up, w * up])
    y[:, :, ::up, ::up] = x
    x = y
  p0, p1 = pad
  x = np.pad(x, [(0, 0), (0, 0), (max(p0, 0), max(p1, 0)),
                 (max(p0, 0), max(p1, 0))])
  flipped = kernel[::-1, ::-1]
  kh = kernel.shape[0]
  h_out, w_out = x.shape[2] - kh + 1, x.shape[3] - kh + 1
  out = np.zeros([n, c, h_out, w_out])
  for i in range(kh):
    for j in range(kh):
      out += x[:, :, i:i + h_out, j:j + w_out] * flipped[i, j]
  return out[:, :, ::down, ::down]


def modulated_conv(x, style, weight, mod_weight, mod_bias, demodulate=True,
                   upsample=False):
  """ModulatedConv2d: weight `(1, O, C, k, k)`, mod `(C, D)`, style `(N, D)`."""
  n, c = x.shape[:2]
  k = weight.shape[-1]
  s = equal_linear(style, mod_weight, mod_bias)  # (N, C)
  scale = 1.0 / math.sqrt(c * k * k)
  outs = []
  for b in range(n):
    wb = scale * weight[0] * s[b][None, :, None, None]  # (O, C, k, k)
    if demodulate:
      wb = wb / np.sqrt((wb**2).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)
    if upsample:
      y = conv_transpose2d(x[b:b + 1], wb.transpose(1, 0, 2, 3), 2)
      y = upfirdn2d(y, make_kernel([1, 3, 3, 1]) * 4, pad=(1, 1))
    else:
      y = conv2d(x[b:b + 1], wb, padding=k // 2)
    outs.append(y)
  return np.concatenate(outs, 0)


def generator_forward(sd, latent, noises):
  """rosinality Generator.forward(input_is_latent=True) with given noise.

  Args:
    sd: state dict (numpy).
    latent: `(N, n_latent, D)` W+.
    noises: list of `(1, 1, r, r)`.
  Returns:
    `(N, 3, R, R)`.
  """
  n = latent.shape[0]

  def styled(prefix, x, w, noise, upsample=False):
    y = modulated_conv(x, w, sd[f"{prefix}.conv.weight"],
                       sd[f"{prefix}.conv.modulation.weight"],
                       sd[f"{prefix}.conv.modulation.bias"], True, upsample)
    y = y + sd[f"{prefix}.noise.weight"].reshape(()) * noise
    return fused_lrelu(y, sd[f"{prefix}.activate.bias"])

  def to_rgb(prefix, x, w, skip=None):
    y = modulated_conv(x, w, sd[f"{prefix}.conv.weight"],
                       sd[f"{prefix}.conv.modulation.weight"],
                       sd[f"{prefix}.conv.modulation.bias"], False)
    y = y + sd[f"{prefix}.bias"]
    if skip is not None:
      y = y + upfirdn2d(skip, make_kernel([1, 3, 3, 1]) * 4, up=2, pad=(2, 1))
    return y

  x = np.repeat(sd["input.input"], n, axis=0)
  x = styled("conv1", x, latent[:, 0], noises[0])
  skip = to_rgb("to_rgb1", x, latent[:, 1])
  i = 1
  num_blocks = len([k for k in sd if k.startswith("to_rgbs.") and
                    k.endswith(".conv.weight")])
  for blk in range(num_blocks):
    x = styled(f"convs.{2 * blk}", x, latent[:, i], noises[1 + 2 * blk], True)
    x = styled(f"convs.{2 * blk + 1}", x, latent[:, i + 1],
               noises[2 + 2 * blk])
    skip = to_rgb(f"to_rgbs.{blk}", x, latent[:, i + 2], skip)
    i += 2
  return skip


def mapping_forward(sd, z, lr_mul=0.01):
  x = z / np.sqrt((z**2).mean(axis=1, keepdims=True) + 1e-8)
  j = 1
  while f"style.{j}.weight" in sd:
    x = equal_linear(x, sd[f"style.{j}.weight"], sd[f"style.{j}.bias"],
                     lr_mul, activation=True)
    j += 1
  return x


def equal_conv(x, w, bias=None, stride=1, padding=0):
  y = conv2d(x, w * (1.0 / math.sqrt(w.shape[1] * w.shape[2]**2)), padding,
             stride)
  if bias is not None:
    y = y + bias.reshape(1, -1, 1, 1)
  return y


def discriminator_forward(sd, images, stddev_group=4):
  """rosinality Discriminator.forward; images `(N, 3, R, R)` -> `(N, 1)`."""
  blur = make_kernel([1, 3, 3, 1])
  x = fused_lrelu(equal_conv(images, sd["convs.0.0.weight"]),
                  sd["convs.0.1.bias"])
  i = 1
  while f"convs.{i}.conv1.0.weight" in sd:
    y = fused_lrelu(equal_conv(x, sd[f"convs.{i}.conv1.0.weight"], padding=1),
                    sd[f"convs.{i}.conv1.1.bias"])
    y = upfirdn2d(y, blur, pad=(2, 2))
    y = fused_lrelu(equal_conv(y, sd[f"convs.{i}.conv2.1.weight"], stride=2),
                    sd[f"convs.{i}.conv2.2.bias"])
    s = upfirdn2d(x, blur, pad=(1, 1))
    s = equal_conv(s, sd[f"convs.{i}.skip.1.weight"], stride=2)
    x = (y + s) / SQRT2
    i += 1
  n, c, h, w = x.shape
  group = min(n, stddev_group)
  std = x.reshape(group, -1, 1, c, h, w)
  std = np.sqrt(std.var(axis=0) + 1e-8)
  std = std.mean(axis=(2, 3, 4), keepdims=True).squeeze(2)
  std = np.tile(std, (group, 1, h, w))
  x = np.concatenate([x, std], axis=1)
  x = fused_lrelu(equal_conv(x, sd["final_conv.0.weight"], padding=1),
                  sd["final_conv.1.bias"])
  x = x.reshape(n, -1)
  x = equal_linear(x, sd["final_linear.0.weight"], sd["final_linear.0.bias"],
                   activation=True)
  return equal_linear(x, sd["final_linear.1.weight"], sd["final_linear.1.bias"])
