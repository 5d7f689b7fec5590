"""`make run` end to end: everything healthy within 60 s, the mail sink readable over HTTP and in
a browser, the sandbox recording and injecting faults, Ctrl-C leaving nothing behind, and data
kept for the next run."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import smtplib
import time
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from devstack.broker import port_is_open
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.timeout(300)
PRIVATE_STACK = True  # it times the start, reads the whole log, kills processes and stops the run

KHMER_SUBJECT = "វិញ្ញាបនបត្រ សន្យា — pledge certificate"


def test_every_part_is_healthy_within_60_seconds_and_every_url_is_printed(stack: RunningStack) -> None:
    assert stack.ready_after < 60, stack.ready_after
    log = stack.log()
    for variable in (
        "SAMLENG_AMQP_PORT",
        "SAMLENG_RABBITMQ_MANAGEMENT_PORT",
        "SAMLENG_MAIL_UI_PORT",
        "SAMLENG_SANDBOX_PORT",
        "SAMLENG_SMTP_PORT",
        "SAMLENG_MONGO_PORT",
    ):
        assert f"127.0.0.1:{stack.port(variable)}" in log, variable
    overview = httpx.get(
        f"http://127.0.0.1:{stack.port('SAMLENG_RABBITMQ_MANAGEMENT_PORT')}/api/overview",
        auth=("guest", "guest"),
    )
    assert overview.status_code == 200
    assert overview.json()["rabbitmq_version"].startswith("3.")


ERROR_LINE = re.compile(
    r"\[(error|critical)\s*\]|\"level\": ?\"(error|critical)\"|Traceback \(most recent call last\)", re.I
)


def test_a_normal_start_logs_no_error_and_says_once_what_each_process_waits_for(stack: RunningStack) -> None:
    """A newcomer must tell a healthy start from a broken one: while the broker and the database
    boot, services wait at info level (one line per dependency), and `[error]` means an error."""
    lines = stack.log()[: stack.log().index("Samleng is up")].splitlines()
    errors = [line for line in lines if ERROR_LINE.search(line)]
    reasons = [i for i, line in enumerate(errors) if "Reason for termination" in line]  # a broker crash
    shown = errors[:15] + [line for i in reasons[:1] for line in errors[i : i + 25]]
    assert not errors, f"{len(errors)} error lines on a normal start, e.g.:\n" + "\n".join(shown)
    waiting = [line for line in lines if "waiting for" in line]
    per_process: dict[str, int] = {}
    for line in waiting:
        process = line.split("|", 1)[0].strip()
        per_process[process] = per_process.get(process, 0) + 1
    assert all(count <= 2 for count in per_process.values()), per_process


def _send_mail(port: int, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = "Samleng <noreply@samleng.example>"
    message["To"] = "dara@example.org"
    message["Subject"] = subject
    message.set_content(body)
    message.add_alternative(f"<p>{body}</p><script>document.title='pwned'</script>", subtype="html")
    message.add_attachment(
        b"%PDF-1.7 test", maintype="application", subtype="pdf", filename="certificate.pdf"
    )
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)


def test_mail_sink_keeps_messages_and_shows_them_over_json_and_in_a_browser(
    stack: RunningStack, browser: Any
) -> None:
    _send_mail(stack.port("SAMLENG_SMTP_PORT"), KHMER_SUBJECT, "សូមអរគុណ Thank you for signing.")
    base = f"http://127.0.0.1:{stack.port('SAMLENG_MAIL_UI_PORT')}"
    listing = httpx.get(f"{base}/api/v1/messages").json()
    assert listing["total"] >= 1
    newest = listing["messages"][0]
    assert newest["Subject"] == KHMER_SUBJECT
    assert newest["To"] == [{"Name": "", "Address": "dara@example.org"}]
    detail = httpx.get(f"{base}/api/v1/message/{newest['ID']}").json()
    assert "សូមអរគុណ" in detail["Text"]
    assert detail["Attachments"][0]["FileName"] == "certificate.pdf"
    part = httpx.get(f"{base}/api/v1/message/{newest['ID']}/part/{detail['Attachments'][0]['PartID']}")
    assert part.content == b"%PDF-1.7 test"

    page = browser.new_page()
    page.goto(base + "/")
    page.get_by_role("link", name=KHMER_SUBJECT).click()
    assert page.locator("#subject").inner_text() == KHMER_SUBJECT
    assert "សូមអរគុណ" in page.locator("#text").inner_text()
    assert page.title().startswith(KHMER_SUBJECT), "message HTML must not run scripts in the page"
    page.close()


def test_sandbox_records_requests_and_injects_faults(stack: RunningStack) -> None:
    base = f"http://127.0.0.1:{stack.port('SAMLENG_SANDBOX_PORT')}"
    fault = httpx.post(f"{base}/_sandbox/faults", json={"provider": "demo", "status": 429, "times": 1})
    assert fault.status_code == 201
    first = httpx.post(f"{base}/demo/v2/send", json={"message": "hello"})
    second = httpx.post(f"{base}/demo/v2/send", json={"message": "hello"})
    assert first.status_code == 429
    assert second.status_code == 404, "the fault applied once; no demo provider exists"
    recorded = httpx.get(f"{base}/_sandbox/requests", params={"provider": "demo"}).json()["requests"]
    assert [(r["path"], r["status"], r["fault"]) for r in recorded] == [
        ("/v2/send", 429, "reject"),
        ("/v2/send", 404, None),
    ]
    assert recorded[0]["body"] == {"message": "hello"}


def registrations(stack: RunningStack) -> dict[str, dict[str, Any]]:
    """replica -> its health registration (pid, url), as every service writes it when ready."""
    found = {}
    for path in (stack.run_dir / "health").glob("*.json"):
        with contextlib.suppress(ValueError, OSError):
            found[path.stem] = json.loads(path.read_text())
    return found


def test_a_killed_channel_worker_is_back_within_seconds_and_nothing_else_stopped(stack: RunningStack) -> None:
    before = registrations(stack)
    victim = before["email.1"]
    os.kill(victim["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 60  # restarted after 1 s, then as long as a start takes on a busy machine
    while True:
        now = registrations(stack).get("email.1", {})
        if now.get("pid") not in (None, victim["pid"]):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(now["url"] + "/health/ready", timeout=2).status_code == 200:
                    break
        assert time.monotonic() < deadline, "email.1 did not come back:\n" + stack.log()[-3000:]
        time.sleep(0.2)
    after = registrations(stack)
    assert {k: v["pid"] for k, v in after.items() if k != "email.1"} == {
        k: v["pid"] for k, v in before.items() if k != "email.1"
    }, "every other process kept running"
    assert "email.1 exited with code -9; restarting it in 1 s" in stack.log()
    assert "stopping everything" not in stack.log()


def test_ctrl_c_stops_everything_and_the_next_run_keeps_the_data(stack: RunningStack) -> None:
    assert stack.processes(), "the stack's processes should be visible before stopping"
    started = time.monotonic()
    code = stack.interrupt()
    stopped_after = time.monotonic() - started
    assert stopped_after < 15, stopped_after
    leftovers = stack.processes()
    assert leftovers == [], leftovers
    for variable in ("SAMLENG_AMQP_PORT", "SAMLENG_MONGO_PORT", "SAMLENG_SMTP_PORT", "SAMLENG_MAIL_UI_PORT"):
        assert not port_is_open(stack.port(variable)), variable
    assert "SIGKILL" not in stack.log(), "every process should stop on SIGTERM"
    assert code in (0, 130, -2), code

    stack.start()
    listing = httpx.get(f"http://127.0.0.1:{stack.port('SAMLENG_MAIL_UI_PORT')}/api/v1/messages").json()
    assert any(m["Subject"] == KHMER_SUBJECT for m in listing["messages"]), "mail kept between runs"


def test_a_taken_port_is_refused_with_the_variable_to_change(stack: RunningStack) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "devstack.run"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"port {stack.port('SAMLENG_AMQP_PORT')}: RabbitMQ AMQP (set SAMLENG_AMQP_PORT" in result.stderr
    assert "make stop" in result.stderr


def test_make_stop_ends_a_run_whose_terminal_went_away(stack: RunningStack) -> None:
    import os
    import signal
    import subprocess
    import sys

    assert stack.process is not None
    os.kill(stack.process.pid, signal.SIGKILL)  # honcho gone without stopping its children
    stack.process.wait()
    assert stack.processes(), "the children outlive a killed honcho"
    result = subprocess.run(
        [sys.executable, "-m", "devstack.stop"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 10
    while stack.processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stack.processes() == []
    assert not port_is_open(stack.port("SAMLENG_AMQP_PORT"))
