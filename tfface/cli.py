"""How every binary ends: an expected failure is one ``error:`` line, exit code 1.

The binaries in ``tools/`` and ``export/`` wrap their ``main`` once::

    from tfface import cli
    ...
    def run():
      app.run(cli.guard(main))

and hold no ``try``/``except`` of their own. :func:`guard` turns every failure
that bad input causes -- a config error, a ``ValueError`` for a bad setting or
bad data, a filesystem ``OSError`` (a ``model_dir`` that is a file, a full
disk), :class:`~tfface.training.loop.NonFiniteLossError`,
:class:`~tfface.training.loop.ExistingRunError`, TensorFlow's
``InvalidArgumentError``/``DataLossError``/``NotFoundError`` (and the other
file errors) from reading data -- into one line on stderr::

    error: model_dir '/tmp/run' is a file; expected a run directory ...

and returns exit code 1. The traceback is printed above that line only when
asked for: absl's ``--verbosity=1`` (or more), or the environment variable
``TFFACE_TRACEBACK=1``. Any other exception is a bug and keeps its traceback.

This module defines no flags (flags live in the binaries); it reads absl's
``verbosity`` flag's value when the binary parsed it, or takes it as an
argument. It imports no TensorFlow: an exception can only be one of
TensorFlow's (or tfface's training errors) if that module was imported.
"""

import functools
import os
import re
import sys
import traceback
from typing import Callable, Optional, Sequence, TextIO, Tuple, Type

from absl import logging

# Set to 1 (or true/yes) to print the traceback of expected errors too.
TRACEBACK_ENV = "TFFACE_TRACEBACK"
# absl --verbosity from which tracebacks are printed (1: debug).
TRACEBACK_VERBOSITY = 1
EXIT_ERROR = 1

# TensorFlow errors that bad input (files, data, settings) raises.
_TF_ERRORS = ("InvalidArgumentError", "DataLossError", "NotFoundError",
              "FailedPreconditionError", "PermissionDeniedError",
              "AlreadyExistsError", "ResourceExhaustedError", "OutOfRangeError")
# tfface errors that are not ValueErrors or OSErrors: (module, class name).
_TFFACE_ERRORS = (("tfface.training.loop", "NonFiniteLossError"),
                  ("tfface.training.loop", "ExistingRunError"))
_MAX_LINE = 500


def expected_errors(extra: Sequence[Type[BaseException]] = ()
                    ) -> Tuple[Type[BaseException], ...]:
  """The exception types :func:`guard` reports as one line.

  Args:
    extra: a binary's own expected types (e.g. ``ImportError`` for an
      optional dependency).
  """
  types = [ValueError, OSError, *extra]
  tf = sys.modules.get("tensorflow")
  errors = getattr(tf, "errors", None) if tf is not None else None
  if errors is not None:
    types.extend(getattr(errors, name) for name in _TF_ERRORS
                 if hasattr(errors, name))
  for module_name, name in _TFFACE_ERRORS:
    module = sys.modules.get(module_name)
    if module is not None and hasattr(module, name):
      types.append(getattr(module, name))
  return tuple(types)


def is_expected(error: BaseException,
                extra: Sequence[Type[BaseException]] = ()) -> bool:
  """Whether ``error`` is bad input (one line) rather than a bug."""
  return isinstance(error, expected_errors(extra))


# TensorFlow prefixes op errors with the function they ran in, ...
_TF_PREFIX = re.compile(r"^\{\{function_node [^}]*\}\}\s*")
# ... a tf.function's errors with a header and the stack where the op was
# defined (indented), and names the node on further lines ...
_TF_NOISE = re.compile(r"^(Graph execution error:|Detected at node |"
                       r"<stack traces unavailable>|\s|\[\[)")
# ... and an input pipeline's with the iterator's path.
_TF_PIPELINE = re.compile(r"^Error in user-defined function passed to \S+ "
                          r"transformation with iterator: \S+: ")


