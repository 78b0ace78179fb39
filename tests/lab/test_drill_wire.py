"""Pure parts of the drill's wire and text output: DNS encode/decode, tables, progress."""

from __future__ import annotations

import io

from dnslib import QTYPE, RR, A, DNSRecord

from lab.drill.netclient import decode_answer, encode_query
from lab.drill.progress import ProgressBar
from lab.drill.report import profile_table, summary_table
from lab.drill.results import summarise
from lab.drill.scenario import load_scenario
from lab.drill.sim import simulate


def test_query_and_answer_round_trip() -> None:
    wire = encode_query("www.lab.example.", 4242)
    q = DNSRecord.parse(wire)
    assert q.header.id == 4242 and str(q.q.qname) == "www.lab.example." and q.q.qtype == QTYPE.A
    assert q.header.rd == 1  # a stub's query: the lab resolver refuses RD=0 (Unbound does)
    reply = q.reply()
    reply.add_answer(RR("www.lab.example.", QTYPE.A, rdata=A("127.0.2.1"), ttl=5))
    reply.add_answer(RR("www.lab.example.", QTYPE.A, rdata=A("127.0.1.1"), ttl=3))
    ans = decode_answer(reply.pack(), 4242)
    assert ans.addrs == ("127.0.2.1", "127.0.1.1") and ans.ttl == 3 and not ans.error


def test_bad_answers_are_errors_not_exceptions() -> None:
    q = DNSRecord.parse(encode_query("www.lab.example.", 1))
    assert decode_answer(q.reply().pack(), 2).error == "answer id mismatch"
    assert decode_answer(q.reply().pack(), 1).error == "no A records"
    servfail = q.reply()
    servfail.header.rcode = 2
    assert decode_answer(servfail.pack(), 1).error == "rcode 2"
    assert decode_answer(b"\x00\x01garbage", 1).error.startswith("unparsable")


def test_tables_and_progress_line() -> None:
    sc = load_scenario(None)
    rec = simulate(sc, 5)
    run = summarise(rec)
    table = summary_table([run])
    assert table.splitlines()[0].startswith("TTL  detect s")
    assert "30/60" in table and "+" in table and "*" in table  # censored pinned, bounded model
    assert "∞/∞" in profile_table([run])
    bar = ProgressBar("TTL 5s", stream=io.StringIO())
    line = bar.line(rec.end / 2, rec.end, rec)
    assert "[############------------]" in line and "kill eu-west" in line
    bar(0.0, rec.end, rec)
    assert "requests" in bar.stream.getvalue()  # type: ignore[attr-defined]
