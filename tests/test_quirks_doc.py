"""docs/kraken-futures-quirks.md names the test that pins each behaviour: every one it names must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "kraken-futures-quirks.md"


def named_tests() -> list[tuple[str, str]]:
    """(test file, test name) for each reference on the page; ``::name`` alone continues the last file."""
    found: list[tuple[str, str]] = []
    for line in PAGE.read_text().splitlines():
        current = ""
        for file, name in re.findall(r"`(tests/[\w/]+\.py)?::(test_\w+)", line):
            current = file or current
            assert current, f"{PAGE.name}: `::{name}` has no test file before it on its line"
            found.append((current, name))
    return found


def test_every_test_the_quirks_page_names_exists() -> None:
    named = named_tests()
    assert len(named) >= 30
    missing = [f"{file}::{name}" for file, name in named
               if not re.search(rf"^def {name}\(", (ROOT / file).read_text(), flags=re.M)]
    assert not missing, f"{PAGE.name} names tests that do not exist: {missing}"
