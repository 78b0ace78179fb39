from __future__ import annotations

from healthcheck.sse import SSEMessage, SSEParser, comment, encode


def test_roundtrip_multiline_data_and_id() -> None:
    p = SSEParser()
    wire = encode("state", "line1\nline2", id="abc-3", retry_ms=750).decode()
    assert p.feed(wire) == [SSEMessage("state", "line1\nline2", "abc-3")]
    assert p.retry_ms == 750 and p.last_id == "abc-3"


def test_split_chunks_crlf_cr_comments_and_defaults() -> None:
    p = SSEParser()
    text = ": hello\r\ndata:a\r\ndata: b\r\n\r\nid: 9\rdata: c\r\rdata\n\n"
    got = []
    for i in range(len(text)):  # one character at a time, CRLF split across chunks
        got += p.feed(text[i])
    assert got == [
        SSEMessage("message", "a\nb", None),
        SSEMessage("message", "c", "9"),
        SSEMessage("message", "", "9"),
    ]
    assert p.comments == 1


def test_id_without_data_still_counts_and_bad_retry_ignored() -> None:
    p = SSEParser()
    assert p.feed("id: 5\nretry: x1\n\n") == []
    assert p.last_id == "5" and p.retry_ms is None
    assert p.feed("id: a\0b\n\n") == [] and p.last_id == "5"
    assert p.feed(comment("hb").decode()) == [] and p.comments == 1
    assert p.feed("event: snapshot\ndata: {}\n\n") == [SSEMessage("snapshot", "{}", "5")]
