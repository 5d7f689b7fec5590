"""A local SMTP server that keeps every message, with a JSON API and a web page to read them.

    SMTP   127.0.0.1:$SAMLENG_SMTP_PORT (1025)        accepts everything, relays nothing
    HTTP   127.0.0.1:$SAMLENG_MAIL_UI_PORT (8025)
           /                                         inbox page; /view/{id} one message
           GET    /api/v1/messages                   list (newest first)
           GET    /api/v1/search?query=message-id:ID messages with that Message-ID header
           GET    /api/v1/message/{id}               headers, text, HTML, attachments
           GET    /api/v1/message/{id}/raw           the message as received (RFC 5322)
           GET    /api/v1/message/{id}/part/{part}   one attachment
           DELETE /api/v1/messages                   empty the mailbox

Recipients at `*@reject.invalid` are refused with 550 (a permanent failure) and at
`*@defer.invalid` with 451 (temporary), so delivery failures can be exercised end to end.

The API paths and shapes are the subset of Mailpit's API we use, so tests and tools work against
this sink locally and against Mailpit in docker compose. Messages are files under
$SAMLENG_RUN_DIR/mail, so they survive restarts. Message HTML is shown in a sandboxed iframe.
"""

from __future__ import annotations

import asyncio
import email
import email.parser
import email.policy
import json
import os
import re
import signal
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from shared.health import QuietServer

REJECT_DOMAIN = "reject.invalid"
DEFER_DOMAIN = "defer.invalid"
_ID = re.compile(r"^[0-9A-Za-z-]{10,64}$")


def _address_list(value: str | None) -> list[dict[str, str]]:
    return [{"Name": name, "Address": addr} for name, addr in getaddresses([value or ""]) if addr]


class Mailbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)

    def store(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> str:
        message_id = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
        header_id = str(
            email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw).get("Message-ID", "")
        )
        (self.directory / f"{message_id}.eml").write_bytes(raw)
        (self.directory / f"{message_id}.json").write_text(
            json.dumps({"from": mail_from, "to": rcpt_tos, "message_id": header_id.strip().strip("<>")})
        )
        return message_id

    def find_by_message_id(self, header_id: str) -> list[str]:
        """Stored ids of the messages whose Message-ID header is `header_id` (angle brackets optional)."""
        wanted = header_id.strip().strip("<>")
        found = []
        for sidecar in self.directory.glob("*.json"):
            try:
                if json.loads(sidecar.read_text()).get("message_id") == wanted:
                    found.append(sidecar.stem)
            except (OSError, ValueError):
                continue
        return sorted(found, reverse=True)

    def ids(self) -> list[str]:
        return sorted((p.stem for p in self.directory.glob("*.eml")), reverse=True)

    def raw(self, message_id: str) -> bytes | None:
        if not _ID.match(message_id):
            return None
        path = self.directory / f"{message_id}.eml"
        return path.read_bytes() if path.exists() else None

    def parsed(self, message_id: str) -> EmailMessage | None:
        raw = self.raw(message_id)
        if raw is None:
            return None
        return email.message_from_bytes(raw, policy=email.policy.default)

    def clear(self) -> int:
        removed = 0
        for path in self.directory.glob("*"):
            path.unlink()
            removed += path.suffix == ".eml"
        return removed


def _attachments(message: EmailMessage) -> list[tuple[str, EmailMessage]]:
    found = []
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        if part.get_content_disposition() == "attachment" or (
            part.get_filename() and part.get_content_maintype() not in {"text"}
        ):
            found.append((str(index), part))
    return found


def summary(message_id: str, message: EmailMessage, size: int) -> dict[str, Any]:
    name, address = parseaddr(str(message.get("From", "")))
    return {
        "ID": message_id,
        "MessageID": str(message.get("Message-ID", "")).strip("<>"),
        "From": {"Name": name, "Address": address},
        "To": _address_list(str(message.get("To", ""))),
        "Cc": _address_list(str(message.get("Cc", ""))),
        "Subject": str(message.get("Subject", "")),
        "Created": _created(message_id),
        "Size": size,
        "Attachments": len(_attachments(message)),
    }


def _created(message_id: str) -> str:
    stamp = message_id.split("-", 1)[0]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC).isoformat()


def detail(message_id: str, message: EmailMessage, size: int) -> dict[str, Any]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return {
        **summary(message_id, message, size),
        "Text": text.get_content() if text is not None else "",
        "HTML": html.get_content() if html is not None else "",
        "Headers": {key: [str(v) for v in message.get_all(key, [])] for key in dict.fromkeys(message.keys())},
        "Attachments": [
            {
                "PartID": part_id,
                "FileName": part.get_filename() or "",
                "ContentType": part.get_content_type(),
                "Size": len(part.get_payload(decode=True) or b""),
            }
            for part_id, part in _attachments(message)
        ],
    }


