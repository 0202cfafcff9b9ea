"""tools/train.py runs ConfigNet stage 1 then stage 2 from gin/confignet/test.gin."""

import os

from tests.methods.confignet import fixtures
from tests.training import subprocess_utils
from tfface.training import checkpoints

GIN = os.path.join(subprocess_utils.REPO, "gin", "confignet", "test.gin")


def _train(model_dir, synthetic, real, *params):
  bindings = [f"confignet_dataset.synthetic_pattern = '{synthetic}'",
              f"confignet_dataset.real_source = '{real}'", *params]
  return subprocess_utils.run(
      [subprocess_utils.sys.executable,
       os.path.join(subprocess_utils.REPO, "tools", "train.py"),
       f"--gin_file={GIN}", f"--model_dir={model_dir}"] +
      [f"--gin_param={b}" for b in bindings], timeout=300)


def test_stage1_then_stage2_through_the_binary(tmp_path):
  synthetic, real = fixtures.write_toy_data(str(tmp_path / "data"))
  stage1 = str(tmp_path / "stage1")
  first = _train(stage1, synthetic, real)
  assert first.returncode == 0, first.stderr[-2000:]
  assert checkpoints.saved_step(checkpoints.latest_checkpoint(stage1)) == 2
  stage2 = str(tmp_path / "stage2")
  second = _train(stage2, synthetic, real,
                  "train.method = @ConfigNetStage2",
                  f"ConfigNetStage2.init_checkpoint = '{stage1}'")
  assert second.returncode == 0, second.stderr[-2000:]
  assert checkpoints.saved_step(checkpoints.latest_checkpoint(stage2)) == 2
  with open(os.path.join(stage2, "operative_config.gin")) as f:
    assert "ConfigNetStage2" in f.read()
  # A stage-2 run without a stage-1 checkpoint is one clear error line.
  missing = _train(str(tmp_path / "bad"), synthetic, real,
                   "train.method = @ConfigNetStage2",
                   f"ConfigNetStage2.init_checkpoint = '{tmp_path}/nothing'")
  assert missing.returncode != 0
  assert "nothing" in missing.stderr.strip().splitlines()[-1]
