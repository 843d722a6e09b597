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
