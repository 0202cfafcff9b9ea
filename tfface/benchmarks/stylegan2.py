"""StyleGAN2 throughput: forward and train-step images/s, achieved FLOP/s.

``python tools/benchmark.py stylegan2 --output=bench/stylegan2.json``

For each resolution (default 64 and 256; upstream channel table, multiplier
2; batch 8) and each implementation variant it measures

* ``forward``: mapping + synthesis of one batch (random noise), images/s;
* ``train_step``: the full :class:`StyleGAN2Method` step (D step, G step, and
  the lazy R1 / path-length steps amortized: a step without regularization,
  one with path length and one with both are timed and combined as
  ``t0 + (t_pl − t0)/4 + (t_both − t_pl)/16``), images/s;

and converts them to GFLOP/s with an analytic count of the convolution and
dense multiply-adds (2 FLOPs each; elementwise ops, FIR filters and
normalizations are not counted, so the fraction is a lower bound on hardware
use). The train-step count uses the usual 3× (forward + two backward passes)
for a trained network, 2× for a network only differentiated w.r.t. its input,
and 6× for the double-backward regularizers. ``fraction_of_matmul`` divides by
the float32 matmul GFLOP/s measured in the same run.

Variants: ``base`` (activation-scaled modulation, graph mode), ``fused``
(grouped-conv modulation), ``xla`` (``jit_compile=True``), ``fused_xla``.
"""

import argparse
import math
import time
from typing import Dict, List

import tensorflow as tf

from tfface.benchmarks import common
from tfface.networks import stylegan2 as networks

VARIANTS = ("base", "fused", "xla", "fused_xla")


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--resolutions", default="64,256",
                      help="comma-separated resolutions")
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--variants", default="base,xla",
                      help=f"comma-separated subset of {VARIANTS}")
  parser.add_argument("--train_variants", default="",
                      help="variants for the train step (default: --variants)")
  parser.add_argument("--forward_iters", type=int, default=5)
  parser.add_argument("--train_iters", type=int, default=2)
  parser.add_argument("--channel_multiplier", type=int, default=2)
  parser.add_argument("--train_batch_sizes", default="",
                      help="per-resolution train batch overrides, e.g. "
                      "'256:4' where batch 8 does not fit in host memory")


# -- analytic FLOP counts (multiply-adds × 2, per sample) ----------------------


