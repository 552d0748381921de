"""The message corpus: signed messages, their tampered copies, and the DNS that goes with them.

`python -m tests.checks.message.corpus` (re)writes `tests/data/messages/*.eml` and the keys; the
tests read the files as committed and load `ZONE` (the public keys, SPF, DMARC, PTR, a blocklist)
into the DNS test server. `python -m tests.checks.message.corpus --serve` serves that zone on
loopback and prints the resolver to pass to `mxbot message --resolver`.

Signing is dkimpy's (`dkim.sign`, `dkim.arc_sign`); the one signature dkimpy cannot make (one with
an x= expiry) is built from its parts here, and the 512-bit key from two primes found here
(cryptography refuses to generate keys that small, which is the point of the test).
"""

from __future__ import annotations

import base64
import hashlib
import random
import sys
import time
from email.utils import formatdate
from pathlib import Path

import dkim
import dkim.crypto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

ROOT = Path(__file__).resolve().parents[2] / "data" / "messages"
KEYS = ROOT / "keys"
SENDER = "sender.test"
LIST = "list.test"
SENDING_IP = "192.0.2.25"  # mail.sender.test, listed in sender.test's SPF, with FCrDNS
LISTED_IP = "203.0.113.9"  # on the test blocklist bl.test
STRANGER_IP = "198.51.100.7"  # not in any SPF record, no PTR
SIGNED_AT = 1767222000  # 2025-12-31 23:00 UTC: when the corpus says it was signed
SELECTORS = ("s2048", "s1024", "s512", "revoked", "ed")


def zone(keys: dict[str, str] | None = None) -> str:
    """The zone text for sender.test, list.test, the PTRs and the blocklist."""
    keys = keys or public_keys()

    def txt(value: str) -> str:  # TXT strings are at most 255 bytes: split long ones
        return " ".join(f'"{value[i : i + 250]}"' for i in range(0, len(value), 250))

    lines = [
        f'{SENDER}. 300 IN TXT "v=spf1 ip4:{SENDING_IP} -all"',
        f"{SENDER}. 300 IN MX 10 mail.{SENDER}.",
        f"mail.{SENDER}. 300 IN A {SENDING_IP}",
        f'mail.{SENDER}. 300 IN TXT "v=spf1 a -all"',  # for the null sender: HELO is checked
        f'_dmarc.{SENDER}. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{SENDER}"',
        f'revoked._domainkey.{SENDER}. 300 IN TXT "v=DKIM1; k=rsa; p="',
        f'{LIST}. 300 IN TXT "v=spf1 ip4:{LISTED_IP} -all"',
        f'_dmarc.{LIST}. 300 IN TXT "v=DMARC1; p=none"',
        f"{SENDING_IP.split('.')[3]}.2.0.192.in-addr.arpa. 300 IN PTR mail.{SENDER}.",
        f"{'.'.join(reversed(LISTED_IP.split('.')))}.bl.test. 300 IN A 127.0.0.2",
        f'{".".join(reversed(LISTED_IP.split(".")))}.bl.test. 300 IN TXT "Listed: spam trap hits"',
    ]
    for selector, record in keys.items():
        if selector in ("revoked", "gone"):  # revoked: published empty above; gone: never
            continue
        domain = LIST if selector == "arc" else SENDER
        lines.append(f"{selector}._domainkey.{domain}. 300 IN TXT {txt(record)}")
    return "\n".join(lines) + "\n"


def public_keys() -> dict[str, str]:
    """selector -> the key record, read from the committed private keys."""
    out: dict[str, str] = {}
    for path in sorted(KEYS.glob("*.pem")):
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, ed25519.Ed25519PrivateKey):
            raw = key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            out[path.stem] = f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
        else:
            der = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            out[path.stem] = f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    return out


# ---- making the corpus ---------------------------------------------------------------------------


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        n = rng.getrandbits(bits) | (1 << (bits - 1)) | 1
        if all(pow(a, n - 1, n) == 1 for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)):
            return n


