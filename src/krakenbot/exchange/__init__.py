"""exchange layer (see ARCHITECTURE.md)."""
