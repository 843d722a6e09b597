"""The secret filter: a sentinel key never appears in log output, whatever path it takes."""

import logging

import pytest

from krakenbot.logs import OperatorFormatter, SecretRedactingFilter, setup_logging

SENTINEL = "SENTINEL-kx9Q2-secret-value"


@pytest.fixture
def captured(tmp_path):
    log_file = tmp_path / "bot.log"
    setup_logging("DEBUG", file=log_file, secrets=[SENTINEL])
    yield log_file
    setup_logging("WARNING")


def test_sentinel_never_reaches_log_file(captured):
    log = logging.getLogger("krakenbot.test")
    log.info("key is %s", SENTINEL)
    log.warning("inline " + SENTINEL)
    log.error("dict %s", {"apiKey": SENTINEL})
    try:
        raise RuntimeError(f"auth failed for {SENTINEL}")
    except RuntimeError:
        log.exception("PF_XBTUSD: order failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = captured.read_text()
    assert SENTINEL not in text
    assert text.count("***") >= 4
    assert "PF_XBTUSD: order failed" in text


def test_credential_like_keys_are_redacted_without_knowing_the_value():
    redactor = SecretRedactingFilter()
    assert redactor.redact('{"apiSecret": "abcd1234efgh"}') == '{"apiSecret": "***"}'
    assert redactor.redact("api_key=abcd1234efgh next") == "api_key=*** next"


def test_operator_format_is_utc_one_line():
    record = logging.LogRecord("krakenbot.x", logging.INFO, __file__, 1, "%s: hello", ("PF_XBTUSD",), None)
    record.created = 0.0
    record.msecs = 0.0
    line = OperatorFormatter().format(record)
    assert line.startswith("1970-01-01T00:00:00.000Z INFO    PF_XBTUSD: hello")
    assert "\n" not in line


def test_log_file_and_its_directory_are_created_private(tmp_path):
    import os
    import stat
    old = os.umask(0o022)
    try:
        log_file = tmp_path / "logs" / "bot.log"
        setup_logging("INFO", file=log_file)
        logging.getLogger("krakenbot.test").info("hello")
    finally:
        os.umask(old)
        setup_logging("WARNING")
    assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(log_file.parent).st_mode) == 0o700


def test_log_file_rotates_at_max_bytes_keeps_backup_count_files_all_private(tmp_path):
    import os
    import stat
    old = os.umask(0o022)
    log_file = tmp_path / "logs" / "bot.log"
    try:
        setup_logging("INFO", file=log_file, max_bytes=2_000, backup_count=2)
        for i in range(200):  # ~100 bytes a line: rotates about every 20 lines
            logging.getLogger("krakenbot.test").info("line %03d %s", i, "x" * 40)
    finally:
        os.umask(old)
        setup_logging("WARNING")
    files = sorted(p.name for p in log_file.parent.iterdir())
    assert files == ["bot.log", "bot.log.1", "bot.log.2"]  # the oldest are dropped: bounded on disk
    for path in log_file.parent.iterdir():
        assert path.stat().st_size <= 2_000
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert "line 199" in log_file.read_text(encoding="utf-8")


def test_logging_config_bounds_the_rotation():
    from pydantic import ValidationError

    from krakenbot.config.models import LoggingConfig
    cfg = LoggingConfig()
    assert cfg.max_bytes > 0 and cfg.backup_count >= 1
    for bad in ({"max_bytes": 0}, {"max_bytes": 10**13}, {"backup_count": 0}, {"backup_count": 10_000}):
        with pytest.raises(ValidationError):
            LoggingConfig.model_validate(bad)


def test_ccxt_debug_logging_of_an_embedding_application_never_shows_the_headers(caplog):
    from krakenbot.config.models import ExchangeConfig
    from krakenbot.exchange.kraken.client import KrakenClient

    key, secret = "SENTINEL-embed-key-55aa", "U0VOVElORUwtZW1iZWQ="
    root = logging.getLogger()
    old_level = root.level
    ours = [h for h in root.handlers if any(isinstance(f, SecretRedactingFilter) for f in h.filters)]
    for handler in ours:  # an embedding application has no Krakenbot handler on its root logger
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG)  # the user's own DEBUG root logging
    try:
        KrakenClient(ExchangeConfig(), api_key=key, api_secret=secret, enable_rate_limit=False)
        with caplog.at_level(logging.DEBUG):
            ccxt_log = logging.getLogger("ccxt.base.exchange")
            ccxt_log.setLevel(logging.DEBUG)
            ccxt_log.debug("%s %s, Request: %s %s", "POST", "https://futures.kraken.com/derivatives/api/v3/sendorder",
                           {"APIKey": key, "Authent": "c2lnbmF0dXJlLXZhbHVl", "Nonce": "17"}, f"secret={secret}")
    finally:
        root.setLevel(old_level)
        for handler in ours:
            root.addHandler(handler)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Request:" in text
    assert key not in text and secret not in text and "c2lnbmF0dXJlLXZhbHVl" not in text
