"""`samleng`: the operator's command line.

    samleng dlq list QUEUE [--json]              show dead letters with their reasons
    samleng dlq replay QUEUE (--id ID... | --all) put them back on their work queue
    samleng dlq drop QUEUE (--id ID... | --all)   discard them
    samleng docs [--out docs/asyncapi]           write the AsyncAPI documents, and docs/read-models.md
    samleng channel list                         the installed channels, from their channel.toml
    samleng channel new NAME --address-kind K [--attachment A] [--inbound]
                                                 a channel folder, its process registered (Procfile,
                                                 compose, Kubernetes, access): docs/adding-a-channel.md
    samleng channel remove NAME                  the folder and that registration, gone
    samleng import-pledges FILE.csv              import paper sign-up sheets (in-person table)
    samleng member export MEMBER_ID              everything held about one member, as JSON
    samleng member erase MEMBER_ID [--wait S]    erase them everywhere (docs/operations.md)
    samleng contact erase [--email E] [--phone P] erase an email/phone: members holding it and the
                                                 session registrations made with it
    samleng operator add --email E --name N --role R  a console operator (prints the password and
                                                 the TOTP enrolment URI once)
    samleng operator list                        the console's operators
    samleng operator token --email E --name N [--days D]  an API token (sk_op_…) for an operator,
                                                 printed once (for scripts and the dev stack)

QUEUE is the dead-letter queue, e.g. `samleng.pledge-intake.dlq`. The broker URL comes from
AMQP_URL (or .env), like every service. `import-pledges`, `member` and `contact` go through the
console's operator API (ops/operator_api.py): --url, else SAMLENG_CONSOLE_URL, else
http://127.0.0.1:8001; --token, else SAMLENG_OPERATOR_TOKEN, an operator API token (sk_op_…) of an
operator whose role may do it (docs/operators.md). `operator` writes the console's collections
directly (MONGODB_URI, and the SAMLENG_MASTER_KEY the console uses, so the TOTP secret is sealed as
the console reads it); `operator token` writes its audit event as the console would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.messaging.connection import connect
from shared.messaging.dead_letters import list_dead_letters, replay, summary
from shared.settings import ServiceSettings

if TYPE_CHECKING:
    from services.console.operators import OperatorStore


async def _dlq(args: argparse.Namespace) -> int:
    settings = ServiceSettings()
    connection = await connect(settings.amqp_url.get_secret_value(), "samleng-cli", timeout=10)
    try:
        if args.action == "list":
            letters = await list_dead_letters(connection, args.queue)
            if args.json:
                for letter in letters:
                    print(letter.as_json())
            else:
                for letter in letters:
                    print(
                        f"{letter.message_id}  {letter.type}  reason={letter.reason}  "
                        f"attempts={letter.attempts}  failed_at={letter.failed_at}  {letter.error}"
                    )
                print(json.dumps(summary(letters)))
            return 0
        ids = args.id or []
        if not ids and not args.all:
            print("name messages with --id, or use --all", file=sys.stderr)
            return 2
        done = await replay(connection, args.queue, ids, everything=args.all, drop=args.action == "drop")
        verb = "dropped" if args.action == "drop" else "replayed"
        print(f"{verb} {len(done)} message(s)")
        missing = set(ids) - set(done)
        if missing:
            print(f"not found in {args.queue}: {', '.join(sorted(missing))}", file=sys.stderr)
            return 1
        return 0
    finally:
        await connection.close()


def _docs(args: argparse.Namespace) -> int:
    from ops import read_models_doc
    from ops.asyncapi import write_documents
    from ops.discovery import discover_routers

    for path in write_documents(discover_routers(), Path(args.out)):
        print(f"wrote {path}")
    print(f"wrote {read_models_doc.write(Path(args.out).parent / 'read-models.md')}")
    return 0


def _import_pledges(args: argparse.Namespace) -> int:
    from ops.table_import import import_file

    return import_file(Path(args.file), args.url, args.token, args.chunk, args.lang)


def _channel(args: argparse.Namespace) -> int:
    if args.action == "list":
        from shared.channels.catalogue import catalogue

        for name, spec in catalogue().items():  # the declarations: no adapter (or provider library) imported
            print(
                f"{name:12} address={spec.address_kind:6} attachments={','.join(spec.attachments) or '-':10} "
                f"rate={spec.rate_per_second:g}/s not-in={','.join(sorted(spec.unavailable_countries)) or '-'} "
                f"purposes={','.join(sorted(spec.purposes))} inbound={'yes' if spec.inbound else 'no'} "
                f"label={spec.label('en')!r}"
            )
        return 0
    from ops.channel_scaffold import next_steps, remove, scaffold

    if not args.name:
        print(f"samleng channel {args.action} NAME", file=sys.stderr)
        return 2
    try:
        if args.action == "remove":
            changed = remove(args.name)
        else:
            changed = scaffold(args.name, args.address_kind, args.attachment or [], inbound=args.inbound)
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return 2
    for path in changed:
        print(f"{'removed from' if args.action == 'remove' else 'wrote'} {path}")
    if args.action == "new":
        print(next_steps(args.name, args.inbound))
    return 0


def _post_batch(args: argparse.Namespace) -> int:
    from services.channels.post.print_batch import write_batch
    from shared.settings import ServiceSettings
    from shared.storage import create_client, database

    async def run() -> int:
        settings = ServiceSettings()
        client = create_client(settings)
        try:
            batch = await write_batch(database(client, settings), args.day, Path(args.out))
        finally:
            await client.close()
        print(
            f"{batch.letters} letters for {batch.day} in {batch.directory}: letters.pdf, labels.pdf, addresses.csv"
        )
        if batch.skipped:
            print(f"{batch.skipped} letter(s) left out: their member was erased")
        return 0

    return asyncio.run(run())


def _contact(args: argparse.Namespace) -> int:
    """Through the console's operator API: erase whoever holds an email or phone, and the session
    registrations made with it (their registrants need not be members)."""
    import httpx

    from ops.operator_api import operator_api, refused

    if not (args.email or args.phone):
        print("give --email and/or --phone", file=sys.stderr)
        return 2
    api = operator_api(args.url, args.token)
    if api is None:
        return 2
    body = {k: v for k, v in (("email", args.email), ("phone", args.phone)) if v}
    with httpx.Client(timeout=60, headers=api.headers) as client:
        asked = client.post(api.url("/erasures"), json=body)
    if asked.status_code == 422:
        for problem in asked.json()["detail"]:
            print(f"{problem['field']}: {problem['message']}", file=sys.stderr)
        return 2
    if asked.status_code != 202:
        print(refused(asked.status_code, asked.text), file=sys.stderr)
        return 1
    answer = asked.json()
    print(answer["detail"])
    for member_id in answer["members"]:
        print(f"  member {member_id}")
    return 0


def _member(args: argparse.Namespace) -> int:
    """Through the console's operator API, like `import-pledges`: export reads the read models;
    erase asks pledge-intake (`member.erasure_requested.v1`), which erases and tells every other
    owner."""
    import time

    import httpx

    from ops.operator_api import operator_api, refused

    api = operator_api(args.url, args.token)
    if api is None:
        return 2
    member = api.url(f"/members/{args.member_id}")
    with httpx.Client(timeout=60, headers=api.headers) as client:
        if args.action == "export":
            got = client.get(f"{member}/export")
            if got.status_code == 404:
                print(got.json()["detail"], file=sys.stderr)
                return 1
            if got.status_code != 200:
                print(refused(got.status_code, got.text), file=sys.stderr)
                return 1
            print(json.dumps(got.json(), ensure_ascii=False, indent=2))
            return 0
        asked = client.post(f"{member}/erase")
        if asked.status_code not in (200, 202, 404):
            print(refused(asked.status_code, asked.text), file=sys.stderr)
            return 1
        print(asked.json()["detail"])
        if asked.status_code != 202 or not args.wait:
            return 0
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            erasure = (client.get(f"{member}/export").json() or {}).get("erasure") or {}
            if erasure.get("state") == "erased":
                print(f"{args.member_id} erased")
                return 0
            time.sleep(0.5)
        print(f"{args.member_id}: not erased yet (is pledge-intake running?)", file=sys.stderr)
        return 1


async def operator_command(args: argparse.Namespace) -> int:
    """`samleng operator add|list|token` against the console's collections (the first admin is
    made so)."""
    from services.console.operators import OperatorStore
    from shared.personal_data import open_vault
    from shared.storage import create_client, database

    settings = ServiceSettings()
    client = create_client(settings)
    try:
        db = database(client, settings)
        vault = await open_vault(db)
        try:
            store = OperatorStore(db, vault)
            await store.ensure_indexes()
            if args.action == "list":
                for operator in await store.all():
                    state = "disabled" if operator.disabled else "active"
                    print(
                        f"{operator.id}  {operator.email}  {operator.role.value}  {state}  {operator.display_name}"
                    )
                return 0
            if args.action == "token":
                return await _operator_token(db, store, args)
            return await _operator_add(store, args)
        finally:
            if vault is not None:
                await vault.close()
    finally:
        await client.close()


async def _operator_add(store: OperatorStore, args: argparse.Namespace) -> int:
    from services.console.operators import DuplicateEmail
    from services.console.permissions import Role

    if not (args.email and args.name and args.role):
        print("samleng operator add --email E --name N --role ROLE", file=sys.stderr)
        return 2
    try:
        created = await store.create(args.email, args.name, Role(args.role))
    except DuplicateEmail:
        print(f"an operator with the email {args.email} exists", file=sys.stderr)
        return 1
    print(f"created {created.operator.id} ({created.operator.email}, {created.operator.role.value})")
    print(f"password: {created.password}")
    print(f"totp: {created.otpauth_uri}")
    print("Both are shown this once: hand them over safely; the TOTP URI goes into an authenticator app.")
    return 0


async def _operator_token(db: Any, store: OperatorStore, args: argparse.Namespace) -> int:
    """An API token for an existing, active operator, as `POST /api/v1/operator/tokens` makes one
    (and audited as it is: `token.created`, the operator as actor)."""
    from services.console.audit import AuditEvent, AuditLog
    from services.console.credentials import Credentials

    if not (args.email and args.name):
        print("samleng operator token --email E --name N [--days D]", file=sys.stderr)
        return 2
    if not 1 <= args.days <= 366:
        print("--days must be between 1 and 366", file=sys.stderr)
        return 2
    operator = await store.by_email(args.email)
    if operator is None or operator.disabled:
        state = "no operator" if operator is None else "a disabled operator"
        print(f"{state} with the email {args.email}: add or enable them first", file=sys.stderr)
        return 1
    credentials = Credentials(db)
    await credentials.ensure_indexes()
    token, view = await credentials.create_token(operator.id, args.name, args.days)
    await AuditLog(db).record(
        AuditEvent(
            operator_id=operator.id,
            action="token.created",
            object_type="api_token",
            object_id=view.id,
            token_id=view.id,
            detail={"name": args.name, "via": "cli"},
        )
    )
    print(f"token {view.id} for {operator.email} ({operator.role.value}), expires {view.expires_at:%Y-%m-%d}")
    print(token)
    print(
        "Shown this once: keep it as SAMLENG_OPERATOR_TOKEN; revoke it with DELETE /api/v1/operator/tokens/{id}."
    )
    return 0


def _console_options(command: argparse.ArgumentParser) -> None:
    from ops.operator_api import DEFAULT_URL, TOKEN_VARIABLE, URL_VARIABLE

    command.add_argument(
        "--url", default=None, help=f"the console's base URL (default {URL_VARIABLE}, else {DEFAULT_URL})"
    )
    command.add_argument(
        "--token", default=None, help=f"an operator API token, sk_op_… (default {TOKEN_VARIABLE})"
    )


def main(argv: list[str] | None = None) -> int:
    from services.console.permissions import Role

    parser = argparse.ArgumentParser(prog="samleng", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dlq = commands.add_parser("dlq", help="inspect, replay or drop dead letters")
    dlq.add_argument("action", choices=["list", "replay", "drop"])
    dlq.add_argument("queue", help="dead-letter queue, e.g. samleng.pledge-intake.dlq")
    dlq.add_argument("--id", action="append", help="message id (repeatable)")
    dlq.add_argument("--all", action="store_true", help="act on every message in the queue")
    dlq.add_argument("--json", action="store_true", help="one JSON object per line")
    docs = commands.add_parser("docs", help="write the AsyncAPI documents and docs/read-models.md")
    docs.add_argument("--out", default="docs/asyncapi")
    table = commands.add_parser(
        "import-pledges", help="import a CSV of paper sign-up sheets through the console"
    )
    table.add_argument(
        "file", help="CSV in the template's format (GET /api/v1/operator/imports/table/template)"
    )
    _console_options(table)
    table.add_argument("--chunk", type=int, default=50, help="rows per request")
    table.add_argument("--lang", choices=["en", "km"], default="en", help="language of error messages")
    channel = commands.add_parser(
        "channel", help="list delivery channels, scaffold a new one, or remove one and its registration"
    )
    channel.add_argument("action", choices=["list", "new", "remove"])
    channel.add_argument("name", nargs="?", help="new channel's name, e.g. sms")
    channel.add_argument("--address-kind", default="phone", choices=["email", "phone", "postal", "psid"])
    channel.add_argument(
        "--attachment",
        action="append",
        choices=["pdf", "png", "print_pdf"],
        help="attachment it carries (repeatable)",
    )
    channel.add_argument(
        "--inbound",
        action="store_true",
        help="also an inbound process for the provider's webhooks (receipts, replies)",
    )
    post = commands.add_parser("post", help="print-batch mode: the day's letters, labels and address CSV")
    post.add_argument("action", choices=["batch"])
    post.add_argument("--day", default=None, help="YYYY-MM-DD (default: today, UTC)")
    post.add_argument("--out", default=None, help="directory (default: print-batch-<day>)")
    member = commands.add_parser("member", help="export or erase everything held about one member")
    member.add_argument("action", choices=["export", "erase"])
    member.add_argument("member_id", help="e.g. mb_3f1c9e0a2b4d4e6f8a0b1c2d3e4f5a6b")
    member.add_argument(
        "--wait", type=float, default=0, metavar="SECONDS", help="erase: wait until pledge-intake erased them"
    )
    _console_options(member)
    contact = commands.add_parser(
        "contact", help="erase an email or phone: someone who only registered for a session, too"
    )
    contact.add_argument("action", choices=["erase"])
    contact.add_argument("--email", default=None)
    contact.add_argument("--phone", default=None, help="E.164, e.g. +85512345678")
    _console_options(contact)
    operator = commands.add_parser(
        "operator", help="add or list console operators, or make one an API token (directly in MongoDB)"
    )
    operator.add_argument("action", choices=["add", "list", "token"])
    operator.add_argument("--email", default=None, help="login name")
    operator.add_argument("--name", default=None, help="add: display name; token: the token's name")
    operator.add_argument("--role", default=None, choices=[role.value for role in Role])
    operator.add_argument("--days", type=int, default=90, help="token: days until it expires (1-366)")
    args = parser.parse_args(argv)
    if args.command == "operator":
        return asyncio.run(operator_command(args))
    if args.command == "member":
        return _member(args)
    if args.command == "contact":
        return _contact(args)
    if args.command == "post":
        from shared.contracts import utcnow

        args.day = args.day or utcnow().date().isoformat()
        args.out = args.out or f"print-batch-{args.day}"
        return _post_batch(args)
    if args.command == "channel":
        return _channel(args)
    if args.command == "import-pledges":
        return _import_pledges(args)
    if args.command == "dlq":
        try:
            return asyncio.run(_dlq(args))
        except ValueError as error:
            print(str(error), file=sys.stderr)
            return 2
    return _docs(args)


if __name__ == "__main__":
    sys.exit(main())
