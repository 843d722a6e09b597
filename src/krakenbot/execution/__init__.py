"""execution layer (see ARCHITECTURE.md)."""
