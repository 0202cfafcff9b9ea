"""Deep3DFaceRecon_pytorch R-Net and arcface_torch iresnet conversion.

State dicts with the references' key names and shapes (random values) are
converted; the networks are compared with NumPy re-implementations of the
PyTorch forwards (tests/networks), written with save_network and read back
with load_network, and broken state dicts must fail naming the key.
"""

import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from tests.networks import test_iresnet as ir_ref
from tests.networks import test_torchvision_resnet as tv_ref
from tfface.analysis import convert
from tfface.analysis import public_nets
from tfface.analysis import weights

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HEADS = (80, 64, 80, 3, 27, 2, 1)  # ReconNetWrapper.final_layers


def recon_state(depth=50, width=64, rng=None):
  """A ``net_recon`` state dict: ``backbone.*`` (no fc) + ``final_layers``."""
  rng = rng or np.random.default_rng(0)
  sd = tv_ref.resnet_state(depth, width, rng, prefix="backbone.")
  features = 8 * width * (4 if depth >= 50 else 1)
  for j, size in enumerate(HEADS):
    sd[f"final_layers.{j}.weight"] = (
        rng.standard_normal([size, features, 1, 1]) / np.sqrt(features)
    ).astype(np.float32)
    sd[f"final_layers.{j}.bias"] = (0.1 * rng.standard_normal(size)).astype(
        np.float32)
  return sd


def recon_forward(sd, images_01, depth):
  """ReconNetWrapper.forward on `(N, 3, H, W)` RGB [0, 1] -> `(N, 257)`."""
  x = tv_ref.resnet_forward(sd, images_01, depth, prefix="backbone.")
  return np.concatenate([
      x @ sd[f"final_layers.{j}.weight"][:, :, 0, 0].T +
      sd[f"final_layers.{j}.bias"] for j in range(len(HEADS))], axis=1)


@pytest.fixture(scope="module")
def small_recon():
  sd = recon_state(50, 4, np.random.default_rng(0))
  return sd, convert.convert_deep3d_recon(sd, input_size=48)


@pytest.fixture(scope="module")
def small_arcface():
  sd = ir_ref.iresnet_state(18, width=4, embedding=16, side=2,
                            rng=np.random.default_rng(1))
  return sd, convert.convert_arcface(sd)


@pytest.fixture(scope="module")
def tiny_recon():
  # ResNet-18 at width 2: for the layout, file and error checks (fast).
  sd = recon_state(18, 2, np.random.default_rng(2))
  return sd, convert.convert_deep3d_recon(sd, input_size=32)


def _images(seed, size, n=2):
  return np.random.default_rng(seed).uniform(-1, 1, [n, size, size, 3]
                                              ).astype(np.float32)


# ------------------------------------------------------------------ R-Net


def test_release_sized_recon_state_dict_converts():
  # ResNet-50 at full width: the release's 332 keys (torchvision resnet50's
  # 320 minus fc.weight/fc.bias, plus 7 heads × 2), depth and width read from
  # the keys, 224 px, 257 outputs.
  sd = recon_state(50, 64, np.random.default_rng(3))
  assert len(sd) == 332
  assert sd["backbone.layer4.2.conv3.weight"].shape == (2048, 512, 1, 1)
  assert convert.deep3d_recon_architecture(sd) == {"depth": 50, "width": 64}
  # (Converted at 32 px to keep the test fast; the reference's 224 is the
  # default.)
  assert public_nets.Deep3DReconNet().input_size == 224
  model = convert.convert_deep3d_recon(sd, input_size=32)
  assert model.config() == {"depth": 50, "width": 64, "input_size": 32}
  np.testing.assert_array_equal(
      model.backbone.layer2_0.conv2.kernel.numpy(),
      sd["backbone.layer2.0.conv2.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(
      model.backbone.layer3_0.downsample_1.moving_variance.numpy(),
      sd["backbone.layer3.0.downsample.1.running_var"])
  assert [int(h.kernel.shape[1]) for h in model.heads] == list(HEADS)
  assert sum(HEADS) == 257


def test_recon_matches_numpy_pytorch_on_its_input_convention(small_recon):
  sd, model = small_recon
  images = _images(0, 48)
  got = model(images)["coefficients"].numpy()
  # Deep3DFaceRecon_pytorch feeds RGB in [0, 1]: tfface's (x + 1) / 2.
  want = recon_forward(sd, tv_ref.nchw((images + 1) / 2), 50)
  np.testing.assert_allclose(got, want, rtol=1e-3,
                             atol=1e-3 * np.abs(want).max())
  # Feeding [-1, 1] unchanged would be another function.
  wrong = recon_forward(sd, tv_ref.nchw(images), 50)
  assert np.abs(wrong - want).max() > 0.05 * np.abs(want).max()
  # Any input size: bilinear resize (no antialiasing) to input_size first.
  big = np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)
  resized = tf.image.resize(big, [48, 48], "bilinear", antialias=False)
  np.testing.assert_allclose(model(big)["coefficients"].numpy(),
                             model(resized)["coefficients"].numpy(),
                             rtol=1e-5, atol=1e-5)


