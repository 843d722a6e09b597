"""The status API token the ops tests serve and send (never a real one)."""

TOKEN = "test-token-0123456789abcdef"
