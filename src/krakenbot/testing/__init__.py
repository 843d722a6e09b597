"""Test support shipped with Krakenbot: the loopback Kraken server.

``FakeKraken`` answers the Kraken spot and Kraken Futures REST endpoints Krakenbot uses, with
Kraken's own response shapes, so tests (and operators rehearsing a config) drive the real ccxt
client without touching Kraken. See ``krakenbot.testing.fake_kraken``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from krakenbot.testing.fake_kraken import FakeKraken, Fault, RequestRecord

__all__ = ["FakeKraken", "Fault", "RequestRecord"]


def __getattr__(name: str) -> Any:
    # Imported lazily so ``python -m krakenbot.testing.fake_kraken`` does not load the module twice.
    if name in __all__:
        from krakenbot.testing import fake_kraken

        return getattr(fake_kraken, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
