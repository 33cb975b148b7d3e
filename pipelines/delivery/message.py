"""The report email as a MIME message: plain text and HTML alternatives, the charts inline (by
Content-ID) beside the HTML, and the PDF attached.

Nothing random goes into the message: the Message-ID comes from the content, the MIME boundaries
from the Message-ID, and the date is the caller's, so the same report gives the same bytes.
"""

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

_INLINE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_NAMED_ADDRESS = re.compile(r"^(?P<name>.*?)\s*<(?P<address>[^<>]+)>$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def make_message_id(slug: str, period: str, content_hash: str, domain: str) -> str:
    """`<cap.{slug}.{period}.{hash[:16]}@{domain}>`: the same report, sent again, has the
    same Message-ID, and another content for the same period has another."""
    for label, value in (("slug", slug), ("period", period), ("domain", domain)):
        if not _INLINE_NAME.match(value):
            raise ValueError(f"{label} cannot go into a Message-ID: {value!r}")
    if not re.fullmatch(r"[0-9a-f]{16,}", content_hash):
        raise ValueError(f"not a hexadecimal content hash: {content_hash!r}")
    return f"<cap.{slug}.{period}.{content_hash[:16]}@{domain}>"


def content_hash(
    *,
    subject: str,
    html: str,
    text: str,
    inline: list[tuple[str, Path]],
    pdf: Path,
    recipients: list[str],
) -> str:
    """SHA-256 (hex) of everything a recipient receives: subject, both bodies, each inline
    image's name and bytes, the PDF's name and bytes, and the recipients (to, cc, bcc)."""
    digest = hashlib.sha256()
    parts: list[bytes] = [subject.encode(), html.encode(), text.encode()]
    for name, path in inline:
        parts += [name.encode(), path.read_bytes()]
    parts += [pdf.name.encode(), pdf.read_bytes()]
    parts += [recipient.encode() for recipient in recipients]
    for part in parts:
        # Length-prefixed, so that moving bytes from one part to the next changes the hash.
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def parse_address(text: str) -> Address:
    """`Name <address>` or a bare address, as `client.yaml` gives it, as a header address
    (raises ValueError for anything else, line breaks included)."""
    text = text.strip()
    if _CONTROL.search(text):
        raise ValueError(f"an email address cannot contain control characters: {text!r}")
    match = _NAMED_ADDRESS.match(text)
    if match is None:
        return Address(addr_spec=text)
    name = match["name"].strip().strip('"').strip()
    return Address(display_name=name, addr_spec=match["address"].strip())


def envelope_recipients(to: Iterable[str], cc: Iterable[str], bcc: Iterable[str]) -> list[str]:
    """The bare addresses the SMTP envelope goes to: to, cc and bcc, each once, in order."""
    addresses = [parse_address(text).addr_spec for text in (*to, *cc, *bcc)]
    return list(dict.fromkeys(addresses))


def build_message(
    *,
    subject: str,
    html: str,
    text: str,
    inline: list[tuple[str, Path]],
    pdf: Path,
    sender: str,
    to: list[str],
    cc: list[str],
    bcc: list[str],
    message_id: str,
    date: datetime,
) -> EmailMessage:
    """The report email: multipart/mixed of (multipart/alternative of text/plain and
    multipart/related of text/html and the inline PNGs) and the PDF.

    The HTML refers to each inline image as `cid:<name>`; its part has `Content-ID: <name>`.
    Bcc recipients are not in the headers: they belong to the envelope only.
    """
    if not to and not cc and not bcc:
        raise ValueError("the message has no recipient")
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = subject
    message["From"] = parse_address(sender)
    if to:
        message["To"] = [parse_address(address) for address in to]
    if cc:
        message["Cc"] = [parse_address(address) for address in cc]
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    # Quoted-printable keeps the bodies 7-bit clean and their lines short for any relay.
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    _add_inline_images(message.get_payload()[1], inline)
    message.add_attachment(
        pdf.read_bytes(), maintype="application", subtype="pdf", filename=pdf.name
    )
    _set_boundaries(message, message_id)
    return message


def _add_inline_images(html_part: EmailMessage, inline: list[tuple[str, Path]]) -> None:
    for name, path in inline:
        if not _INLINE_NAME.match(name):
            raise ValueError(f"an inline image name must match [A-Za-z0-9._-]+: {name!r}")
        html_part.add_related(
            path.read_bytes(),
            maintype="image",
            subtype="png",
            cid=f"<{name}>",
            disposition="inline",
            filename=f"{name}.png",
        )


def _set_boundaries(message: EmailMessage, message_id: str) -> None:
    """Boundaries from the Message-ID instead of the generator's random ones. No body line can
    contain one: every body is quoted-printable (which writes `=` as `=3D`) or base64 (which has
    no `_`), and a boundary contains `=_`."""
    multiparts = [part for part in message.walk() if part.is_multipart()]
    for index, part in enumerate(multiparts):
        seed = hashlib.sha256(f"{message_id}/{index}".encode()).hexdigest()[:24]
        part.set_boundary(f"=_cap_{index}_{seed}")
