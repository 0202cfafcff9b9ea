"""Construction of the procedural face model (NumPy, build time only)."""
