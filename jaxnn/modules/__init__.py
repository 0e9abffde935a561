"""Layers: one family a file, each a thin module over ``jaxnn.functional``."""