def test_coefficient_layout_and_slices(tiny_recon):
  sd, _ = tiny_recon
  state = dict(sd)
  for j, size in enumerate(HEADS):  # head j outputs the constant j
    state[f"final_layers.{j}.weight"] = np.zeros_like(
        sd[f"final_layers.{j}.weight"])
    state[f"final_layers.{j}.bias"] = np.full([size], float(j), np.float32)
  model = convert.convert_deep3d_recon(state, input_size=32)
  out = {k: v.numpy() for k, v in model(_images(1, 32)).items()}
  assert public_nets.BFM_257_SLICES == {
      "identity": (0, 80), "expression": (80, 144), "albedo": (144, 224),
      "pose": (224, 227), "sh": (227, 254), "translation": (254, 257)}
  for name, value in (("identity", 0), ("expression", 1), ("albedo", 2),
                      ("pose", 3), ("sh", 4)):
    start, stop = public_nets.BFM_257_SLICES[name]
    assert out[name].shape == (2, stop - start)
    np.testing.assert_array_equal(out[name], value)
    np.testing.assert_array_equal(out["coefficients"][:, start:stop], value)
  np.testing.assert_array_equal(out["translation"], [[5, 5, 6]] * 2)
  # DiscoFaceGAN's layout 2: id | tex | exp | angles | gamma | trans.
  disco = public_nets.to_discofacegan_layout(out["coefficients"]).numpy()
  np.testing.assert_array_equal(disco[0, :80], 0)
  np.testing.assert_array_equal(disco[0, 80:160], 2)
  np.testing.assert_array_equal(disco[0, 160:224], 1)
  np.testing.assert_array_equal(disco[0, 224:], out["coefficients"][0, 224:])
  np.testing.assert_array_equal(
      public_nets.from_discofacegan_layout(disco).numpy(), out["coefficients"])


def test_recon_weights_file_round_trip(tiny_recon, tmp_path):
  _, model = tiny_recon
  path = str(tmp_path / "recon.npz")
  weights.save_network(path, model, model.config(), {"source": "test"})
  loaded = weights.load_network(path)
  assert isinstance(loaded, public_nets.Deep3DReconNet)
  assert loaded.weights_metadata == {"source": "test"}
  assert not loaded.trainable
  images = _images(2, 40)
  a, b = model(images), loaded(images)
  assert set(a) == set(b) == {"coefficients", *public_nets.BFM_257_SLICES}
  for k in a:
    np.testing.assert_array_equal(a[k].numpy(), b[k].numpy())


def test_recon_errors_name_the_key(tiny_recon):
  sd, _ = tiny_recon
  state = dict(sd)
  del state["backbone.layer2.0.bn2.running_var"]
  with pytest.raises(weights.WeightsError,
                     match=r"lacks 'backbone\.layer2\.0\.bn2\.running_var'"):
    convert.convert_deep3d_recon(state, input_size=32)
  # torchvision's fc is not part of the R-Net (use_last_fc=False).
  state = dict(sd, **{"backbone.fc.weight": np.zeros([1000, 16])})
  with pytest.raises(weights.WeightsError, match=r"backbone\.fc\.weight"):
    convert.convert_deep3d_recon(state, input_size=32)
  state = dict(sd)
  state["final_layers.1.weight"] = np.zeros([63, 16, 1, 1], np.float32)
  with pytest.raises(weights.WeightsError,
                     match=r"'final_layers\.1\.weight' has shape \(63, 16, 1, "
                     r"1\); expected \(64, 16, 1, 1\)"):
    convert.convert_deep3d_recon(state, input_size=32)
  with pytest.raises(weights.WeightsError, match="backbone.conv1.weight"):
    convert.convert_deep3d_recon({"conv1.weight": np.zeros([4, 3, 7, 7])})
  state = {k: v for k, v in sd.items() if not k.startswith("backbone.layer4.1")}
  with pytest.raises(weights.WeightsError, match=r"\[2, 2, 2, 1\] basic"):
    convert.convert_deep3d_recon(state)


