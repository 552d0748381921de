"""`mxbot live` rendered: the terminal's rows, JSON, and Block Kit inside Slack's limits with every
remote answer escaped."""

from __future__ import annotations

from bot.render import live
from checks.live.result import LiveReport, RecordLive, Seen, State, Verdict, Wanted
from tests.bot.blockkit_support import HOSTILE, no_live_markup, validate

SPF = Wanted("example.test", "TXT", "SPF")
NEW, OLD = ('"v=spf1 mx -all"',), ('"v=spf1 -all"',)


def stale_resolver() -> LiveReport:
    record = RecordLive(
        SPF,
        Verdict.RESOLVERS_STALE,
        "The name servers agree on example.test TXT (SPF) (…), but 1 of 1 resolver still serves "
        "the old answer for at most 287 more seconds: 127.0.0.1:53 has TXT … for 287 s more.",
        NEW,
        servers=(
            Seen("ns1.example.test", "127.0.0.11", State.RECORDS, NEW, 300, 2),
            Seen("ns3.example.test", "127.0.0.13", State.LAME, detail="REFUSED"),
        ),
        resolvers=(Seen("127.0.0.1:53", "127.0.0.1:53", State.RECORDS, OLD, 287),),
        wait_s=287,
        longest_ttl=300,
    )
    return LiveReport(
        "example.test", "example.test", (record,), record.verdict, record.sentence, 2, 31
    )


def test_the_terminal_shows_the_verdict_then_each_server_against_the_current_answer() -> None:
    out = live.text(stale_resolver(), width=100)

    assert out.splitlines()[2:] == [
        "example.test: CACHED — zone example.test · serial 2 · old answers gone in at most 287 s "
        "· took 31 ms",
        "",
        "CACHED  example.test TXT (SPF)",
        '        current answer: TXT "v=spf1 mx -all"',
        "        same    ns1.example.test (127.0.0.11)  serial 2",
        "        lame    ns3.example.test (127.0.0.13)             REFUSED",
        '        cached  127.0.0.1:53 (resolver)        TTL 287 s  TXT "v=spf1 -all"',
    ]


def test_json_marks_each_server_and_resolver() -> None:
    data = live.as_json(stale_resolver())

    record = data["records"][0]
    assert (data["verdict"], data["live"], data["wait_s"]) == ("resolvers_stale", False, 287)
    assert [s["mark"] for s in record["servers"]] == ["same", "lame"]
    assert record["resolvers"][0] | {"mark": "cached"} == record["resolvers"][0]
    assert record["current"] == list(NEW)


def test_slack_gets_the_verdict_and_escaped_answers_within_its_limits() -> None:
    report = stale_resolver()
    hostile = Seen("127.0.0.1:53", "127.0.0.1:53", State.RECORDS, (f'"{HOSTILE}"',), 10)
    record = report.records[0]
    report = LiveReport(
        report.domain,
        report.apex,
        (RecordLive(SPF, record.verdict, record.sentence, NEW, record.servers, (hostile,)),),
        report.verdict,
        report.sentence,
    )

    message = live.render_blocks(report, command="live example.test TXT")

    validate(message)
    no_live_markup(message)
    assert message["blocks"][0]["text"]["text"] == "⏳ Is it live? example.test"
    assert "&lt;!channel&gt;" in message["blocks"][3]["text"]["text"]


def test_the_progress_line_names_who_is_behind_and_the_ending_says_how_long() -> None:
    line = live.progress(stale_resolver(), next_in_s=8, give_up_in_s=3725)
    gave_up = live.ending(stale_resolver(), live=False, looks=9, elapsed_s=330, limit_s=330)

    assert line == (
        "not live yet, waiting for 127.0.0.1:53; next look in 8 s, giving up in 62 min 5 s"
    )
    assert gave_up.startswith("Gave up after 5 min 30 s (9 looks): the longest TTL and a margin")
