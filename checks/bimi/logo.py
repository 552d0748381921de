"""BIMI indicator and evidence checks: is the logo SVG Tiny PS, and is the mark certificate usable?

Pure functions over fetched bytes, so hostile input is tested without a network. They never raise:
every problem comes back as a value. The SVG is parsed with the standard library only after the
size is capped and any DOCTYPE or ENTITY declaration is refused (entity expansion bombs), and it
is parsed from text, so a declared encoding cannot hide a declaration from that scan.

References: the BIMI group's SVG Tiny Portable/Secure profile (draft-svg-tiny-ps-abrotman) and
its 32 KB size recommendation; VMC/CMC validation (draft-fetch-validation-vmc-wchuang): the leaf
carries the BIMI EKU 1.3.6.1.5.5.7.3.31 and names the domain in its subjectAltName.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

LOGO_RECOMMENDED_BYTES: Final = 32 * 1024  # the BIMI group recommends logos of 32 KB or less
LOGO_PARSE_LIMIT: Final = 256 * 1024  # we never parse more than this
BIMI_EKU: Final = ObjectIdentifier(
    "1.3.6.1.5.5.7.3.31"
)  # id-kp-BrandIndicatorforMessageIdentification

_SVG_NS = "http://www.w3.org/2000/svg"
# What may precede the root element: a BOM, whitespace, an XML declaration, comments and
# processing instructions, and (so that the bomb is recognised as an SVG and reported) a DOCTYPE.
_PROLOG = re.compile(
    r"\A\ufeff?(?:\s+|<\?[^>]*\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>]|\[[^\]]*\])*>)*", re.DOTALL
)
_SVG_ROOT = re.compile(r"<svg(?:[\s>/]|\Z)")
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_FORBIDDEN: Final = {
    "script": "a <script> element",
    "image": "an <image> element (embedded or external raster image)",
    "foreignObject": "a <foreignObject> element",
    "animate": "animation (<animate>)",
    "animateMotion": "animation (<animateMotion>)",
    "animateColor": "animation (<animateColor>)",
    "animateTransform": "animation (<animateTransform>)",
    "set": "animation (<set>)",
    "discard": "animation (<discard>)",
}


class SvgVerdict(enum.StrEnum):
    NOT_SVG = "not_svg"  # not an SVG document at all (PNG, HTML, ...)
    NOT_TINY_PS = "not_tiny_ps"  # an SVG, but not the SVG Tiny PS profile BIMI requires
    OK = "ok"


@dataclass(frozen=True, slots=True)
class SvgCheck:
    verdict: SvgVerdict
    problems: tuple[str, ...] = ()  # why, one phrase each, for NOT_SVG and NOT_TINY_PS
    title: str = ""  # the <title>, when there is one


def check_svg(body: bytes) -> SvgCheck:
    """Judge a logo the way a BIMI mailbox provider would. Total: never raises."""
    if len(body) > LOGO_PARSE_LIMIT:
        return SvgCheck(SvgVerdict.NOT_TINY_PS, (f"it is larger than {LOGO_PARSE_LIMIT} bytes",))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return SvgCheck(SvgVerdict.NOT_SVG, ("it is not UTF-8 text",))
    prolog = _PROLOG.match(text)
    rest = text[prolog.end() if prolog else 0 :]
    if not _SVG_ROOT.match(rest):
        return SvgCheck(SvgVerdict.NOT_SVG, ("it does not begin with an <svg> root element",))
    if declared := _DECLARATION.search(text):
        return SvgCheck(
            SvgVerdict.NOT_TINY_PS,
            (
                f"it contains a <!{declared.group(1).upper()} declaration (not allowed in SVG "
                "Tiny PS, and we do not parse it)",
            ),
        )
    try:
        root = ET.fromstring(text.lstrip("\ufeff"))  # noqa: S314 -- size capped, DTDs refused above
    except (ET.ParseError, ValueError) as exc:
        return SvgCheck(SvgVerdict.NOT_TINY_PS, (f"it is not well-formed XML ({exc})",))
    return _tiny_ps(root)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _tiny_ps(root: ET.Element) -> SvgCheck:
    problems: list[str] = []
    if root.tag != f"{{{_SVG_NS}}}svg":
        problems.append(f'the root element is not in the SVG namespace xmlns="{_SVG_NS}"')
    if root.get("version") != "1.2":
        problems.append(f'the root has version="{root.get("version", "")}", not "1.2"')
    if root.get("baseProfile") != "tiny-ps":
        problems.append(f'the root has baseProfile="{root.get("baseProfile", "")}", not "tiny-ps"')
    problems += [f"the root has an {a}= attribute" for a in ("x", "y") if a in root.attrib]
    titles = [child for child in root if _local(child.tag) == "title"]
    if not titles:
        problems.append("there is no <title> element under the root")
    problems += _forbidden_content(root)
    title = (titles[0].text or "").strip() if titles else ""
    verdict = SvgVerdict.NOT_TINY_PS if problems else SvgVerdict.OK
    return SvgCheck(verdict, tuple(dict.fromkeys(problems)), title)


def _forbidden_content(root: ET.Element) -> list[str]:
    problems: list[str] = []
    for element in root.iter():
        name = _local(element.tag)
        if name in _FORBIDDEN:
            problems.append(f"it contains {_FORBIDDEN[name]}")
        for attr, value in element.attrib.items():
            local = _local(attr)
            if local == "href" and not value.strip().startswith("#"):
                problems.append(f"it references an external resource ({value.strip()[:80]})")
            elif local.lower().startswith("on"):
                problems.append(f"it has a script event handler ({local}=)")
    return problems


class EvidenceVerdict(enum.StrEnum):
    INVALID = "invalid"  # unparseable, no BIMI EKU, wrong names, not yet valid
    EXPIRED = "expired"
    OK = "ok"


@dataclass(frozen=True, slots=True)
class EvidenceCheck:
    verdict: EvidenceVerdict
    problems: tuple[str, ...] = ()
    subject: str = ""
    names: tuple[str, ...] = ()  # the leaf's subjectAltName DNS names
    not_after: dt.datetime | None = None
    chain_length: int = 0


def check_evidence(
    pem: bytes, *, domains: tuple[str, ...], selector: str, now: dt.datetime
) -> EvidenceCheck:
    """Judge a VMC/CMC PEM bundle (leaf first). Total: never raises. The chain is not verified."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        return EvidenceCheck(
            EvidenceVerdict.INVALID, (f"it holds no readable certificate ({exc})",)
        )
    leaf = certs[0]
    try:
        subject = leaf.subject.rfc4514_string()
        names = _san_names(leaf)
        has_eku = _has_bimi_eku(leaf)
        not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    except ValueError as exc:
        return EvidenceCheck(EvidenceVerdict.INVALID, (f"its certificate is malformed ({exc})",))
    problems: list[str] = []
    if not has_eku:
        problems.append(
            f"the certificate lacks the BIMI Extended Key Usage {BIMI_EKU.dotted_string}"
        )
    wanted = _wanted_names(domains, selector)
    if not wanted & {n.lower().rstrip(".") for n in names}:
        shown = ", ".join(names) or "none"
        problems.append(f"its subjectAltName ({shown}) names none of {', '.join(sorted(wanted))}")
    if now < not_before:
        problems.append(f"it is not valid until {not_before:%Y-%m-%d}")
    verdict = EvidenceVerdict.INVALID if problems else EvidenceVerdict.OK
    if not problems and now > not_after:
        verdict = EvidenceVerdict.EXPIRED
        problems.append(f"it expired on {not_after:%Y-%m-%d}")
    return EvidenceCheck(verdict, tuple(problems), subject, names, not_after, len(certs))


def _wanted_names(domains: tuple[str, ...], selector: str) -> set[str]:
    out: set[str] = set()
    for domain in domains:
        domain = domain.lower().rstrip(".")
        out |= {domain, f"{selector.lower()}._bimi.{domain}"}
    return out


def _san_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(san.value.get_values_for_type(x509.DNSName))


def _has_bimi_eku(cert: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return False
    return BIMI_EKU in eku.value
