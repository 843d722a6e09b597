"""live layer (see ARCHITECTURE.md)."""
