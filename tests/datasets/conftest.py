"""Every test here leaves the root logger as it found it (the commands configure it)."""

from builders.logs import root_logging_restored  # noqa: F401  (autouse)