def _small_rsa(bits: int) -> rsa.RSAPrivateKey:
    rng = random.Random(bits)
    e = 65537
    while True:
        p, q = _prime(bits // 2, rng), _prime(bits // 2, rng)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e:
            break
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    )
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def make_keys() -> None:
    KEYS.mkdir(parents=True, exist_ok=True)
    made: dict[str, object] = {
        "s2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "s1024": rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505 -- the short-key case
        "s512": _small_rsa(512),
        "revoked": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "gone": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ed": ed25519.Ed25519PrivateKey.generate(),
        "arc": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }
    for name, key in made.items():
        fmt = (
            serialization.PrivateFormat.PKCS8
            if isinstance(key, ed25519.Ed25519PrivateKey)
            else serialization.PrivateFormat.TraditionalOpenSSL
        )
        pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())  # type: ignore[attr-defined]
        (KEYS / f"{name}.pem").write_bytes(pem)


def _rsa_pem(name: str) -> bytes:
    return (KEYS / f"{name}.pem").read_bytes()


def _ed_seed(name: str) -> bytes:
    key = serialization.load_pem_private_key((KEYS / f"{name}.pem").read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw)


def message(
    domain: str = SENDER, *, subject: str = "Quarterly figures", bulk: bool = False
) -> bytes:
    """An unsigned message from alice@`domain`, as the signer sees it."""
    date = formatdate(SIGNED_AT, usegmt=True)
    lines = [
        f"From: Alice Example <alice@{domain}>",
        "To: Bob <bob@receiver.test>",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: <{hashlib.sha256(subject.encode()).hexdigest()[:16]}@{SENDER}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if bulk:
        lines += [
            f"List-Unsubscribe: <https://{SENDER}/unsubscribe/abc123>, <mailto:unsub@{SENDER}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "Precedence: bulk",
        ]
    body = "Hello Bob,\r\n\r\nThe figures are attached in spirit.\r\n\r\nAlice\r\n"
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def sign(msg: bytes, selector: str, *, extra: tuple[bytes, ...] = ()) -> bytes:
    include = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type"]
    include += list(extra)
    if selector == "ed":
        header = dkim.sign(
            msg,
            b"ed",
            SENDER.encode(),
            _ed_seed("ed"),
            signature_algorithm=b"ed25519-sha256",
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=include,
        )
    else:
        header = dkim.sign(
            msg,
            selector.encode(),
            SENDER.encode(),
            _rsa_pem(selector),
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=include,
        )
    signature: bytes = header
    return signature + msg


def sign_expiring(msg: bytes, selector: str, expires: int) -> bytes:
    """A signature with x= (dkimpy's sign() has no expiry), built from dkimpy's own parts."""
    signer = dkim.DKIM(msg)
    canon = dkim.CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    include = (b"from", b"to", b"subject", b"date", b"message-id")
    body_hash = base64.b64encode(hashlib.sha256(canon.canonicalize_body(signer.body)).digest())
    fields = [
        (b"v", b"1"),
        (b"a", b"rsa-sha256"),
        (b"c", b"relaxed/relaxed"),
        (b"d", SENDER.encode()),
        (b"s", selector.encode()),
        (b"t", str(SIGNED_AT).encode()),
        (b"x", str(expires).encode()),
        (b"h", b" : ".join(include)),
        (b"bh", body_hash),
        (b"b", b"0" * 60),
    ]
    key = dkim.crypto.parse_pem_private_key(_rsa_pem(selector))
    signer.hasher = hashlib.sha256
    signer.signature_algorithm = b"rsa-sha256"
    header: bytes = signer.gen_header(fields, include, canon, b"DKIM-Signature", key)
    return b"DKIM-Signature: " + header + msg


def stamp(seconds: int) -> str:
    """An RFC 5322 date `seconds` after the corpus's signing time."""
    return formatdate(SIGNED_AT + seconds, usegmt=True)


def received(
    signed: bytes,
    *,
    ip: str = SENDING_IP,
    helo: str = f"mail.{SENDER}",
    tls: bool = True,
    authres: str = "",
) -> bytes:
    """The message as the receiver stored it: its Received fields and Authentication-Results."""
    proto = "ESMTPS" if tls else "ESMTP"
    cipher = " (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256)" if tls else ""
    top = [
        "Return-Path: <alice@sender.test>",
        "Delivered-To: bob@receiver.test",
        f"Received: from mx.receiver.test (localhost [127.0.0.1]) by mail.receiver.test "
        f"with LMTP id 7Q; {stamp(9)}",
        f"Received: from {helo} ({helo} [{ip}]){cipher} by mx.receiver.test with {proto} "
        f"id 4Zq; {stamp(4)}",
        f"Received: from laptop.sender.test (laptop.sender.test [10.0.0.5]) by mail.sender.test "
        f"with ESMTPSA id 91x; {stamp(1)}",
    ]
    if authres:
        top.insert(1, f"Authentication-Results: mx.receiver.test; {authres}")
    return ("\r\n".join(top) + "\r\n").encode() + signed


def arc_forward(msg: bytes) -> bytes:
    """A mailing list at list.test: it adds a footer (breaking DKIM) and seals with ARC."""
    head, _, body = msg.partition(b"\r\n\r\n")
    changed = head + b"\r\n\r\n" + body + b"--\r\nlist@list.test: unsubscribe at list.test\r\n"
    results = (
        b"Authentication-Results: lists.list.test; dkim=pass header.d=sender.test; "
        b"spf=pass smtp.mailfrom=sender.test; dmarc=pass header.from=sender.test\r\n"
    )
    with_results = results + changed
    sealed: list[bytes] = dkim.arc_sign(
        with_results,
        b"arc",
        LIST.encode(),
        _rsa_pem("arc"),
        b"lists.list.test",
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        timestamp=SIGNED_AT + 2,
    )
    return b"".join(sealed) + with_results


def write_corpus() -> None:
    def put(name: str, data: bytes) -> None:
        (ROOT / name).write_bytes(data)

    good_auth = (
        f"dkim=pass header.d={SENDER} header.s=s2048; spf=pass smtp.mailfrom={SENDER}; "
        f"dmarc=pass header.from={SENDER}"
    )
    signed = sign(message(), "s2048")
    put("good.eml", received(signed, authres=good_auth))
    head, _, body = signed.partition(b"\r\n\r\n")
    put(
        "tampered-body.eml", received(head + b"\r\n\r\n" + body + b"-- \r\nSent from a gateway\r\n")
    )
    put(
        "tampered-header.eml",
        received(
            signed.replace(b"Subject: Quarterly figures", b"Subject: [EXT] Quarterly figures")
        ),
    )
    put("key-revoked.eml", received(sign(message(subject="Old key"), "revoked")))
    put("key-missing.eml", received(sign(message(subject="Unpublished key"), "gone")))
    put(
        "expired.eml",
        received(sign_expiring(message(subject="Short-lived"), "s2048", SIGNED_AT + 3600)),
    )
    put("weak-key.eml", received(sign(message(subject="Tiny key"), "s512")))
    put("short-key.eml", received(sign(message(subject="1024 bits"), "s1024")))
    put("ed25519.eml", received(sign(message(subject="Ed25519"), "ed")))
    bulk = message(subject="Newsletter", bulk=True)
    put(
        "bulk-one-click.eml",
        received(sign(bulk, "s2048", extra=(b"list-unsubscribe", b"list-unsubscribe-post"))),
    )
    put("bulk-unsigned-unsubscribe.eml", received(sign(bulk, "s2048")))
    put(
        "spoofed.eml",
        received(
            message(subject="Urgent wire transfer"),
            ip=STRANGER_IP,
            helo="relay.stranger.test",
            tls=False,
            authres=f"spf=fail smtp.mailfrom={SENDER}; dkim=none; dmarc=fail header.from={SENDER}",
        ),
    )
    put(
        "arc-forwarded.eml",
        received(
            arc_forward(sign(message(subject="Via the list"), "s2048")),
            ip=LISTED_IP,
            helo=f"lists.{LIST}",
        ),
    )
    full = (ROOT / "good.eml").read_bytes()
    put("headers-only.txt", full.partition(b"\r\n\r\n")[0] + b"\r\n")


def serve() -> None:
    """Serve the corpus zone on loopback until interrupted (for trying `mxbot message`)."""
    from tests.fakes.dnsserver import DnsTestServer

    server = DnsTestServer().start()
    server.load_zone(zone(), ".")
    print(
        f"--resolver {server.host}:{server.port}  (MXBOT_DNSBL_ZONES=bl.test for the blocklist)",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    if "--serve" in sys.argv:
        serve()
    else:
        if "--keys" in sys.argv or not (KEYS / "s2048.pem").exists():
            make_keys()
        write_corpus()
        (ROOT / "zone.txt").write_text(zone())
