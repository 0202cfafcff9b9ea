"""Exporting a trained run: rebuild its method from gin, restore, save signatures."""

from typing import Optional, Sequence

from tfface.export import metadata
from tfface.export import serving_config
from tfface.training import restore


def export_run(model_dir: str, base_dir: str,
               gin_params: Sequence[str] = (),
               model_name: Optional[str] = None) -> str:
  """Exports the newest checkpoint of a run as ``<base_dir>/<version>``.

  Restores the run with :func:`tfface.training.restore_run` (its
  ``operative_config.gin`` plus ``gin_params`` overrides, its newest
  checkpoint) and saves the method's ``export_signatures()`` with the
  export conventions (:func:`tfface.export.metadata.export_servable`:
  ``serving_default``, ``metadata``, ``tfface.json``, warm-up requests).
  Beside the versions it writes ``models.config`` (this model, absolute base
  path) and ``batching_parameters.txt`` for stock TF Serving.

  Args:
    model_dir: the run directory.
    base_dir: the model's base path (created if missing).
    gin_params: gin overrides for rebuilding the method.
    model_name: the name TF Serving serves it under (default: the method,
      e.g. ``confignet``).

  Returns:
    The written version directory.
  """
  method = restore.restore_run(model_dir, gin_params)
  module, signatures = method.export_signatures()
  if not hasattr(module, "export_metadata"):
    raise ValueError(f"{type(module).__name__} has no export_metadata(); "
                     "every served method describes itself (see "
                     "tfface.export.metadata)")
  meta = module.export_metadata()
  name = model_name or str(meta["method"])
  path = metadata.export_servable(module, base_dir, signatures, meta,
                                  module.signature_inputs(), model_name=name)
  serving_config.write_serving_files(base_dir, name)
  return path
