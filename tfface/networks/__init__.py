"""Keras subclassed networks shared by several methods."""
