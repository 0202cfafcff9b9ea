"""tools/convert_weights.py and tools/generate.py, end to end, plus the
generate library (grids and truncation sweeps)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfface.methods.stylegan2 import convert
from tfface.methods.stylegan2 import generate
from tfface.networks import stylegan2
from tfface.networks import stylegan2_weights
from tests.methods.stylegan2 import test_convert

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def _decode(path):
  with open(path, "rb") as f:
    return tf.io.decode_png(f.read()).numpy()


def test_sample_grid_and_truncation_sweep(tmp_path):
  g = stylegan2.Generator(16, stylegan2.channel_table(16, divisor=64),
                          z_dim=8, style_dim=8, mapping_layers=2)
  g.build_all()
  g.w_avg.assign(np.full([8], 0.3, np.float32))
  written = generate.write_sample_grids(g, str(tmp_path), num_samples=5,
                                        sweep_psis=(0.0, 1.0),
                                        sweep_samples=3)
  samples = _decode(written["samples"])
  assert samples.shape == (2 * 16, 3 * 16, 3)  # 5 images on a 3x2 grid
  sweep = _decode(written["truncation_sweep"])
  assert sweep.shape == (3 * 16, 2 * 16, 3)
  # Column ψ=0 shows w̄'s image in every row; column ψ=1 differs per row.
  first_column = [sweep[r * 16:(r + 1) * 16, :16] for r in range(3)]
  second_column = [sweep[r * 16:(r + 1) * 16, 16:] for r in range(3)]
  assert all(np.array_equal(first_column[0], c) for c in first_column)
  assert not np.array_equal(second_column[0], second_column[1])
  # Same seed, same pictures.
  again = generate.write_sample_grids(g, str(tmp_path / "again"),
                                      num_samples=5, sweep_psis=())
  np.testing.assert_array_equal(_decode(again["samples"]), samples)
  assert "truncation_sweep" not in again
  with pytest.raises(ValueError, match="exactly one"):
    generate.load_generator_for_generation()


def _run_tool(args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
             PYTHONPATH=REPO)
  return subprocess.run([sys.executable] + args, capture_output=True,
                        text=True, env=env, cwd=REPO, timeout=300)


def test_convert_then_generate_tools(tmp_path):
  rng = np.random.default_rng(0)
  channels = {4: 8, 8: 6, 16: 4}
  g_state = test_convert.rosinality_generator_state(16, channels, style_dim=8,
                                                    n_mlp=2, rng=rng)
  source = tmp_path / "rosinality.npz"
  arrays = {f"g_ema/{k}": v for k, v in g_state.items()}
  arrays["latent_avg"] = rng.standard_normal(8).astype(np.float32)
  np.savez(source, **arrays)
  target = tmp_path / "tfface.npz"
  result = _run_tool(["tools/convert_weights.py", "stylegan2",
                      f"--from={source}", f"--to={target}"])
  assert result.returncode == 0, result.stderr[-2000:]
  g = stylegan2_weights.load_generator(str(target))
  np.testing.assert_array_equal(g.w_avg.numpy(), arrays["latent_avg"])

  out_dir = tmp_path / "samples"
  result = _run_tool(["tools/generate.py", f"--weights={target}",
                      f"--output_dir={out_dir}", "--num_samples=4",
                      "--sweep_psis=0,0.5,1", "--sweep_samples=2"])
  assert result.returncode == 0, result.stderr[-2000:]
  assert _decode(str(out_dir / "samples.png")).shape == (32, 32, 3)
  assert _decode(str(out_dir / "truncation_sweep.png")).shape == (32, 48, 3)

  result = _run_tool(["tools/convert_weights.py", "stylegan2",
                      f"--from={tmp_path / 'missing.pt'}", f"--to={target}"])
  assert result.returncode == 1 and "no checkpoint file" in result.stderr


def test_npz_checkpoint_reader_rejects_unknown_groups(tmp_path):
  path = tmp_path / "bad.npz"
  np.savez(path, **{"ema/style.1.weight": np.zeros([2, 2])})
  with pytest.raises(convert.ConversionError, match="ema/style.1.weight"):
    convert.load_npz_checkpoint(str(path))
