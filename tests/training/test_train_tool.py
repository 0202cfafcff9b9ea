"""tools/train.py end to end: gin errors, kill-and-resume."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from tests.training import subprocess_utils as su


def _weights(model_dir):
  result = su.run([sys.executable, "-m", "tests.training.dump_weights",
                   str(model_dir)])
  assert result.returncode == 0, result.stderr
  data = json.loads(result.stdout)
  return data["checkpoint"], np.concatenate(
      [np.ravel(v) for _, v in sorted(data["weights"].items())])


def test_malformed_binding_gives_one_clear_line(tmp_path):
  result = su.run(su.train_command(tmp_path, "--gin_param=train.max_steps = = 3"))
  assert result.returncode == 1
  assert "Traceback" not in result.stderr
  errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1
  assert "gin binding 'train.max_steps = = 3' is invalid" in errors[0]


def test_unknown_parameter_and_missing_file(tmp_path):
  result = su.run(su.train_command(tmp_path, "--gin_param=train.no_such = 3"))
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert "no_such" in result.stderr
  result = su.run(su.train_command(tmp_path, "--gin_file=/nope/x.gin"))
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert "gin file '/nope/x.gin' does not exist" in result.stderr


def test_killed_run_resumes_to_same_result(tmp_path):
  steps = ["--gin_param=train.max_steps = 12",
           "--gin_param=train.checkpoint_every = 4",
           "--gin_param=toy_dataset.delay_seconds = 0.25"]
  straight = tmp_path / "straight"
  result = su.run(su.train_command(straight, *steps[:2]))
  assert result.returncode == 0, result.stderr[-2000:]

  killed = tmp_path / "killed"
  process = subprocess.Popen(su.train_command(killed, *steps), env=su.env(),
                             cwd=su.REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 180
    marker = killed / "checkpoints" / "ckpt-4.index"
    while not marker.exists():
      assert process.poll() is None, "training ended before it was killed"
      assert time.time() < deadline, "no checkpoint appeared"
      time.sleep(0.05)
    time.sleep(0.3)  # let the checkpoint state file be written
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
  finally:
    if process.poll() is None:
      process.kill()
  checkpoint, _ = _weights(killed)
  assert checkpoint.endswith("ckpt-4"), checkpoint

  result = su.run(su.train_command(killed, *steps[:2]))
  assert result.returncode == 0, result.stderr[-2000:]
  assert "resumed from" in result.stderr
  _, resumed = _weights(killed)
  final, expected = _weights(straight)
  assert final.endswith("ckpt-12")
  np.testing.assert_array_equal(resumed, expected)


def test_progress_line_and_operative_config(tmp_path):
  result = su.run(su.train_command(tmp_path))
  assert result.returncode == 0, result.stderr[-2000:]
  lines = [l for l in result.stderr.splitlines() if "step 6/6" in l]
  assert lines and "mse=" in lines[-1] and "steps/s" in lines[-1]
  assert "ETA" in lines[-1]
  config = (tmp_path / "operative_config.gin").read_text()
  assert "ToyRegression.learning_rate = 0.05" in config
  assert not any(n.endswith(".tmp") for n in os.listdir(tmp_path))


def test_wrong_typed_and_out_of_range_settings_give_one_line(tmp_path):
  result = su.run(su.train_command(tmp_path,
                                   "--gin_param=train.max_steps = 'ten'"))
  assert result.returncode == 1 and "Traceback" not in result.stderr
  errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert errors == ["error: train.max_steps must be an integer >= 1, got "
                    "'ten' (str)"]
  # Nothing was built or written for a rejected setting.
  assert not os.path.exists(os.path.join(tmp_path, "run", "checkpoints"))


def test_model_dir_that_is_a_file_is_one_line_traceback_on_request(tmp_path):
  model_dir = tmp_path / "run"
  model_dir.write_text("not a directory")
  expected = (f"error: model_dir '{model_dir}' is a file; expected a run "
              "directory (or a path where one can be created)")
  result = su.run(su.train_command(model_dir))
  assert result.returncode == 1, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert errors == [expected]
  assert model_dir.read_text() == "not a directory"
  # TFFACE_TRACEBACK=1 (like --verbosity=1) adds the traceback above the line.
  result = su.run(su.train_command(model_dir), TFFACE_TRACEBACK="1")
  assert result.returncode == 1
  lines = result.stderr.strip().splitlines()
  assert "Traceback (most recent call last):" in lines
  assert any(l.startswith("NotADirectoryError: ") for l in lines)
  assert lines[-1] == expected
