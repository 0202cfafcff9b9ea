"""The ALAE checkpoint converter on a state dict this test creates.

The state dict has podgorskiy/ALAE's key names and shapes (``net.py``
``EncoderDefault``, ``Generator``, ``MappingF``, ``MappingD``; ``model.py``
``DLatent``) for a 128 px model with tiny channels, so the fused
transposed conv (generator, 128 px) and the fused stride-2 conv (encoder,
128 px input) are exercised. The converted StyleALAE is compared with a
NumPy forward pass written from ALAE's PyTorch code on the original arrays.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.layers import torch_reference as ref
from tfface.methods.latent import alae
from tfface.methods.latent import alae_convert
from tfface.methods.latent import codes
from tfface.networks import stylegan1 as s1

LAYERS, START, MAX, LATENT = 6, 2, 4, 4
SQRT2 = math.sqrt(2.0)


def _lreq(rng, shape, fan_in, gain=SQRT2):
  """An implicit-lreq weight: stored at run-time scale gain / sqrt(fan_in)."""
  return (rng.standard_normal(shape) * gain / math.sqrt(fan_in)).astype(
      np.float32)


def _blur(c):
  f = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0])
  return np.tile((f / f.sum())[None, None], [c, 1, 1, 1]).astype(np.float32)


def make_state(seed=0):
  """``{"models": {...}}`` with the reference's keys and shapes."""
  rng = np.random.default_rng(seed)
  small = lambda *shape: (rng.standard_normal(shape) * 0.2).astype(np.float32)
  ch = s1.alae_channels(LAYERS, START, MAX)  # 4 px block first
  g = {"const": (1.0 + small(1, ch[0], 4, 4))}
  for i in range(LAYERS):
    c, p = ch[i], f"decode_block.{i}"
    if i:
      res = 4 * 2**i
      shape = (ch[i - 1], c, 3, 3) if res >= 128 else (c, ch[i - 1], 3, 3)
      g[f"{p}.conv_1.weight"] = _lreq(rng, shape, 9 * ch[i - 1])
    g[f"{p}.blur.weight"] = _blur(c)
    g[f"{p}.conv_2.weight"] = _lreq(rng, (c, c, 3, 3), 9 * c)
    for n in (1, 2):
      g[f"{p}.noise_weight_{n}"] = small(1, c, 1, 1)
      g[f"{p}.bias_{n}"] = small(1, c, 1, 1)
      g[f"{p}.style_{n}.weight"] = _lreq(rng, (2 * c, LATENT), LATENT, 1.0)
      g[f"{p}.style_{n}.bias"] = small(2 * c)
    g[f"to_rgb.{i}.to_rgb.weight"] = _lreq(rng, (3, c, 1, 1), c, 0.03)
    g[f"to_rgb.{i}.to_rgb.bias"] = small(3)
  e = {}
  last = min(MAX, START * 2**LAYERS)
  for j in range(LAYERS):
    i = LAYERS - 1 - j
    c_in, c_out = ch[i], (last if i == 0 else ch[i - 1])
    p = f"encode_block.{j}"
    e[f"from_rgb.{j}.from_rgb.weight"] = _lreq(rng, (c_in, 3, 1, 1), 3)
    e[f"from_rgb.{j}.from_rgb.bias"] = small(c_in)
    e[f"{p}.conv_1.weight"] = _lreq(rng, (c_in, c_in, 3, 3), 9 * c_in)
    e[f"{p}.bias_1"] = small(1, c_in, 1, 1)
    e[f"{p}.blur.weight"] = _blur(c_in)
    e[f"{p}.conv_2.weight"] = _lreq(rng, (c_out, c_in, 3, 3), 9 * c_in)
    e[f"{p}.bias_2"] = small(1, c_out, 1, 1)
    e[f"{p}.style_1.weight"] = _lreq(rng, (LATENT, 2 * c_in), 2 * c_in)
    e[f"{p}.style_1.bias"] = small(LATENT)
    e[f"{p}.style_2.weight"] = _lreq(rng, (LATENT, 2 * c_out), 2 * c_out)
    e[f"{p}.style_2.bias"] = small(LATENT)
  # lrmul 0.1: implicit-lreq weights N(0, gain / sqrt(fan_in)), biases raw.
  f = {}
  for k in range(8):
    f[f"map_blocks.{k}.fc.weight"] = _lreq(rng, (LATENT, LATENT), LATENT)
    f[f"map_blocks.{k}.fc.bias"] = small(LATENT)
  d = {}
  for k in range(3):
    out = 2 * LATENT if k == 2 else LATENT
    d[f"map_blocks.{k}.weight"] = _lreq(rng, (out, LATENT), LATENT)
    d[f"map_blocks.{k}.bias"] = small(out)
  avg = np.tile(small(1, LATENT), [2 * LAYERS, 1])
  models = {"generator_s": g, "discriminator_s": e, "mapping_fl_s": f,
            "mapping_tl_s": d, "dlatent_avg": {"buff": avg}}
  # The trained (non-EMA) copies: the same keys, other values.
  models.update({k[:-2]: {n: v if "blur" in n else v + 0.01
                          for n, v in models[k].items()}
                 for k in list(models) if k.endswith("_s")})
  return {"models": models, "auxiliary": {}}


