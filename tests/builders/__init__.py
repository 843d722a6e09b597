"""Shared test builders, one small module per subject; tests import them as ``from builders.market import ...``."""
