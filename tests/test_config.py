"""tfface.config: reading bound values back, macros followed."""

import gin
import pytest

from tfface import config


@gin.configurable
def _configurable_for_test(a=1, b=2):
  return a + b


def test_query_value_follows_macro_chains_and_defaults_when_unbound():
  gin.parse_config("X = 'faces/*'\nY = %X\n"
                   "_configurable_for_test.a = %Y")
  assert config.query_value("_configurable_for_test.a") == "faces/*"
  assert config.query_value("%Y") == "faces/*"
  assert config.query_value("_configurable_for_test.b", 5) == 5
  assert config.query_value("no_such_configurable.a", 7) == 7
  assert config.resolve_macros(3) == 3


def test_a_macro_cycle_is_a_config_error():
  gin.parse_config("P = %Q\nQ = %P\n_configurable_for_test.a = %P")
  with pytest.raises(config.ConfigError, match="refers to itself"):
    config.resolve_macros(gin.query_parameter("_configurable_for_test.a"))
