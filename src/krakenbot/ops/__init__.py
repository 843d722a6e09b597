"""Operating a running bot (``paper`` and ``live``): alerts, Prometheus metrics, the status API and page.

Everything here watches the loop from beside it (the journal it writes, the ticks it reports, its read-only
views) and is off by default (``ops:`` in the config). Operator commands reach the loop through
``krakenbot.live``'s controls, applied at its next tick and journaled, never around the executor.
"""
