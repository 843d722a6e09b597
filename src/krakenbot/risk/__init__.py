"""risk layer (see ARCHITECTURE.md)."""
