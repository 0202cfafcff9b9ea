"""One worker of the multi-worker test: trains the toy method, dumps weights.

Usage: TF_CONFIG=... python -m tests.training.multi_worker_main MODEL_DIR OUT_JSON
"""

import json
import sys

from tests.training import toy_method
from tfface import training


def main(model_dir, out_path):
  strategy = training.make_strategy("multi_worker")
  method = toy_method.ToyRegression()
  config = training.LoopConfig(max_steps=5, checkpoint_every=5, log_every=1)
  losses = training.run_training(method, toy_method.toy_dataset(8), model_dir,
                                 config, strategy=strategy)
  with open(out_path, "w", encoding="utf-8") as f:
    json.dump({"weights": toy_method.final_weights(method).tolist(),
               "replicas": strategy.num_replicas_in_sync,
               "losses": losses}, f)


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2])
