#!/usr/bin/env python3
"""Krakenbot's entry point: ``python run.py --help``. Same app as the ``krakenbot`` command."""

import sys
from pathlib import Path

try:
    from krakenbot.cli import main
except ModuleNotFoundError:  # running from a clone without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
    from krakenbot.cli import main

if __name__ == "__main__":
    main()
