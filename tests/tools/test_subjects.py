"""The subjects of tools/edit.py, tools/evaluate.py, tools/generate.py and
tools/convert_weights.py:
bad input is one ``error:`` line (exit 1), an unknown subject the usage."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _run(*args):
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run([sys.executable, *args], capture_output=True,
                        text=True, env=env, cwd=REPO, timeout=120,
                        check=False)


@pytest.mark.parametrize("args, message", [
    (["tools/edit.py", "nope", "--export_dir=x", "--image=y",
      "--output_dir=z"], "unknown edit subject"),
    (["tools/evaluate.py", "latent"], "--data_pattern is required"),
    (["tools/evaluate.py", "latent", "--data_pattern=x",
      "--mapper=fixed"], "--mapper takes name=path"),
    (["tools/evaluate.py", "analysis", "--heldout_pattern=x"],
     "either --bundle_dir or --weights"),
    (["tools/evaluate.py", "analysis", "--heldout_pattern=x",
      "--weights=landmarks"], "net=path pairs"),
    (["tools/convert_weights.py", "alae", "--from=missing.pth",
      "--to=/tmp/x.npz"], "missing.pth"),
    (["tools/generate.py", "discofacegan", "--output_dir=/tmp/x"],
     "needs --run_dir"),
])
def test_bad_input_is_one_error_line(args, message):
  result = _run(*args)
  assert result.returncode == 1, result.stderr[-1500:]
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("error:") and message in last, last


def test_unknown_subjects_print_the_usage():
  result = _run("tools/evaluate.py", "nope")
  assert result.returncode == 2 and "latent" in result.stderr
  result = _run("tools/convert_weights.py", "nope", "--from=a", "--to=b")
  assert result.returncode == 2 and "alae" in result.stderr