# ---------------------------------------------------------------- ArcFace


def test_arcface_key_layout_and_inferred_architecture():
  # iresnet18 at the release's width: 187 keys, fc (512, 512·7·7).
  sd = ir_ref.iresnet_state(18, rng=np.random.default_rng(4))
  assert len(sd) == 187
  assert convert.arcface_architecture(sd) == {
      "depth": 18, "width": 64, "embedding_size": 512, "input_size": 112}
  for key in ("conv1.weight", "bn1.running_var", "prelu.weight",
              "layer1.0.bn1.weight", "layer1.0.prelu.weight",
              "layer1.0.bn3.num_batches_tracked",
              "layer4.0.downsample.0.weight",
              "bn2.bias", "fc.bias", "features.running_mean"):
    assert key in sd
  counts = {d: len(ir_ref.iresnet_state(d, width=1, embedding=2, side=1))
            for d in (34, 50)}
  assert counts == {34: 7 + 16 * 18 + 4 * 6 + 12, 50: 7 + 24 * 18 + 4 * 6 + 12}
  for depth in (34, 50):
    state = ir_ref.iresnet_state(depth, width=1, embedding=2, side=1)
    assert convert.arcface_architecture(state)["depth"] == depth


def test_arcface_matches_numpy_pytorch(small_arcface):
  sd, model = small_arcface
  assert model.input_size == 32 and model.config() == {
      "depth": 18, "width": 4, "embedding_size": 16, "input_size": 32}
  images = _images(5, 32)
  # arcface_torch's (x / 255 - 0.5) / 0.5 of 0..255 RGB is [-1, 1] itself.
  want = ir_ref.iresnet_forward(sd, tv_ref.nchw(images), 18)
  raw = model(images, normalize=False).numpy()
  np.testing.assert_allclose(raw, want, rtol=1e-3,
                             atol=1e-3 * np.abs(want).max())
  unit = model(images).numpy()
  np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(unit, want / np.linalg.norm(want, axis=1,
                                                          keepdims=True),
                             rtol=1e-3, atol=1e-3)
  # Any input size, resized to 32.
  assert model(_images(6, 50)).shape == (2, 16)


def test_arcface_weights_file_round_trip_and_errors(small_arcface, tmp_path):
  sd, model = small_arcface
  path = str(tmp_path / "arcface.npz")
  weights.save_network(path, model, model.config())
  loaded = weights.load_network(path)
  assert isinstance(loaded, public_nets.ArcFaceIResNet)
  images = _images(7, 40)
  np.testing.assert_array_equal(model(images).numpy(),
                                loaded(images).numpy())
  with pytest.raises(weights.WeightsError, match="iresnet18, not the "
                     "iresnet50"):
    convert.convert_arcface(sd, depth=50)
  state = dict(sd)
  del state["layer3.1.prelu.weight"]
  with pytest.raises(weights.WeightsError, match=r"'layer3\.1\.prelu\.weight'"):
    convert.convert_arcface(state)
  state = dict(sd, **{"layer1.0.se.fc.weight": np.zeros([2, 4])})
  with pytest.raises(weights.WeightsError, match=r"layer1\.0\.se\.fc\.weight"):
    convert.convert_arcface(state)
  state = dict(sd, **{"features.weight": np.ones([15], np.float32)})
  with pytest.raises(weights.WeightsError, match=r"'features\.weight' has "
                     r"shape \(15,\); expected \(16,\)"):
    convert.convert_arcface(state)


# ---------------------------------------------------------------- readers


def test_checkpoint_unwrapping_and_npz_reader(small_arcface, tmp_path):
  sd, _ = small_arcface
  # Deep3DFaceRecon's epoch_20.pth layout, with optimizer entries.
  checkpoint = {"net_recon": {"module." + k: v for k, v in sd.items()},
                "opt_00": {"state": {}, "param_groups": []}}
  assert convert.unwrap_state_dict(checkpoint).keys() == sd.keys()
  assert convert.unwrap_state_dict({"state_dict_backbone": sd}).keys() == (
      sd.keys())
  with pytest.raises(weights.WeightsError, match="'weights'"):
    convert.unwrap_state_dict(checkpoint, key="weights")
  with pytest.raises(weights.WeightsError, match="opt_00"):
    convert.unwrap_state_dict({"opt_00": {}, "epoch": np.int64(3)})
  grouped = tmp_path / "grouped.npz"
  np.savez(grouped, **{f"net_recon/{k}": v for k, v in sd.items()})
  flat = tmp_path / "flat.npz"
  np.savez(flat, **sd)
  for path in (grouped, flat):
    state = convert.read_state_dict(str(path))
    assert state.keys() == sd.keys()
    np.testing.assert_array_equal(state["fc.weight"], sd["fc.weight"])
  with pytest.raises(weights.WeightsError, match="no 'model/<name>'"):
    convert.load_npz_state_dict(str(flat), key="model")


