"""The lab's broken domains as an on-call engineer sees them (`mxbot demo DOMAIN`): the real
engine on loopback DNS, rendered for Slack and the terminal, the first problem in view at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.lab.zones import domains, load
from bot.render import blocks, summary, text
from checks import registry
from checks.engine import make_context, run_report
from checks.model import Report
from checks.settings import Settings
from checks.target import normalise
from tests.bot.blockkit_support import SCREEN_PX, no_live_markup, px_from, validate
from tests.fakes.dnsserver import DnsTestServer

_PROBLEM_EMOJI = tuple(blocks.EMOJI[s] + " " for s in summary.PROBLEM)
_PROBLEM_LABEL = ("FAIL  ", "ERR   ", "WARN  ")


async def _lab_reports(dns_server: DnsTestServer, settings: Settings) -> list[Report]:
    load(dns_server)
    # as `mxbot demo` runs them: the lab's documentation addresses allowed, connections only on
    # loopback (so none here); timeout.lab, left out, costs seconds and looks like servfail.lab
    lab = replace(settings, allow_private=True)
    targets = [normalise(name) for name in domains() if name != "timeout.lab"]
    return list(
        await asyncio.gather(
            *(
                run_report(registry.select(None, is_address=False), make_context(t, lab))
                for t in targets
            )
        )
    )


async def test_every_broken_lab_domain_shows_its_first_problem_at_once_in_both_faces(
    dns_server: DnsTestServer, settings: Settings
) -> None:
    reports = await _lab_reports(dns_server, settings)

    broken = [r for r in reports if summary.problems(r.results)]
    hidden, misplaced = [], []
    for report in broken:
        message = blocks.render(report, command=report.domain, report_id="1")
        validate(message)
        no_live_markup(message)
        first = message["blocks"][3]  # after the header, the headline and a divider
        if not first["text"]["text"].startswith(_PROBLEM_EMOJI):
            misplaced.append(report.domain)
        if px_from(message, 3) > SCREEN_PX:  # Slack keeps the message's bottom in view
            hidden.append((report.domain, px_from(message, 3)))
        lines = text.render(report, width=80).splitlines()
        after_lead = lines[lines.index("") + 1]
        if not after_lead.startswith(_PROBLEM_LABEL):
            misplaced.append(f"{report.domain} (terminal)")

    assert len(broken) > 60  # most lab domains are broken on purpose, each in one way
    assert misplaced == []
    assert hidden == []
    for report in reports:  # and both faces count alike
        counts = summary.counts(report.results)
        lead = blocks.render(report, command=report.domain)["blocks"][1]["text"]["text"]
        assert lead.endswith(f"({counts})")
        lead_lines = text.render(report, width=200).splitlines()
        at = next(i for i, line in enumerate(lead_lines) if line.endswith(f"— {counts}"))
        assert " ".join(lead_lines[:at]) == report.headline  # the diagnosis, then the summary
