"""portfolio layer (see ARCHITECTURE.md)."""
