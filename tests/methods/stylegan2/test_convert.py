"""rosinality checkpoint conversion: every tensor lands where it should.

The test builds checkpoint-shaped state dicts (rosinality key names and
shapes, random values), converts them, and compares the tfface networks to a
NumPy re-implementation of the PyTorch forward passes.
"""

import math
import sys

import numpy as np
import pytest

from tfface.methods.stylegan2 import convert
from tfface.networks import stylegan2_weights
from tests.layers import torch_reference as ref


def rosinality_generator_state(resolution, channels, style_dim=512, n_mlp=8,
                               rng=None):
  """A rosinality Generator state dict; zeros when ``rng`` is None."""
  def arr(*shape):
    if rng is None:
      return np.zeros(shape, np.float32)
    return rng.standard_normal(shape).astype(np.float32)

  sd = {}
  for j in range(1, n_mlp + 1):
    sd[f"style.{j}.weight"] = arr(style_dim, style_dim) * 100.0
    sd[f"style.{j}.bias"] = arr(style_dim) * 0.1
  sd["input.input"] = arr(1, channels[4], 4, 4)

  def modconv(prefix, cin, cout, k):
    sd[f"{prefix}.conv.weight"] = arr(1, cout, cin, k, k)
    sd[f"{prefix}.conv.modulation.weight"] = arr(cin, style_dim)
    sd[f"{prefix}.conv.modulation.bias"] = 1.0 + 0.1 * arr(cin)

  modconv("conv1", channels[4], channels[4], 3)
  sd["conv1.noise.weight"] = 0.3 * arr(1)
  sd["conv1.activate.bias"] = 0.1 * arr(channels[4])
  modconv("to_rgb1", channels[4], 3, 1)
  sd["to_rgb1.bias"] = 0.1 * arr(1, 3, 1, 1)
  blur = (ref.make_kernel([1, 3, 3, 1]) * 4).astype(np.float32)
  log_size = int(math.log2(resolution))
  cin = channels[4]
  for k, i in enumerate(range(3, log_size + 1)):
    cout = channels[2**i]
    modconv(f"convs.{2 * k}", cin, cout, 3)
    sd[f"convs.{2 * k}.conv.blur.kernel"] = blur
    modconv(f"convs.{2 * k + 1}", cout, cout, 3)
    for m in (2 * k, 2 * k + 1):
      sd[f"convs.{m}.noise.weight"] = 0.3 * arr(1)
      sd[f"convs.{m}.activate.bias"] = 0.1 * arr(cout)
    sd[f"to_rgbs.{k}.upsample.kernel"] = blur
    modconv(f"to_rgbs.{k}", cout, 3, 1)
    sd[f"to_rgbs.{k}.bias"] = 0.1 * arr(1, 3, 1, 1)
    cin = cout
  for i in range(2 * log_size - 3):
    r = 2**((i + 5) // 2)
    sd[f"noises.noise_{i}"] = arr(1, 1, r, r)
  return sd


def rosinality_discriminator_state(resolution, channels, rng=None):
  def arr(*shape):
    if rng is None:
      return np.zeros(shape, np.float32)
    return rng.standard_normal(shape).astype(np.float32)

  blur = ref.make_kernel([1, 3, 3, 1]).astype(np.float32)
  sd = {"convs.0.0.weight": arr(channels[resolution], 3, 1, 1),
        "convs.0.1.bias": 0.1 * arr(channels[resolution])}
  log_size = int(math.log2(resolution))
  cin = channels[resolution]
  for n, i in enumerate(range(log_size, 2, -1), start=1):
    cout = channels[2**(i - 1)]
    sd[f"convs.{n}.conv1.0.weight"] = arr(cin, cin, 3, 3)
    sd[f"convs.{n}.conv1.1.bias"] = 0.1 * arr(cin)
    sd[f"convs.{n}.conv2.0.kernel"] = blur
    sd[f"convs.{n}.conv2.1.weight"] = arr(cout, cin, 3, 3)
    sd[f"convs.{n}.conv2.2.bias"] = 0.1 * arr(cout)
    sd[f"convs.{n}.skip.0.kernel"] = blur
    sd[f"convs.{n}.skip.1.weight"] = arr(cout, cin, 1, 1)
    cin = cout
  sd["final_conv.0.weight"] = arr(channels[4], cin + 1, 3, 3)
  sd["final_conv.1.bias"] = 0.1 * arr(channels[4])
  sd["final_linear.0.weight"] = arr(channels[4], channels[4] * 16)
  sd["final_linear.0.bias"] = 0.1 * arr(channels[4])
  sd["final_linear.1.weight"] = arr(1, channels[4])
  sd["final_linear.1.bias"] = 0.1 * arr(1)
  return sd


LIFTEDGAN_G = {4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 32, 256: 16}
LIFTEDGAN_D = {4: 512, 8: 512, 16: 512, 32: 256, 64: 128, 128: 64, 256: 32}


def test_liftedgan_shaped_checkpoint_maps_every_key():
  # The reference's key counts (135 G entries, 50 D entries) and the
  # config the converter infers from shapes alone.
  g_state = rosinality_generator_state(256, LIFTEDGAN_G)
  d_state = rosinality_discriminator_state(256, LIFTEDGAN_D)
  assert len(g_state) == 135 and len(d_state) == 50
  config = convert.generator_config(g_state)
  assert config == {"resolution": 256, "z_dim": 512, "style_dim": 512,
                    "mapping_layers": 8,
                    "channels": {str(k): v for k, v in LIFTEDGAN_G.items()}}
  assert convert.discriminator_config(d_state)["channels"] == {
      str(k): v for k, v in LIFTEDGAN_D.items()}
  _, arrays = convert.convert_generator(g_state)
  assert arrays["synthesis.convs_11.conv.weight"].shape == (3, 3, 16, 16)
  assert arrays["synthesis.noise_12"].shape == (1, 256, 256, 1)
  assert arrays["synthesis.to_rgbs_5.conv.modulation.kernel"].shape == (512, 16)
  _, d_arrays = convert.convert_discriminator(d_state)
  assert d_arrays["final_dense.kernel"].shape == (8192, 512)
  assert d_arrays["convs_6.conv2.conv.kernel"].shape == (3, 3, 512, 512)


@pytest.fixture(scope="module")
def small_checkpoint():
  rng = np.random.default_rng(0)
  channels = {4: 8, 8: 6, 16: 4}
  return {"g_ema": rosinality_generator_state(16, channels, style_dim=8,
                                              n_mlp=3, rng=rng),
          "latent_avg": rng.standard_normal(8).astype(np.float32),
          "d": rosinality_discriminator_state(16, {4: 8, 8: 6, 16: 4},
                                              rng=rng)}


def test_converted_generator_matches_pytorch_reference(small_checkpoint,
                                                       tmp_path):
  config, arrays = convert.convert_checkpoint(small_checkpoint)
  path = str(tmp_path / "sg2.npz")
  stylegan2_weights.save_weights(path, config, arrays)
  g = stylegan2_weights.load_generator(path)
  sd = small_checkpoint["g_ema"]
  np.testing.assert_array_equal(g.w_avg.numpy(), small_checkpoint["latent_avg"])
  rng = np.random.default_rng(1)
  z = rng.standard_normal([2, 8]).astype(np.float32)
  # Mapping: transposed kernels, lr multiplier 0.01 applied at run time.
  w = g.mapping(z).numpy()
  np.testing.assert_allclose(w, ref.mapping_forward(sd, z), rtol=1e-4,
                             atol=1e-4)
  # Synthesis with the stored noise buffers (NCHW -> NHWC) and W+ input.
  ws = rng.standard_normal([2, g.num_ws, 8]).astype(np.float32)
  noises = [sd[f"noises.noise_{i}"] for i in range(g.num_ws - 1)]
  want = ref.generator_forward(sd, ws, noises).transpose(0, 2, 3, 1)
  got = g.synthesis(ws, noise_mode="const").numpy()
  np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
  assert np.abs(want).max() > 0.1  # the comparison is not trivially zero


def test_converted_discriminator_matches_pytorch_reference(small_checkpoint,
                                                           tmp_path):
  config, arrays = convert.convert_checkpoint(small_checkpoint)
  path = str(tmp_path / "sg2.npz")
  stylegan2_weights.save_weights(path, config, arrays)
  d = stylegan2_weights.load_discriminator(path)
  images = np.random.default_rng(2).uniform(-1, 1, [4, 16, 16, 3]).astype(
      np.float32)
  want = ref.discriminator_forward(small_checkpoint["d"],
                                   images.transpose(0, 3, 1, 2))
  np.testing.assert_allclose(d(images).numpy(), want, rtol=1e-3, atol=1e-3)


def test_unknown_or_missing_keys_are_errors(small_checkpoint):
  state = dict(small_checkpoint["g_ema"])
  state["mystery.weight"] = np.zeros(3)
  with pytest.raises(convert.ConversionError, match="mystery"):
    convert.convert_generator(state)
  state = dict(small_checkpoint["g_ema"])
  del state["conv1.noise.weight"]
  with pytest.raises(convert.ConversionError, match="conv1.noise.weight"):
    convert.convert_generator(state)
  with pytest.raises(convert.ConversionError, match="g_ema"):
    convert.convert_checkpoint({"d": small_checkpoint["d"]})


def test_torch_loader_without_torch_is_a_clear_error(tmp_path, monkeypatch):
  path = tmp_path / "model.pt"
  path.write_bytes(b"not really")
  monkeypatch.setitem(sys.modules, "torch", None)
  with pytest.raises(ImportError, match=r"tfface\[torch\]"):
    convert.load_torch_checkpoint(str(path))
  with pytest.raises(FileNotFoundError):
    convert.load_torch_checkpoint(str(tmp_path / "missing.pt"))
