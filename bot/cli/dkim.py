"""`mxbot dkim keygen --domain D --selector S [--bits N | --ed25519] [--out FILE]`: a new DKIM key.

The private key goes to a file created for this key alone (mode 0600, never over an existing
file, never through a symbolic link); the TXT record to publish goes to stdout. The private key
is never printed or logged, and there is no Slack equivalent.

Exit status: 0 when the key was written, 2 on bad usage or when the file cannot be created.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from bot.cli.errors import EXIT_OK, UsageError
from checks.dkim.keygen import KeygenError, KeyPair, check_bits, check_selector, generate
from checks.settings import Settings
from checks.target import TargetError, normalise

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """`dkim keygen` (the shared engine flags are on `parser`, unused here)."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    summary = "generate a DKIM key pair: the private key to a new file, the DNS record to stdout"
    keygen = actions.add_parser("keygen", help=summary, description=summary)
    keygen.add_argument("--domain", required=True, help="the signing domain (d=)")
    keygen.add_argument("--selector", required=True, help="the selector (s=), e.g. s1")
    kind = keygen.add_mutually_exclusive_group()
    kind.add_argument(
        "--bits", type=int, default=2048, help="RSA key size: 2048 (default), 3072 or 4096"
    )
    kind.add_argument("--ed25519", action="store_true", help="an Ed25519 key (RFC 8463)")
    keygen.add_argument(
        "--out",
        metavar="FILE",
        help="where to write the private key (default: SELECTOR.DOMAIN.key)",
    )
    keygen.set_defaults(handler=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    domain, selector = _names(args)
    if not args.ed25519:
        try:
            check_bits(args.bits)
        except KeygenError as exc:
            raise UsageError(str(exc)) from None
    path = Path(args.out or f"{selector}.{domain}.key")
    pair = await asyncio.to_thread(_generate, domain, selector, args)
    await asyncio.to_thread(write_private_key, path, pair)
    print(pair.record.zone_line)
    kind = "Ed25519" if pair.algorithm == "ed25519" else f"RSA {pair.bits}-bit"
    print(
        f"{kind} private key written to {path} (mode 0600). Configure your signer with it "
        f"(d={domain}, s={selector}), publish the record above, then check it with "
        f"`mxbot check {domain} --only dkim --selector {selector}`.",
        file=sys.stderr,
    )
    if pair.algorithm == "ed25519":
        print(
            "Many verifiers cannot check Ed25519 signatures yet: sign with an RSA key too, "
            "under another selector (RFC 8463 5).",
            file=sys.stderr,
        )
    return EXIT_OK


def _names(args: argparse.Namespace) -> tuple[str, str]:
    try:
        target = normalise(args.domain)
    except TargetError as exc:
        raise UsageError(f"--domain {args.domain!r}: {exc}") from None
    if target.is_address:
        raise UsageError("--domain takes a domain name, not an IP address")
    try:
        return target.name, check_selector(args.selector)
    except KeygenError as exc:
        raise UsageError(str(exc)) from None


def _generate(domain: str, selector: str, args: argparse.Namespace) -> KeyPair:
    return generate(domain, selector, bits=args.bits, ed=args.ed25519)


def write_private_key(path: Path, pair: KeyPair) -> None:
    """Create `path` for this key alone: mode 0600, refusing an existing file or symlink."""
    try:
        fd = os.open(path, _CREATE, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists; keys are never overwritten (use --out)") from None
    except OSError as exc:
        raise UsageError(f"cannot create {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask allowed, exactly owner read/write
        data = memoryview(pair.private_pem)
        while data:
            data = data[os.write(fd, data) :]
    except OSError as exc:
        path.unlink(missing_ok=True)  # no half-written key left behind
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