def _is_tf_error(error: BaseException) -> bool:
  tf = sys.modules.get("tensorflow")
  errors = getattr(tf, "errors", None) if tf is not None else None
  return errors is not None and isinstance(error, errors.OpError)


def error_message(error: BaseException) -> str:
  """``error`` as one line (without the ``error:`` prefix).

  The first non-empty line of the message: gin appends the call chain and
  TensorFlow the op and node on further lines, which add nothing for a user.
  A filesystem ``OSError`` reads ``<path>: <reason>``.
  """
  if isinstance(error, OSError) and error.strerror and error.filename:
    text = f"{error.filename}: {error.strerror}"
    if error.filename2:
      text = f"{error.filename} -> {error.filename2}: {error.strerror}"
  else:
    data = sys.modules.get("tfface.data.datasets")
    ours = data.data_error_message(error) if data and _is_tf_error(error) \
        else None
    if ours:
      # A bad-data error raised inside a pipeline (even inside a training
      # tf.function, where TF's first line is "Graph execution error:").
      return ours if len(ours) <= _MAX_LINE else ours[:_MAX_LINE - 3] + "..."
    lines = [l for l in str(error).splitlines() if l.strip()]
    if _is_tf_error(error):
      lines = [l for l in lines if not _TF_NOISE.match(l)]
    text = lines[0].strip() if lines else ""
  text = _TF_PREFIX.sub("", text)
  text = _TF_PIPELINE.sub("input pipeline: ", text)
  text = re.sub(r"\s*\[Op:[^\]]*\].*$", "", text)  # TF's "[Op:Name] name: "
  if not text:
    text = type(error).__name__
  return text if len(text) <= _MAX_LINE else text[:_MAX_LINE - 3] + "..."


def _absl_verbosity() -> int:
  try:
    return int(logging.get_verbosity())
  except Exception:  # pylint: disable=broad-except
    return -1  # flags not defined or not parsed (an argparse binary).


def wants_traceback(verbosity: Optional[int] = None) -> bool:
  """True under ``--verbosity>=1`` (or ``verbosity``) or ``TFFACE_TRACEBACK=1``.

  Args:
    verbosity: the binary's verbosity; None reads absl's ``--verbosity``.
  """
  value = os.environ.get(TRACEBACK_ENV, "").strip().lower()
  if value and value not in ("0", "false", "no", "off"):
    return True
  if verbosity is None:
    verbosity = _absl_verbosity()
  return verbosity >= TRACEBACK_VERBOSITY


def report(error: BaseException, verbosity: Optional[int] = None,
           stream: Optional[TextIO] = None) -> int:
  """Prints ``error: <one line>`` (traceback above it if wanted); returns 1.

  Call it from an ``except`` block (the traceback is the current one) or pass
  an exception that carries its ``__traceback__``.
  """
  stream = stream or sys.stderr
  if wants_traceback(verbosity):
    stream.write("".join(traceback.format_exception(
        type(error), error, error.__traceback__)))
  print(f"error: {error_message(error)}", file=stream)
  stream.flush()
  return EXIT_ERROR


def guard(main: Callable[..., Optional[int]],
          expected: Sequence[Type[BaseException]] = (),
          verbosity: Optional[int] = None) -> Callable[..., Optional[int]]:
  """``main`` wrapped so that expected failures end in one line and exit 1.

  Args:
    main: the binary's main function (``main(argv) -> exit code``).
    expected: further exception types this binary reports as one line.
    verbosity: fixed verbosity; None reads absl's ``--verbosity`` at the time
      of the failure.

  Returns:
    A function with ``main``'s arguments that returns ``main``'s exit code,
    or 1 after reporting an expected error. Other exceptions propagate with
    their traceback (they are bugs).
  """

  @functools.wraps(main)
  def guarded(*args, **kwargs):
    try:
      return main(*args, **kwargs)
    except Exception as e:  # pylint: disable=broad-except
      if not is_expected(e, expected):
        raise
      return report(e, verbosity)

  return guarded
