"""Personal download links: a certificate on a channel that carries no files.

A channel declares the files it carries (its channel.toml `attachments`, shared/channels/
catalogue.py). On one that carries none of a certificate's (an SMS channel), the request's
certificate carries, besides the verification link every certificate has, `download_url`: a
personal link `<public site>/d/<token>` that shows the certificate once and offers its PDF once.
It is the details store of discreet messages (shared/message_details.py, written with discreet.py
`store`, shown by intake's services/intake/details.py): the token is stored only hashed, the
details sealed for the member, the link works once and until `DISPATCHER_DETAIL_LINK_HOURS` after
the delivery may go out.

The details are written before the delivery that carries the link. A fallback to another channel
without files carries the same link; one to a channel that carries the files drops it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, get_args

from services.dispatcher.discreet import details_link
from shared.channels.catalogue import AttachmentKind, ChannelSpec
from shared.contracts import utcnow
from shared.contracts.delivery import CertificateRef, Recipient
from shared.message_details import DetailContent
from shared.storage import Document

CERTIFICATE_FILES: frozenset[str] = frozenset(get_args(AttachmentKind))
"""The kinds a certificate is made in (A4 PDF, image, print PDF)."""


def carries_certificate(channel: ChannelSpec) -> bool:
    """Whether the channel carries the certificate itself (one of its files)."""
    return bool(CERTIFICATE_FILES.intersection(channel.attachments))


def with_download_link(
    base: dict[str, Any],
    channel: ChannelSpec | None,
    public_base_url: str,
    link_hours: float,
    wait_seconds: float = 0.0,
) -> tuple[dict[str, Any], Document | None]:
    """(the delivery base for `channel`, the details document to write first, or None): a
    certificate for a channel that carries no files gets a download link; anything else is
    returned as it is, but for a link a fallback copied onto a channel that carries the files."""
    certificate = base.get("certificate")
    if not isinstance(certificate, CertificateRef) or channel is None:
        return base, None
    if carries_certificate(channel):
        if certificate.download_url is None:
            return base, None
        return {**base, "certificate": certificate.model_copy(update={"download_url": None})}, None
    if certificate.download_url is not None:  # a fallback from another channel without files
        return base, None
    recipient: Recipient = base["recipient"]
    expires_at = utcnow() + timedelta(hours=link_hours, seconds=wait_seconds)
    content = DetailContent(
        purpose=base["purpose"], language=recipient.language, expires_at=expires_at, certificate=certificate
    )
    url, detail = details_link(recipient, content, public_base_url)
    return {**base, "certificate": certificate.model_copy(update={"download_url": url})}, detail
