"""train() and LoopConfig reject bad settings before anything is built."""

import gin
import pytest

from tfface.training import loop
from tfface.training import train_lib


@pytest.fixture(autouse=True)
def _clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


@pytest.mark.parametrize("field,value,message", [
    ("max_steps", "ten", "train.max_steps must be an integer >= 1, got 'ten'"),
    ("max_steps", -1, "train.max_steps must be an integer >= 1, got -1"),
    ("max_steps", 2.5, "got 2.5 (float)"),
    ("checkpoint_every", 0, "train.checkpoint_every must be an integer >= 1"),
    ("keep_checkpoints", 0, "train.keep_checkpoints"),
    ("log_every", 0, "train.log_every"),
    ("summary_every", -1, "train.summary_every must be an integer >= 0"),
    ("image_every", True, "train.image_every must be an integer"),
    ("seed", "0", "train.seed"),
])
def test_loop_config_rejects(field, value, message):
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(
      ")", r"\)")):
    loop.LoopConfig(**{field: value})


def test_loop_config_accepts_zero_for_disabled_summaries():
  config = loop.LoopConfig(max_steps=1, summary_every=0, image_every=0)
  assert (config.summary_every, config.image_every) == (0, 0)


def _never_called(*args, **kwargs):
  raise AssertionError("built something despite a bad setting")


@pytest.mark.parametrize("kwargs,message", [
    (dict(global_batch_size=0), "train.global_batch_size must be an integer"),
    (dict(global_batch_size="8"), r"got '8' \(str\)"),
    (dict(max_steps=-1), "train.max_steps"),
    (dict(checkpoint_every=0), "train.checkpoint_every"),
    (dict(num_cpu_replicas=0), "--num_cpu_replicas"),
    (dict(max_steps_override=0), "--max_steps must be an integer >= 1"),
])
def test_train_checks_settings_before_building(tmp_path, kwargs, message):
  with pytest.raises(ValueError, match=message):
    train_lib.train(str(tmp_path / "run"), method=_never_called,
                    dataset_fn=_never_called, **kwargs)
  assert not (tmp_path / "run").exists()
