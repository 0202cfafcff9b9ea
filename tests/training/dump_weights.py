"""Prints a run's newest checkpointed toy weights as JSON (for subprocess tests)."""

import json
import sys

import tensorflow as tf


def main(model_dir):
  path = tf.train.latest_checkpoint(model_dir + "/checkpoints")
  names = sorted(n for n, _ in tf.train.list_variables(path)
                 if n.startswith("model/") and "OPTIMIZER" not in n)
  print(json.dumps({"checkpoint": path, "weights": {
      n: tf.train.load_variable(path, n).tolist() for n in names}}))


if __name__ == "__main__":
  main(sys.argv[1])
