"""SavedModel export for TF Serving (see :mod:`tfface.export.savedmodel`)."""

from tfface.export.savedmodel import ExportError
from tfface.export.savedmodel import export_module
