"""tfface.cli: the one place where a binary's expected failures become one
``error:`` line (traceback only on request), and every binary uses it."""

import ast
import errno
import os

import pytest
import tensorflow as tf

from tfface import cli
from tfface import config
from tfface.training import loop

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
BINARIES = sorted(
    [os.path.join("tools", f) for f in os.listdir(os.path.join(REPO, "tools"))
     if f.endswith(".py") and f != "__init__.py"]
    + [os.path.join("export", "export_savedmodel.py"),
       os.path.join("export", "serving_client.py")])


def _raiser(error):
  def main():
    raise error
  return main


def _gin_style_error():
  try:
    raise ValueError("train.max_steps must be an integer >= 1, got 'x'\n"
                     "  In call to configurable 'train' (<function train>)")
  except ValueError as e:
    return e


@pytest.mark.parametrize("error, line", [
    (_gin_style_error(), "train.max_steps must be an integer >= 1, got 'x'"),
    (config.ConfigError("gin file 'x.gin' does not exist"),
     "gin file 'x.gin' does not exist"),
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/a/ckpt-4"),
     "/runs/a/ckpt-4: No space left on device"),
    (NotADirectoryError("model_dir '/x' is a file"), "model_dir '/x' is a file"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/a", None,
                       "/b"),
     "/a -> /b: No such file or directory"),
    (tf.errors.InvalidArgumentError(
        None, None, "{{function_node __wrapped__DecodePng_device_/job:local}} "
        "Invalid PNG data, size 10 [Op:DecodePng] name: "),
     "Invalid PNG data, size 10"),
    (tf.errors.DataLossError(None, None, "corrupted record at 12\n[[node]]"),
     "corrupted record at 12"),
    # As a compiled step reports a bad image in the input pipeline.
    (tf.errors.InvalidArgumentError(None, None, (
        "Graph execution error:\n\nDetected at node DecodePng defined at "
        "(most recent call last):\n<stack traces unavailable>\n  File "
        "\"x.py\", line 3\nError in user-defined function passed to "
        "MapDataset:1 transformation with iterator: Iterator::Root::Prefetch"
        "::ParallelMapV2: Unknown image file format. One of JPEG, PNG "
        "required.\n\t [[{{node DecodePng}}]]\n\t [[IteratorGetNext]] "
        "[Op:__inference_f_19]")),
     "input pipeline: Unknown image file format. One of JPEG, PNG required."),
    (tf.errors.NotFoundError(None, None, "/data/x.tfrecord; No such file"),
     "/data/x.tfrecord; No such file"),
    (loop.NonFiniteLossError("loss 'mse' became nan at step 6"),
     "loss 'mse' became nan at step 6"),
    (loop.ExistingRunError("/r already holds checkpoints"),
     "/r already holds checkpoints"),
])
def test_expected_errors_are_one_line_and_exit_1(error, line, capsys,
                                                 monkeypatch):
  monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
  assert cli.guard(_raiser(error), verbosity=0)() == 1
  assert capsys.readouterr().err == f"error: {line}\n"


def test_traceback_with_the_env_var_or_verbosity_1(capsys, monkeypatch):
  error = ValueError("bad setting")
  monkeypatch.setenv(cli.TRACEBACK_ENV, "1")
  assert cli.guard(_raiser(error), verbosity=0)() == 1
  err = capsys.readouterr().err
  assert err.startswith("Traceback (most recent call last):")
  assert err.endswith("ValueError: bad setting\nerror: bad setting\n")
  monkeypatch.setenv(cli.TRACEBACK_ENV, "0")
  assert cli.guard(_raiser(error), verbosity=0)() == 1
  assert "Traceback" not in capsys.readouterr().err
  assert cli.guard(_raiser(error), verbosity=1)() == 1
  assert "Traceback" in capsys.readouterr().err
  assert cli.wants_traceback(0) is False and cli.wants_traceback(1) is True


def test_bugs_keep_their_traceback_and_main_keeps_its_result():
  with pytest.raises(KeyError):
    cli.guard(_raiser(KeyError("a bug")))()
  with pytest.raises(TypeError):
    cli.guard(_raiser(TypeError("a bug")))()
  # A binary's own expected types.
  assert cli.guard(_raiser(ImportError("no torch")), expected=(ImportError,),
                   verbosity=0)() == 1
  assert cli.guard(lambda argv: len(argv))(["a", "b"]) == 2


def _calls(tree):
  return {ast.unparse(n.func) for n in ast.walk(tree)
          if isinstance(n, ast.Call)}


@pytest.mark.parametrize("binary", BINARIES)
def test_every_binary_ends_through_cli_guard(binary):
  tree = ast.parse(open(os.path.join(REPO, binary)).read())
  run = [n for n in tree.body if isinstance(n, ast.FunctionDef)
         and n.name == "run"]
  assert run, f"{binary} has no run()"
  assert "cli.guard" in _calls(run[0]), f"{binary}: run() does not use cli.guard"
  for node in ast.walk(tree):
    # No handler of its own that reports and swallows an error.
    if isinstance(node, ast.ExceptHandler):
      assert isinstance(node.body[-1], ast.Raise), (
          f"{binary}:{node.lineno} handles an error itself; raise it and let "
          "cli.guard report it")
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
      assert not node.value.startswith("error:"), (
          f"{binary}:{node.lineno} prints its own error line")
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(
        node.values[0], ast.Constant):
      assert not str(node.values[0].value).startswith("error:"), (
          f"{binary}:{node.lineno} prints its own error line")


def test_reads_absl_verbosity_when_not_given(monkeypatch):
  from absl import logging  # pylint: disable=g-import-not-at-top
  monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
  before = logging.get_verbosity()
  try:
    logging.set_verbosity(1)  # what --verbosity=1 sets
    assert cli.wants_traceback()
    logging.set_verbosity(0)
    assert not cli.wants_traceback()
  finally:
    logging.set_verbosity(before)


def test_bad_data_inside_a_tf_function_is_the_readers_line():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfface.data import datasets  # pylint: disable=g-import-not-at-top
  tag = datasets.GRAPH_ERROR_TAG

  @tf.function
  def step():
    tf.debugging.Assert(False, [tf.constant(
        tag + "shard-0.tfrecord#2 is damaged; expected an intact file")])
    return tf.constant(0)

  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    step()
  assert str(info.value).splitlines()[0].startswith("Graph execution error")
  assert cli.error_message(info.value) == (
      "shard-0.tfrecord#2 is damaged; expected an intact file")
