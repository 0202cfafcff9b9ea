"""Test-wide setup: quiet TensorFlow, two logical CPUs, clean gin state."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gin  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

# Two logical CPU devices, so MirroredStrategy tests run in-process. This must
# happen before any TensorFlow op initializes the devices.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


@pytest.fixture(autouse=True)
def _clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()



_TESTS = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_TESTS)


def _shares_session_fixtures(package: str) -> bool:
  conftest = os.path.join(_ROOT, package, "conftest.py")
  if not os.path.exists(conftest):
    return False
  with open(conftest) as f:
    return 'scope="session"' in f.read()


def pytest_xdist_make_scheduler(config, log):
  """``pytest -n N --dist loadfile`` (``make test``), grouped a little wider.

  Each test file runs on one worker, so its module-scoped fixtures (a tiny
  training run, a bundle) are built once; a package whose conftest.py holds
  session-scoped fixtures runs on one worker too, so those are built once
  rather than once per worker. (xdist's own ``--dist loadgroup`` marks do not
  group in xdist 3.8 with pytest 9, hence a scheduler.)
  """
  if config.getvalue("dist") != "loadfile":
    return None
  from xdist.scheduler import LoadScopeScheduling  # pylint: disable=g-import-not-at-top
  shared = {}

  class _FileOrPackageScheduling(LoadScopeScheduling):

    def _split_scope(self, nodeid):
      path = nodeid.split("::", 1)[0]
      package = os.path.dirname(path)
      if package not in shared:
        shared[package] = _shares_session_fixtures(package)
      return package if shared[package] else path

  return _FileOrPackageScheduling(config, log)
