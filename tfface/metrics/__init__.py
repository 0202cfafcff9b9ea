"""Metrics: controllability, FID/KID, identity, depth/angle errors."""
