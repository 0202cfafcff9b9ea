"""Every shipped .gin file parses with all of tfface's configurables registered."""

import glob
import os

import pytest

from tfface import config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIN_FILES = sorted(glob.glob(os.path.join(REPO, "gin", "**", "*.gin"),
                             recursive=True))
# The runtime's own test config ships with the tests.
GIN_FILES.append(os.path.join(REPO, "tests", "training", "toy.gin"))


@pytest.mark.parametrize("path", GIN_FILES,
                         ids=[os.path.relpath(p, REPO) for p in GIN_FILES])
def test_gin_file_parses(path):
  config.parse_config([path], finalize=False)


def test_malformed_file_is_one_clear_error(tmp_path):
  bad = tmp_path / "bad.gin"
  bad.write_text("train.max_steps = \n")
  with pytest.raises(config.ConfigError) as error:
    config.parse_config([str(bad)])
  assert str(bad) in str(error.value)
  assert "\n" not in str(error.value)


def test_unknown_configurable_is_rejected():
  with pytest.raises(config.ConfigError, match="NoSuchThing"):
    config.parse_config([], ["NoSuchThing.x = 1"])


def test_keras_optimizers_are_configurable():
  config.parse_config([], ["tf.keras.optimizers.Adam.learning_rate = 0.01"],
                       finalize=False)