class SinkHandler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Recipients at the reserved test domains get the replies real servers give."""
        domain = address.rpartition("@")[2].lower()
        if domain == REJECT_DOMAIN:
            return "550 5.1.1 No such mailbox (sink: reject.invalid always refuses)"
        if domain == DEFER_DOMAIN:
            return "451 4.3.0 Try again later (sink: defer.invalid always defers)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        self.mailbox.store(raw, str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos])
        return "250 Message accepted for delivery"


def create_app(mailbox: Mailbox) -> Starlette:
    templates = Environment(
        loader=PackageLoader("devstack", "templates"), autoescape=select_autoescape(default=True)
    )

    def not_found() -> JSONResponse:
        return JSONResponse({"error": "no such message"}, status_code=404)

    async def api_list(request: Request) -> JSONResponse:
        messages = []
        for message_id in mailbox.ids():
            message = mailbox.parsed(message_id)
            if message is not None:
                messages.append(summary(message_id, message, len(mailbox.raw(message_id) or b"")))
        return JSONResponse({"total": len(messages), "count": len(messages), "messages": messages})

    async def api_search(request: Request) -> JSONResponse:
        """Mailpit's search, for the one filter we use: `query=message-id:<id>`."""
        query = request.query_params.get("query", "")
        if not query.startswith("message-id:"):
            return JSONResponse({"error": "only message-id:<id> searches are supported"}, status_code=400)
        messages = []
        for message_id in mailbox.find_by_message_id(query.removeprefix("message-id:").strip('"')):
            message = mailbox.parsed(message_id)
            if message is not None:
                messages.append(summary(message_id, message, len(mailbox.raw(message_id) or b"")))
        return JSONResponse({"total": len(messages), "messages_count": len(messages), "messages": messages})

    async def api_message(request: Request) -> Response:
        message_id = request.path_params["id"]
        message = mailbox.parsed(message_id)
        if message is None:
            return not_found()
        return JSONResponse(detail(message_id, message, len(mailbox.raw(message_id) or b"")))

    async def api_raw(request: Request) -> Response:
        raw = mailbox.raw(request.path_params["id"])
        return not_found() if raw is None else Response(raw, media_type="message/rfc822")

    async def api_part(request: Request) -> Response:
        message = mailbox.parsed(request.path_params["id"])
        if message is None:
            return not_found()
        for part_id, part in _attachments(message):
            if part_id == request.path_params["part"]:
                return Response(part.get_payload(decode=True) or b"", media_type=part.get_content_type())
        return not_found()

    async def api_clear(request: Request) -> JSONResponse:
        return JSONResponse({"deleted": mailbox.clear()})

    async def inbox(request: Request) -> HTMLResponse:
        rows = []
        for message_id in mailbox.ids():
            message = mailbox.parsed(message_id)
            if message is not None:
                rows.append(summary(message_id, message, len(mailbox.raw(message_id) or b"")))
        return HTMLResponse(templates.get_template("inbox.html").render(messages=rows))

    async def view(request: Request) -> HTMLResponse:
        message_id = request.path_params["id"]
        message = mailbox.parsed(message_id)
        if message is None:
            return HTMLResponse("<h1>No such message</h1>", status_code=404)
        info = detail(message_id, message, len(mailbox.raw(message_id) or b""))
        return HTMLResponse(templates.get_template("message.html").render(m=info))

    async def live(request: Request) -> JSONResponse:
        return JSONResponse({"service": "mail", "status": "live"})

    return Starlette(
        routes=[
            Route("/", inbox),
            Route("/view/{id}", view),
            Route("/api/v1/messages", api_list, methods=["GET"]),
            Route("/api/v1/messages", api_clear, methods=["DELETE"]),
            Route("/api/v1/search", api_search, methods=["GET"]),
            Route("/api/v1/message/{id}", api_message),
            Route("/api/v1/message/{id}/raw", api_raw),
            Route("/api/v1/message/{id}/part/{part}", api_part),
            Route("/health/live", live),
            Route("/health/ready", live),
        ]
    )


async def serve(directory: Path, smtp_port: int, http_port: int, host: str = "127.0.0.1") -> None:
    mailbox = Mailbox(directory)
    loop = asyncio.get_running_loop()
    smtp_server = await loop.create_server(
        lambda: SMTP(
            SinkHandler(mailbox),
            hostname="samleng-smtp-sink",
            enable_SMTPUTF8=True,
            data_size_limit=50 * 1024 * 1024,
        ),
        host,
        smtp_port,
    )
    config = uvicorn.Config(create_app(mailbox), host=host, port=http_port, log_config=None, access_log=False)
    server = QuietServer(config)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    http_task = asyncio.create_task(server.serve())
    print(f"mail: SMTP on {host}:{smtp_port}, inbox http://{host}:{http_port}/", flush=True)
    await stop.wait()
    server.should_exit = True
    smtp_server.close()
    await asyncio.gather(http_task, smtp_server.wait_closed())


def main() -> None:
    run_dir = Path(os.environ.get("SAMLENG_RUN_DIR", ".run"))
    asyncio.run(
        serve(
            run_dir / "mail",
            int(os.environ.get("SAMLENG_SMTP_PORT", "1025")),
            int(os.environ.get("SAMLENG_MAIL_UI_PORT", "8025")),
        )
    )


if __name__ == "__main__":
    main()
