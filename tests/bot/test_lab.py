"""The lab's own rules: every expectation names a lab domain; the mail servers say why they
cannot start."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from bot.lab import mail, zones
from bot.lab.pki import LabCa


def test_every_expectation_and_selector_names_one_lab_domain() -> None:
    names = [d.name for d in zones.lab()]

    assert len(names) == len(set(names))
    assert set(zones.SHOWS) <= set(names)
    assert set(zones.DKIM_SELECTORS) <= set(names)
    assert {d.name for d in zones.lab() if d.needs_mail} == set(mail.SERVERS)


async def test_a_taken_smtp_address_stops_the_mail_servers_with_the_reason(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("binding port 25 needs root")
    address = mail.SERVERS["smtp-good.lab"][0]
    with socket.socket() as squatter:
        try:
            squatter.bind((address, mail.PORT))
        except OSError:
            pytest.skip(f"{address}:{mail.PORT} is already taken by something else")
        squatter.listen()

        with pytest.raises(mail.MailUnavailableError, match="address already in use"):
            async with mail.serving(LabCa(tmp_path)):
                pass