# --- a NumPy StyleALAE written from podgorskiy/ALAE's net.py (NCHW) ---------

def lrelu(x):
  return np.where(x >= 0, x, 0.2 * x)


def linear(x, sd, key, row=None):
  w, b = sd[f"{key}.weight"], sd[f"{key}.bias"]
  y = x @ w.T + b
  return y if row is None else y[:, row]


def blur(x):
  c = x.shape[1]
  f = _blur(1)[0, 0]
  x = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
  h, w = x.shape[2] - 2, x.shape[3] - 2
  return sum(x[:, :, i:i + h, j:j + w] * f[i, j]
             for i in range(3) for j in range(3)).reshape(-1, c, h, w)


def instance_norm(x, eps):
  m = x.mean(axis=(2, 3), keepdims=True)
  v = ((x - m)**2).mean(axis=(2, 3), keepdims=True)
  return (x - m) / np.sqrt(v + eps)


def style_mod(x, style):
  c = x.shape[1]
  gamma, beta = style[:, :c], style[:, c:]
  return x * (gamma[:, :, None, None] + 1) + beta[:, :, None, None]


def four_tap(w):
  w = np.pad(w, [(0, 0), (0, 0), (1, 1), (1, 1)])
  return w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]


def np_mapping(sd, z):
  x = z / np.sqrt((z**2).mean(axis=1, keepdims=True) + 1e-8)
  for k in range(8):
    x = lrelu(linear(x, sd, f"map_blocks.{k}.fc"))
  return x


def np_decode_block(sd, i, x, s1_, s2_, noise1, noise2):
  p = f"decode_block.{i}"
  if i:
    w = sd[f"{p}.conv_1.weight"]
    if 4 * 2**i >= 128:
      x = ref.conv_transpose2d(x, four_tap(w), 2)[:, :, 1:-1, 1:-1]
    else:
      x = ref.conv2d(x.repeat(2, axis=2).repeat(2, axis=3), w, padding=1)
    x = blur(x)
  for n, (style, noise) in enumerate(((s1_, noise1), (s2_, noise2)), 1):
    if n == 2:
      x = ref.conv2d(x, sd[f"{p}.conv_2.weight"], padding=1)
    x = x + sd[f"{p}.noise_weight_{n}"] * noise
    x = lrelu(x + sd[f"{p}.bias_{n}"])
    x = style_mod(instance_norm(x, 1e-8), linear(style, sd, f"{p}.style_{n}"))
  return x


def np_to_rgb(sd, i, x):
  w, b = sd[f"to_rgb.{i}.to_rgb.weight"], sd[f"to_rgb.{i}.to_rgb.bias"]
  return np.einsum("nchw,oc->nohw", x, w[:, :, 0, 0]) + b[None, :, None, None]


