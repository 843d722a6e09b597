"""The venue wing: the ``Exchange`` port (``base``), Kraken (``kraken/``) and the paper exchange (``paper``)."""