def generator_flops(resolution: int, channels: Dict[int, int],
                    style_dim: int = 512, z_dim: int = 512,
                    mapping_layers: int = 8) -> Dict[str, float]:
  """Forward FLOPs per sample of the mapping and the synthesis network."""
  mapping = 2.0 * (z_dim * style_dim + (mapping_layers - 1) * style_dim**2)
  synth = 0.0

  def modconv(cin, cout, k, out_res, in_res=None, upsample=False):
    affine = 2.0 * style_dim * cin
    if upsample:  # transposed conv on the input grid
      return affine + 2.0 * in_res * in_res * k * k * cin * cout
    return affine + 2.0 * out_res * out_res * k * k * cin * cout

  c4 = channels[4]
  synth += modconv(c4, c4, 3, 4) + modconv(c4, 3, 1, 4)
  cin = c4
  for i in range(3, int(math.log2(resolution)) + 1):
    r, c = 2**i, channels[2**i]
    synth += modconv(cin, c, 3, r, r // 2, upsample=True)
    synth += modconv(c, c, 3, r) + modconv(c, 3, 1, r)
    cin = c
  return {"mapping": mapping, "synthesis": synth}


def discriminator_flops(resolution: int, channels: Dict[int, int]) -> float:
  """Forward FLOPs per sample of the residual discriminator."""
  flops = 2.0 * resolution**2 * 3 * channels[resolution]
  for i in range(int(math.log2(resolution)), 2, -1):
    r, cin, cout = 2**i, channels[2**i], channels[2**(i - 1)]
    flops += 2.0 * r * r * 9 * cin * cin  # conv1
    flops += 2.0 * (r // 2)**2 * 9 * cin * cout  # conv2 (stride 2)
    flops += 2.0 * (r // 2)**2 * cin * cout  # skip 1x1 (stride 2)
  c4 = channels[4]
  flops += 2.0 * 16 * 9 * (c4 + 1) * c4 + 2.0 * 16 * c4 * c4 + 2.0 * c4
  return flops


def train_step_flops(batch: int, g: Dict[str, float], d: float,
                     d_reg_every: int = 16, g_reg_every: int = 4,
                     pl_batch_shrink: int = 2) -> float:
  """Amortized FLOPs of one StyleGAN2 training step (see module docstring)."""
  gf = g["mapping"] + g["synthesis"]
  d_step = batch * (2 * g["mapping"] + gf) + 3.0 * d * 2 * batch
  g_step = batch * (3.0 * (gf + g["mapping"]) + 2.0 * d)
  r1 = 6.0 * d * batch / d_reg_every
  pl = 6.0 * gf * (batch // pl_batch_shrink) / g_reg_every
  return d_step + g_step + r1 + pl


# -- timing --------------------------------------------------------------------


def _variant_flags(variant: str):
  return "fused" in variant, "xla" in variant


def _forward(resolution, channels, batch, variant, iters):
  fused, jit = _variant_flags(variant)
  g = networks.Generator(resolution, channels, fused_modconv=fused)
  g.build_all()
  z = tf.random.normal([batch, 512])

  @tf.function(jit_compile=jit)
  def forward(z):
    return g(z, noise_mode="random", noise_seed=tf.constant([1, 2]))

  start = time.perf_counter()
  forward(z).numpy()
  compile_s = time.perf_counter() - start
  seconds = common.time_call(lambda: forward(z), warmup=1, iters=iters,
                             min_seconds=2.0)
  return {"seconds_per_batch": seconds, "images_per_s": batch / seconds,
          "first_call_s": compile_s}


def _train(resolution, batch, variant, iters, channel_multiplier):
  from tfface.methods.stylegan2 import trainer  # pylint: disable=g-import-not-at-top
  fused, jit = _variant_flags(variant)
  method = trainer.StyleGAN2Method(resolution=resolution,
                                   channel_multiplier=channel_multiplier,
                                   fused_modconv=fused)
  method.global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
  method.global_batch_size = batch
  method.seed = 0
  method.build()
  images = tf.random.uniform([batch, resolution, resolution, 3], -1.0, 1.0)
  batch_dict = {"image": images}
  step = tf.function(method.train_step, jit_compile=jit)
  start = time.perf_counter()
  method.global_step.assign(1)
  step(batch_dict)["d_loss"].numpy()
  first = time.perf_counter() - start
  timings = {}
  for name, at in (("plain", 1), ("path_length", 4), ("r1_and_path_length", 0)):
    method.global_step.assign(at)
    timings[name] = common.time_call(lambda: step(batch_dict), warmup=0,
                                     iters=iters, min_seconds=0.0)
  t0, tpl, tboth = (timings["plain"], timings["path_length"],
                    timings["r1_and_path_length"])
  amortized = (t0 + (tpl - t0) / method.g_reg_every +
               (tboth - tpl) / method.d_reg_every)
  return {"seconds_per_step": amortized, "images_per_s": batch / amortized,
          "step_seconds": timings, "first_call_s": first}


def run(args) -> Dict[str, object]:
  resolutions = [int(r) for r in args.resolutions.split(",") if r]
  variants = [v for v in args.variants.split(",") if v]
  train_variants = [v for v in (args.train_variants or args.variants).split(",")
                    if v]
  for v in set(variants) | set(train_variants):
    if v not in VARIANTS:
      raise ValueError(f"unknown variant {v!r}; expected one of {VARIANTS}")
  matmul = common.matmul_gflops()
  results: List[Dict[str, object]] = []
  for resolution in resolutions:
    channels = networks.channel_table(resolution, "upstream",
                                      args.channel_multiplier)
    g = generator_flops(resolution, channels)
    d = discriminator_flops(resolution, channels)
    forward_flops = args.batch_size * (g["mapping"] + g["synthesis"])
    overrides = dict(item.split(":") for item in
                     args.train_batch_sizes.split(",") if item)
    train_batch = int(overrides.get(str(resolution), args.batch_size))
    step_flops = train_step_flops(train_batch, g, d)
    entry = {"resolution": resolution, "batch_size": args.batch_size,
             "train_batch_size": train_batch,
             "channels": {str(k): v for k, v in channels.items()},
             "forward_gflop_per_batch": forward_flops / 1e9,
             "train_step_gflop_per_step": step_flops / 1e9,
             "forward": {}, "train_step": {}}
    for variant in variants:
      m = _forward(resolution, channels, args.batch_size, variant,
                   args.forward_iters)
      m["gflops"] = forward_flops / m["seconds_per_batch"] / 1e9
      m["fraction_of_matmul"] = m["gflops"] / matmul
      entry["forward"][variant] = m
      print(f"{resolution}px forward {variant}: {m['images_per_s']:.2f} img/s "
            f"{m['gflops']:.1f} GFLOP/s ({100 * m['fraction_of_matmul']:.0f}%)",
            flush=True)
    for variant in train_variants:
      m = _train(resolution, train_batch, variant, args.train_iters,
                 args.channel_multiplier)
      m["gflops"] = step_flops / m["seconds_per_step"] / 1e9
      m["fraction_of_matmul"] = m["gflops"] / matmul
      entry["train_step"][variant] = m
      print(f"{resolution}px train {variant}: {m['images_per_s']:.2f} img/s "
            f"{m['gflops']:.1f} GFLOP/s ({100 * m['fraction_of_matmul']:.0f}%)",
            flush=True)
    results.append(entry)
  return {"matmul_gflops_this_run": matmul, "results": results,
          "flop_count": "analytic: conv + dense multiply-adds x2",
          "devices": [d.name for d in tf.config.list_logical_devices()]}