def np_decode(sd, w, noises, lod, blend=1.0):
  """Generator.decode / decode2 with given noise maps (NCHW)."""
  x = np.tile(sd["const"], [w.shape[0], 1, 1, 1])
  for i in range(lod + 1):
    if i == lod:
      prev = x
    x = np_decode_block(sd, i, x, w, w, noises[2 * i], noises[2 * i + 1])
  out = np_to_rgb(sd, lod, x)
  if blend != 1.0:
    old = np_to_rgb(sd, lod - 1, prev).repeat(2, axis=2).repeat(2, axis=3)
    out = old + blend * (out - old)  # torch.lerp
  return out


def np_encode(sd, images):
  """EncoderDefault.encode at the top LOD (NCHW images)."""
  j0 = 0
  w, b = sd[f"from_rgb.{j0}.from_rgb.weight"], sd[f"from_rgb.{j0}.from_rgb.bias"]
  x = np.einsum("nchw,oc->nohw", images, w[:, :, 0, 0]) + b[None, :, None, None]
  x = lrelu(lrelu(x))
  styles = 0.0
  for j in range(LAYERS):
    p = f"encode_block.{j}"
    x = lrelu(ref.conv2d(x, sd[f"{p}.conv_1.weight"], padding=1) +
              sd[f"{p}.bias_1"])
    stats_1 = np.concatenate([x.mean(axis=(2, 3)), x.std(axis=(2, 3))], 1)
    x = blur(instance_norm(x, 1e-5))
    resolution = 2**(LAYERS + 1 - j)
    if resolution >= 128:
      x = ref.conv2d(x, four_tap(sd[f"{p}.conv_2.weight"]) * 0.25,
                     padding=1, stride=2)
    else:
      x = ref.conv2d(x, sd[f"{p}.conv_2.weight"], padding=1)
      n, c, h, ww = x.shape
      x = x.reshape(n, c, h // 2, 2, ww // 2, 2).mean(axis=(3, 5))
    x = lrelu(x + sd[f"{p}.bias_2"])
    stats_2 = np.concatenate([x.mean(axis=(2, 3)), x.std(axis=(2, 3))], 1)
    x = instance_norm(x, 1e-5)
    styles = (styles + linear(stats_1, sd, f"{p}.style_1") +
              linear(stats_2, sd, f"{p}.style_2"))
  return styles


# --- tests ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def converted():
  checkpoint = make_state()
  config, arrays = alae_convert.convert_checkpoint(checkpoint)
  return checkpoint, config, alae_convert.build_autoencoder(config, arrays)


def test_config_is_read_from_the_state_dicts(converted):
  _, config, model = converted
  assert config["resolution"] == 128 and config["latent_size"] == LATENT
  assert config["channels"] == list(s1.alae_channels(LAYERS, START, MAX))
  assert (config["mapping_layers"], config["d_layers"]) == (8, 3)
  assert isinstance(model.generator.blocks[5].conv_1, s1.FusedUpConv2D)
  assert isinstance(model.encoder.blocks[5].conv_2, s1.FusedDownConv2D)
  assert model.lod == LAYERS - 1 and model.code_size == LATENT


def test_mapping_and_latent_discriminator_match_the_reference(converted):
  checkpoint, _, model = converted
  models = checkpoint["models"]
  z = np.random.default_rng(1).standard_normal([3, LATENT]).astype(np.float32)
  w = np_mapping(models["mapping_fl_s"], z)
  np.testing.assert_allclose(model.mapping(z).numpy(), w, rtol=1e-4, atol=1e-5)
  x = w
  for k in range(3):  # MappingD: no nonlinearity, unit `latent` of the last
    x = linear(x, models["mapping_tl_s"], f"map_blocks.{k}",
               row=LATENT if k == 2 else None)
  np.testing.assert_allclose(model.discriminator(w).numpy()[:, 0], x,
                             rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(model.mapping.w_avg.numpy(),
                             models["dlatent_avg"]["buff"][0], atol=1e-7)


@pytest.mark.parametrize("lod, blend", [(LAYERS - 1, 1.0), (LAYERS - 1, 0.3),
                                        (2, 1.0)])
def test_generator_matches_the_reference(converted, lod, blend):
  checkpoint, _, model = converted
  sd = checkpoint["models"]["generator_s"]
  w = np.random.default_rng(2).standard_normal([2, LATENT]).astype(np.float32)
  g = model.generator
  noises = g.noise_maps(2, lod, "const")
  want = np_decode(sd, w, [n.numpy().transpose(0, 3, 1, 2) for n in noises],
                   lod, blend)
  alpha = blend if blend == 1.0 else tf.constant(blend)
  got = g(w, lod=lod, alpha=alpha, noise_mode="const").numpy()
  np.testing.assert_allclose(got, want.transpose(0, 2, 3, 1), atol=2e-4,
                             rtol=1e-3)


def test_encoder_matches_the_reference(converted):
  checkpoint, _, model = converted
  images = np.random.default_rng(3).uniform(-1, 1, [2, 128, 128, 3]).astype(
      np.float32)
  want = np_encode(checkpoint["models"]["discriminator_s"],
                   images.transpose(0, 3, 1, 2))
  np.testing.assert_allclose(model.encode(images).numpy(), want, atol=2e-4,
                             rtol=1e-3)


def test_ema_weights_are_the_default(converted):
  checkpoint, _, model = converted
  _, trained = alae_convert.convert_checkpoint(checkpoint, use_ema=False)
  _, ema = alae_convert.convert_checkpoint(checkpoint)
  assert not np.allclose(trained["generator/const"], ema["generator/const"])
  np.testing.assert_array_equal(model.generator.const.numpy(),
                                ema["generator/const"])


def _broken(edit):
  checkpoint = make_state()
  edit(checkpoint["models"])
  return checkpoint


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["generator_s"].pop("decode_block.3.style_1.bias"),
     r"generator_s: missing \['decode_block.3.style_1.bias'\]"),
    (lambda m: m["discriminator_s"].update(extra=np.zeros(2)),
     r"discriminator_s: unexpected \['extra'\]"),
    (lambda m: m["mapping_fl_s"].update(
        {"map_blocks.2.fc.weight": np.zeros([LATENT, LATENT + 1])}),
     r"mapping_fl_s: mis-shaped \['map_blocks.2.fc.weight \(4, 5\) "
     r"\(expected \(4, 4\)\)'\]"),
    (lambda m: m["generator_s"].update(
        {"decode_block.1.blur.weight": np.ones([4, 1, 3, 3], np.float32)}),
     r"decode_block.1.blur.weight \(not the \[1, 2, 1\] blur kernel\)"),
    (lambda m: m.pop("mapping_tl_s"), r"no 'mapping_tl_s' state dict"),
    (lambda m: m.pop("dlatent_avg"), r"dlatent_avg: missing"),
])
def test_bad_checkpoints_name_the_keys(edit, message):
  with pytest.raises(alae_convert.ConversionError, match=message):
    alae_convert.convert_checkpoint(_broken(edit))


def test_convert_file_round_trip_through_npz(converted, tmp_path):
  checkpoint, _, model = converted
  source = tmp_path / "model_final.npz"
  np.savez(source, **{f"models/{name}/{key}": value
                      for name, sd in checkpoint["models"].items()
                      for key, value in sd.items()})
  destination = str(tmp_path / "alae_celeba.npz")
  alae_convert.convert_file(str(source), destination)
  loaded = codes.load_autoencoder(destination)
  assert isinstance(loaded, alae.StyleALAE)
  assert loaded.weights_metadata["weights"] == "ema"
  images = np.random.default_rng(4).uniform(-1, 1, [1, 128, 128, 3]).astype(
      np.float32)
  np.testing.assert_allclose(loaded.encode(images).numpy(),
                             model.encode(images).numpy(), atol=1e-6)
  w = model.encode(images)
  np.testing.assert_allclose(loaded.decode(w).numpy(),
                             model.decode(w).numpy(), atol=1e-6)
  assert alae.load_style_alae(destination).code_size == LATENT
  with pytest.raises(FileNotFoundError):
    alae_convert.load_checkpoint(str(tmp_path / "missing.npz"))
