"""`mxbot fix` and `mxbot dkim keygen` as a user runs them: a real process, DNS over loopback."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from cryptography.hazmat.primitives import serialization

from tests.bot.test_cli import mxbot
from tests.fakes.dnsserver import DnsTestServer

ZONE = """
@ 300 IN SOA ns1 host 1 7200 3600 1209600 300
@ 300 IN MX 10 192.0.2.31.
@ 300 IN TXT "v=spf1 +all"
@ 300 IN TXT "v=spf1 mx -all"
_dmarc 300 IN TXT "v=DMARC1; p=none"
_dmarc 300 IN TXT "v=DMARC1; p=reject"
"""


@pytest.fixture
def broken(dns_server: DnsTestServer) -> DnsTestServer:
    dns_server.load_zone(ZONE, "example.test")
    return dns_server


def test_fix_json_has_the_documented_schema_and_a_zone_dnspython_reads(
    broken: DnsTestServer,
) -> None:
    run = mxbot("fix", "example.test", "--json", "--resolver", broken.address, "--timeout", "1")

    assert run.returncode == 1, run.stderr  # something failed
    out = json.loads(run.stdout)
    assert set(out) == {"domain", "zone", "records", "files", "notes"}
    assert out["domain"] == "example.test"
    zone = dns.zone.from_text(
        out["zone"], origin="example.test", relativize=False, check_origin=False
    )
    spf = zone.get_rdataset("example.test.", "TXT")
    assert spf is not None
    assert len(spf) == 1  # two SPF records in, one out
    assert zone.get_rdataset("_dmarc.example.test.", "TXT") is not None
    assert [r.to_text() for r in zone.get_rdataset("example.test.", "MX") or []] == [
        "10 mail.example.test."
    ]
    assert [r.to_text() for r in zone.get_rdataset("mail.example.test.", "A") or []] == [
        "192.0.2.31"
    ]
    record = out["records"][0]
    assert set(record) >= {"name", "type", "value", "ttl", "zone_line", "action", "replaces"}
    assert [f["path"] for f in out["files"]] == [
        "https://mta-sts.example.test/.well-known/mta-sts.txt"
    ]
    assert "mx: mail.example.test" in out["files"][0]["content"]


def test_fix_prints_the_snippet_the_file_and_the_notes(broken: DnsTestServer) -> None:
    run = mxbot("fix", "example.test", "--resolver", broken.address, "--timeout", "1")

    assert run.stdout.startswith("Fix bundle for example.test: ")
    assert "; replaces 2 SPF records at example.test: " in run.stdout
    assert "Serve at https://mta-sts.example.test/.well-known/mta-sts.txt:" in run.stdout
    assert "\nNotes:\n- " in run.stdout


def test_fix_zone_prints_only_the_snippet(broken: DnsTestServer) -> None:
    run = mxbot("fix", "example.test", "--zone", "--resolver", broken.address, "--timeout", "1")

    assert run.stdout.startswith("; Fix bundle for example.test")
    dns.zone.from_text(run.stdout, origin="example.test", relativize=False, check_origin=False)


def test_fix_refuses_an_ip_address() -> None:
    run = mxbot("fix", "192.0.2.1", "--resolver", "127.0.0.1:9")

    assert run.returncode == 2
    assert "fix takes the domain" in run.stderr


# ---- dkim keygen ---------------------------------------------------------------------------------
def keygen(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    run = mxbot("dkim", "keygen", "--domain", "example.test", "--selector", "s1", *args)
    return run.returncode, run.stdout, run.stderr


def test_keygen_writes_a_0600_key_and_prints_only_the_record(tmp_path: Path) -> None:
    out = tmp_path / "s1.pem"
    before = os.umask(0o000)  # the file is 0600 whatever the umask would allow
    try:
        status, stdout, stderr = keygen(tmp_path, "--out", str(out))
    finally:
        os.umask(before)

    assert status == 0, stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    pem = out.read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    name, ttl, cls, rdtype, value = stdout.strip().split(" ", 4)
    assert (name, ttl, cls, rdtype) == ("s1._domainkey.example.test.", "3600", "IN", "TXT")
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, value)
    text = b"".join(rdata.strings).decode()  # type: ignore[attr-defined]
    assert all(len(s) <= 255 for s in rdata.strings)  # type: ignore[attr-defined]
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert text == "v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode()
    assert "PRIVATE" not in stdout + stderr
    assert pem.decode().splitlines()[1] not in stdout + stderr


def test_keygen_never_overwrites_a_file(tmp_path: Path) -> None:
    out = tmp_path / "s1.pem"
    out.write_text("precious")

    status, stdout, stderr = keygen(tmp_path, "--out", str(out))

    assert status == 2
    assert "already exists" in stderr
    assert out.read_text() == "precious"
    assert stdout == ""


def test_keygen_does_not_follow_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    link = tmp_path / "s1.pem"
    link.symlink_to(target)

    status, _, _ = keygen(tmp_path, "--out", str(link))

    assert status == 2
    assert not target.exists()


def test_keygen_refuses_1024_bits(tmp_path: Path) -> None:
    status, stdout, stderr = keygen(tmp_path, "--bits", "1024", "--out", str(tmp_path / "k"))

    assert status == 2
    assert "RFC 8301" in stderr
    assert not (tmp_path / "k").exists()
    assert stdout == ""


def test_keygen_ed25519_publishes_the_raw_key(tmp_path: Path) -> None:
    status, stdout, _ = keygen(tmp_path, "--ed25519", "--out", str(tmp_path / "ed"))

    assert status == 0
    assert 'IN TXT "v=DKIM1; k=ed25519; p=' in stdout
