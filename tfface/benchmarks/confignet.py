"""ConfigNet benchmark: generator forward / train throughput and 3D rotation.

  python tools/benchmark.py confignet --preset=demo --batch=8
  python tools/benchmark.py confignet --preset=reference --resolution=256 --batch=2
"""

import argparse
from typing import Dict

import tensorflow as tf

from tfface.benchmarks import common
from tfface.layers import volume as volume_lib
from tfface.methods.confignet import factors
from tfface.methods.confignet import model

DEMO_GENERATOR = dict(const_channels=64, channels_3d=(32, 16),
                      channels_3d_post=(16, 16), projection_channels=128,
                      channels_2d=(64, 32), mlp_units=64)


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--preset", choices=("demo", "reference"),
                      default="demo", help="generator channel widths")
  parser.add_argument("--resolution", type=int, default=64)
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--iters", type=int, default=5)


def run(args) -> Dict[str, object]:
  table = factors.paper_factor_table()
  kwargs = DEMO_GENERATOR if args.preset == "demo" else {}
  g = model.Generator(table.latent_dim, args.resolution, **kwargs)
  z = tf.random.normal([args.batch, table.latent_dim])
  rot = tf.random.uniform([args.batch, 3], -0.3, 0.3)
  g(z, rot)
  forward = tf.function(lambda: g(z, rot))
  optimizer = tf.keras.optimizers.Adam(1e-4)
  optimizer.build(g.trainable_variables)

  @tf.function
  def train():
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.abs(g(z, rot)))
    grads = tape.gradient(loss, g.trainable_variables)
    optimizer.apply_gradients(zip(grads, g.trainable_variables))
    return loss

  volume = tf.random.normal([args.batch, 16, 16, 16, 64])
  rotate = tf.function(lambda: volume_lib.rotate_volume(volume, rot))
  fwd = common.time_call(forward, iters=args.iters)
  step = common.time_call(train, iters=args.iters)
  rot_s = common.time_call(rotate, iters=args.iters)
  return {
      "preset": args.preset, "resolution": args.resolution,
      "batch": args.batch,
      "generator_parameters": model.count_parameters(g),
      "generator_forward_images_per_s": args.batch / fwd,
      "generator_train_images_per_s": args.batch / step,
      "rotate_volume_16x64_ms": 1000.0 * rot_s,
      "matmul_gflops": common.matmul_gflops(1024),
  }
