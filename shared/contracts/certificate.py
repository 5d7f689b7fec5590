"""Certificate contracts: a pledge's certificate was rendered and stored, ready for delivery."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from shared.contracts.envelope import Event, Payload
from shared.contracts.pledge import Channel, Language


class CertificateIssuedData(Payload):
    certificate_number: str = Field(examples=["KCAP-2026-000125"])
    pledge_id: str
    member_id: str
    language: Language
    channels: list[Channel] = Field(description="The signer's chosen channels, in order of preference.")
    bucket: str = Field(description="The GridFS bucket the renderer stored the files in.")
    pdf_file_id: str = Field(description="GridFS id (in `bucket`) of the A4 PDF.")
    png_file_id: str | None = Field(
        default=None, description="GridFS id of the PNG, made when a chosen channel carries `png`."
    )
    print_pdf_file_id: str | None = Field(
        default=None,
        description="GridFS id of the US Letter print-ready PDF, made when a chosen channel carries `print_pdf`.",
    )
    verify_url: str = Field(examples=["https://pledge.example.org/v/KCAP-2026-000125"])
    issued_at: AwareDatetime
    replaces: str | None = Field(
        default=None, description="Number of the certificate this one replaces (re-issue)."
    )


class CertificateIssued(Event[CertificateIssuedData]):
    """A certificate was rendered (the PDF, and the PNG and print PDF its channels carry) and stored;
    deliver it on the signer's channels."""

    type: Literal["certificate.issued.v1"] = "certificate.issued.v1"


class ReissueRequestedData(Payload):
    certificate_number: str = Field(description="The certificate to replace.", examples=["KCAP-2026-000125"])
    pledge_id: str = Field(description="The pledge the certificate belongs to.")
    corrected_name: str = Field(description="The name as it should appear.")
    reason: str = Field(max_length=500, description="Why (kept in the history), e.g. 'name misspelt'.")
    requested_at: AwareDatetime


class ReissueRequested(Event[ReissueRequestedData]):
    """An operator asked for a certificate to be re-issued with a corrected name."""

    type: Literal["certificate.reissue_requested.v1"] = "certificate.reissue_requested.v1"
    sealed_by: ClassVar[str | None] = "pledge_id"
