"""Sample grids and truncation sweeps from a StyleGAN2 generator, as PNG files.

Behind ``tools/generate.py``: :func:`load_generator_for_generation` finds the
generator (a training run's ``g_ema`` or a converted weights ``.npz``) and
:func:`write_sample_grids` writes the pictures.
"""

import os
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfface.networks import stylegan2 as networks
from tfface.networks import stylegan2_weights
from tfface.training import summaries


def _write_png(path: str, images: tf.Tensor, columns: int) -> None:
  data = summaries.encode_png(images, columns)
  tmp = path + ".tmp"
  with tf.io.gfile.GFile(tmp, "wb") as f:
    f.write(data)
  tf.io.gfile.rename(tmp, path, overwrite=True)


def write_sample_grids(generator: networks.Generator, output_dir: str,
                       num_samples: int = 16, seed: int = 0,
                       truncation_psi: float = 1.0,
                       sweep_psis: Sequence[float] = (0.0, 0.25, 0.5, 0.75,
                                                      1.0),
                       sweep_samples: int = 6, batch_size: int = 16,
                       noise_mode: str = "const") -> Dict[str, str]:
  """Writes ``samples.png`` and ``truncation_sweep.png`` into ``output_dir``.

  Args:
    generator: a built generator.
    output_dir: created if missing.
    num_samples: images in the sample grid.
    seed: NumPy seed of the latents (the same seed gives the same pictures).
    truncation_psi: ψ of the sample grid.
    sweep_psis: ψ values, one column each, of the sweep (empty: no sweep).
    sweep_samples: rows of the sweep.
    batch_size: generator batch size.
    noise_mode: ``"const"`` (stored noise buffers), ``"random"`` or ``"none"``.

  Returns:
    name -> written path.
  """
  if num_samples < 1:
    raise ValueError(f"num_samples must be >= 1, got {num_samples}")
  tf.io.gfile.makedirs(output_dir)
  rng = np.random.default_rng(seed)
  z = rng.standard_normal([num_samples, generator.z_dim]).astype(np.float32)

  def run(latents, psi):
    out = []
    for start in range(0, len(latents), batch_size):
      images = generator(latents[start:start + batch_size],
                         truncation_psi=float(psi), noise_mode=noise_mode)
      out.append(tf.clip_by_value(images, -1.0, 1.0))
    return tf.concat(out, axis=0)

  written = {}
  path = os.path.join(output_dir, "samples.png")
  _write_png(path, run(z, truncation_psi),
             int(np.ceil(np.sqrt(num_samples))))
  written["samples"] = path
  if sweep_psis:
    rows = z[:max(1, sweep_samples)]
    columns = [run(rows, psi) for psi in sweep_psis]  # each [rows, H, W, 3]
    sweep = tf.reshape(tf.stack(columns, axis=1),
                       [-1] + columns[0].shape[1:].as_list())
    path = os.path.join(output_dir, "truncation_sweep.png")
    _write_png(path, sweep, len(sweep_psis))
    written["truncation_sweep"] = path
  return written


def load_generator_for_generation(model_dir: Optional[str] = None,
                                  weights: Optional[str] = None,
                                  gin_params: Sequence[str] = ()
                                  ) -> networks.Generator:
  """The generator to sample from (``tools/generate.py``'s two flags).

  Args:
    model_dir: a training run (``operative_config.gin`` + checkpoints); its
      ``g_ema`` is used.
    weights: a tfface weights ``.npz`` (``tools/convert_weights.py``).
    gin_params: extra bindings when reading ``model_dir``.

  Exactly one of ``model_dir`` and ``weights`` must be given; both go to
  :func:`tfface.networks.load_stylegan2_generator`.
  """
  if bool(model_dir) == bool(weights):
    raise ValueError("give exactly one of --model_dir (a training run) and "
                     "--weights (a converted .npz)")
  if weights:
    return stylegan2_weights.load_stylegan2_generator(weights)
  return stylegan2_weights.load_stylegan2_generator(model_dir, gin_params)
