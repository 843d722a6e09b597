"""strategy layer (see ARCHITECTURE.md)."""
