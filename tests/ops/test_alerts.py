"""The alert dispatcher: URL resolution, dedup and rate limit, redaction, a bounded queue that never blocks,
a failing service counted; through apprise to a loopback JSON receiver."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from builders.alert_receiver import alert_receiver
from krakenbot.config.models import AlertsConfig
from krakenbot.domain import SimulatedClock
from krakenbot.domain.errors import ConfigError
from krakenbot.ops.alerts import AlertDispatcher, apprise_notifier, resolve_urls

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _recording() -> tuple[list[tuple[str, str]], object]:
    sent: list[tuple[str, str]] = []

    def notify(title: str, body: str) -> bool:
        sent.append((title, body))
        return True

    return sent, notify


def test_env_vars_in_urls_are_resolved_and_a_missing_one_refuses_naming_field_and_variable() -> None:
    resolved = resolve_urls(["tgram://${BOT_TOKEN}/123", "json://localhost/x"], {"BOT_TOKEN": "tok-abcdef"})
    assert resolved.urls == ("tgram://tok-abcdef/123", "json://localhost/x")
    assert resolved.secrets == ("tok-abcdef",)
    with pytest.raises(ConfigError) as caught:
        resolve_urls(["json://localhost/x", "ntfy://${NTFY_TOPIC}"], {})
    assert caught.value.problems == ["ops.alerts.urls[1]: environment variable NTFY_TOPIC is not set (the URL "
                                     "refers to ${NTFY_TOPIC}); export it or remove the URL"]


def test_a_url_apprise_does_not_understand_refuses_without_showing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        apprise_notifier(["json://localhost/ok", "nosuchservice://secret-in-url"])
    assert caught.value.problems[0].startswith("ops.alerts.urls[1]: apprise does not understand this URL")
    assert "secret-in-url" not in str(caught.value)


def test_repeats_within_the_window_are_counted_and_said_in_the_next_one() -> None:
    clock = SimulatedClock(T0)
    sent, notify = _recording()
    alerts = AlertDispatcher(AlertsConfig(repeat_after_seconds=300), notify=notify, clock=clock)  # type: ignore[arg-type]
    alerts.start()
    assert alerts.submit("shock_move", "PF_XBTUSD: move 3 %", symbol="PF_XBTUSD")
    clock.advance(timedelta(seconds=10))
    assert not alerts.submit("shock_move", "PF_XBTUSD: move 4 %", symbol="PF_XBTUSD")
    assert not alerts.submit("shock_move", "PF_XBTUSD: move 5 %", symbol="PF_XBTUSD")
    assert alerts.submit("shock_move", "PF_ETHUSD: move 3 %", symbol="PF_ETHUSD")  # another symbol: its own key
    clock.advance(timedelta(seconds=300))
    assert alerts.submit("shock_move", "PF_XBTUSD: move 6 %", symbol="PF_XBTUSD")
    assert alerts.flush(10)
    assert [b for _, b in sent] == ["PF_XBTUSD: move 3 %", "PF_ETHUSD: move 3 %",
                                    "PF_XBTUSD: move 6 %\n(2 more since 2026-03-01 09:00:00 UTC not sent)"]
    assert (alerts.sent, alerts.suppressed, alerts.dropped, alerts.failed) == (3, 2, 0, 0)
    alerts.close()


def test_secrets_and_credentials_are_redacted_from_title_and_body() -> None:
    sent, notify = _recording()
    alerts = AlertDispatcher(AlertsConfig(), notify=notify, clock=SimulatedClock(T0),  # type: ignore[arg-type]
                             secrets=["KEY-0123456789", "hook-token-xyz"])
    alerts.start()
    alerts.submit("halt", "failed with KEY-0123456789 and hook-token-xyz; apiKey=abcdef123 token: qwerty99")
    assert alerts.flush(10)
    [(title, body)] = sent
    for secret in ("KEY-0123456789", "hook-token-xyz", "abcdef123", "qwerty99"):
        assert secret not in title + body
    alerts.close()


def test_a_full_queue_drops_without_blocking_and_a_failing_service_is_counted() -> None:
    gate = threading.Event()
    entered = threading.Event()

    def slow(title: str, body: str) -> bool:  # a service that hangs until released, then refuses
        entered.set()
        gate.wait(10)
        return False

    alerts = AlertDispatcher(AlertsConfig(queue_size=2, repeat_after_seconds=0), notify=slow,
                             clock=SimulatedClock(T0))
    alerts.start()
    assert alerts.submit("a", "1")
    assert entered.wait(10)  # the sender holds the first; the queue has room for two more
    assert alerts.submit("b", "2") and alerts.submit("c", "3")
    assert not alerts.submit("d", "4")  # full: dropped at once, the caller never waits
    assert alerts.dropped == 1
    gate.set()
    assert alerts.flush(10)
    assert (alerts.sent, alerts.failed) == (0, 3)
    alerts.close()
    assert not alerts.submit("e", "after close") and alerts.dropped == 2


def test_alerts_reach_a_json_webhook_through_apprise() -> None:
    with alert_receiver() as receiver:
        resolved = resolve_urls([receiver.url("hook/${HOOK_TOKEN}")], {"HOOK_TOKEN": "hook-secret-123"})
        alerts = AlertDispatcher(AlertsConfig(), notify=apprise_notifier(resolved.urls), clock=SimulatedClock(T0),
                                 secrets=resolved.secrets, source="krakenbot test")
        alerts.start()
        alerts.submit("start", "paper started; the hook is hook-secret-123")
        alerts.close()
        [got] = receiver.all()
    assert got.path == "/hook/hook-secret-123"
    assert got.title == "[krakenbot test] start" and got.kind == "start"
    assert got.message == "paper started; the hook is ***"
    assert alerts.sent == 1
