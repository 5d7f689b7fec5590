"""Twilio's request signature (`X-Twilio-Signature`), which signs every webhook it sends.

    base64(HMAC-SHA1(auth token, the full URL it called + each POST parameter's name and value,
                     concatenated in the order of the names))

The URL is the one configured with Twilio (scheme, host, path and query), not the one a proxy
forwards to, so the inbound process checks against SMS_WEBHOOK_BASE_URL when it is set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    payload = url + "".join(name + value for name, value in sorted(params, key=lambda item: item[0]))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def valid(auth_token: str, url: str, params: Iterable[tuple[str, str]], given: str) -> bool:
    return bool(given) and hmac.compare_digest(signature(auth_token, url, params), given)
