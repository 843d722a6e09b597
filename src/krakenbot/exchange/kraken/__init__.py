"""Kraken through ccxt: the live ``Exchange`` (``client``), parsing, error translation, symbols."""
