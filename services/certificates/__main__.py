"""`python -m services.certificates`: the certificate-renderer service."""

from __future__ import annotations

from services.certificates.app import CertificateSettings, bootstrap, router
from shared.service import run_service

if __name__ == "__main__":
    run_service(router, CertificateSettings(), bootstrap)