def test_torch_reader_without_torch_is_a_clear_error(tmp_path, monkeypatch):
  path = tmp_path / "epoch_20.pth"
  path.write_bytes(b"not really")
  monkeypatch.setitem(sys.modules, "torch", None)
  with pytest.raises(ImportError, match=r"pip install 'tfface\[torch\]'"):
    convert.load_torch_state_dict(str(path))
  with pytest.raises(FileNotFoundError, match="missing.pth"):
    convert.read_state_dict(str(tmp_path / "missing.pth"))


def test_convert_file_facenet_wiring(small_arcface, tmp_path, monkeypatch):
  sd, model = small_arcface
  source = tmp_path / "facenet.npz"
  np.savez(source, **{"InceptionResnetV1/Conv2d_1a_3x3/weights":
                      np.ones([3, 3, 3, 2], np.float32)})
  target = str(tmp_path / "facenet_tfface.npz")
  monkeypatch.setitem(sys.modules, "tfface.analysis.convert_facenet", None)
  # `from tfface.analysis import convert_facenet` finds the package attribute
  # first when another test already imported the module.
  monkeypatch.delattr(sys.modules["tfface.analysis"], "convert_facenet",
                      raising=False)
  with pytest.raises(ImportError, match="convert_facenet"):
    convert.convert_file("facenet", str(source), target)
  # With a converter present, the state dict (TF names, "/" kept) goes to
  # convert_facenet(state) and its network is written.
  seen = {}

  def fake_convert(state):
    seen.update(state)
    return model

  fake = types.ModuleType("tfface.analysis.convert_facenet")
  fake.convert_facenet = fake_convert
  monkeypatch.setitem(sys.modules, "tfface.analysis.convert_facenet", fake)
  monkeypatch.setattr(sys.modules["tfface.analysis"], "convert_facenet", fake,
                      raising=False)
  summary = convert.convert_file("facenet", str(source), target)
  assert "facenet" in summary and list(seen) == [
      "InceptionResnetV1/Conv2d_1a_3x3/weights"]
  header = weights.read_header(target)
  assert header["kind"] == "arcface_iresnet"
  assert header["metadata"]["source"] == "facenet.npz"
  assert "[-1, 1]" in header["metadata"]["input"]
  with pytest.raises(ValueError, match="unknown subject"):
    convert.convert_file("vggface", str(source), target)
  with pytest.raises(ValueError, match="--depth"):
    convert.convert_file("facenet", str(source), target, depth=50)


def test_convert_weights_tool_arcface(small_arcface, tmp_path):
  sd, model = small_arcface
  source = tmp_path / "backbone.npz"
  np.savez(source, **sd)
  target = tmp_path / "arcface_tfface.npz"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
             PYTHONPATH=REPO)
  result = subprocess.run(
      [sys.executable, "tools/convert_weights.py", "arcface",
       f"--from={source}", f"--to={target}", "--depth=18"],
      capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "iresnet18" in result.stdout
  loaded = weights.load_network(str(target))
  meta = loaded.weights_metadata
  assert meta["source"] == "backbone.npz" and meta["input_size"] == 32
  assert "[-1, 1]" in meta["input"] and "0.5" in meta["reference_input"]
  images = _images(8, 32)
  np.testing.assert_array_equal(loaded(images).numpy(), model(images).numpy())


def test_convert_file_facenet_uses_the_facenet_converter(tmp_path):
  pytest.importorskip("tfface.analysis.convert_facenet")
  source = tmp_path / "not_facenet.npz"
  np.savez(source, **{"conv1.weight": np.zeros([4, 3, 3, 3], np.float32)})
  # The real converter gets the arrays and rejects them, naming FaceNet.
  with pytest.raises(weights.WeightsError, match="(?i)facenet"):
    convert.convert_file("facenet", str(source), str(tmp_path / "out.npz"))
  assert not (tmp_path / "out.npz").exists()
