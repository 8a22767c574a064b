from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lamina.observe.logs import LogStore, _escape, _unescape


@given(st.text())
def test_escaping_round_trips_and_keeps_one_line(message):
    escaped = _escape(message)
    assert "\n" not in escaped and "\r" not in escaped
    assert _unescape(escaped) == message


def test_records_with_carriage_returns_stay_one_event(tmp_path: Path):
    store = LogStore(tmp_path)
    record = "[ERROR] Exception: boom\rTraceback (most recent call last):\r  File \"x\", line 1"
    store.put("/aws/lambda/f", "stream", record, timestamp_ms=1)
    store.put("/aws/lambda/f", "stream", "second\nline", timestamp_ms=2)
    events = list(store.events("/aws/lambda/f", "stream"))
    assert [(e.timestamp_ms, e.message) for e in events] == [(1, record), (2, "second\nline")]
    assert store.groups() == ["/aws/lambda/f"]
    assert [s for s, _ in store.streams("/aws/lambda/f")] == ["stream"]
