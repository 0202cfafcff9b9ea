"""Exporting a trained run: rebuild its method from gin, restore, save signatures."""

from typing import Sequence

from tfface.export import savedmodel
from tfface.training import restore


def export_run(model_dir: str, base_dir: str,
               gin_params: Sequence[str] = ()) -> str:
  """Exports the newest checkpoint of a run as ``<base_dir>/<version>``.

  Restores the run with :func:`tfface.training.restore_run` (its
  ``operative_config.gin`` plus ``gin_params`` overrides, its newest
  checkpoint) and saves the method's ``export_signatures()``.

  Returns:
    The written version directory.
  """
  method = restore.restore_run(model_dir, gin_params)
  module, signatures = method.export_signatures()
  return savedmodel.export_module(module, base_dir, signatures)
