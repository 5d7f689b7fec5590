"""An alert fanned out by email to every member while something breaks: the broker, an email
worker, the SMTP server. Each scenario counts at the SMTP sink that every member got exactly one
email, and compares its latency with the same fan-out without a fault."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.broker import port_is_open
from tests.chaos.system import (
    SIZE,
    Figures,
    arrived_so_far,
    broker_vm_pid,
    database,
    dead_lettered,
    pid_of,
    publish_alert,
    registrations,
    seed_members,
    settle,
    wait_for,
)
from tests.support.stack import RunningStack

pytestmark = pytest.mark.timeout(1800 if SIZE > 1_000 else 600)
LOAD = f"alert fan-out by email to {SIZE:,} members, 2 email workers"


@pytest.fixture(scope="module")
def baseline(chaos_stack: RunningStack) -> Figures:
    """The same fan-out with no fault: what the latency figures are compared with."""
    members = seed_members(chaos_stack, "baseline")
    _, published_at = publish_alert(chaos_stack, "UA 900/26")
    got = settle(chaos_stack, members)
    figures = Figures.of("baseline", "none", LOAD, members, got, published_at)
    figures.record(chaos_stack)
    return figures


def compared(
    figures: Figures, baseline: Figures, stack: RunningStack, dead_before: dict[str, int]
) -> Figures:
    figures.notes["baseline_p99_s"] = baseline.p99_s
    figures.notes["p99_impact_s"] = round(figures.p99_s - baseline.p99_s, 1)
    figures.notes["dead_lettered"] = {
        name: n - dead_before.get(name, 0)
        for name, n in dead_lettered(stack).items()
        if n != dead_before.get(name, 0)
    }
    figures.record(stack)
    return figures


def deliveries_created(stack: RunningStack, alert_id: str) -> int:
    """Trigger only (never a figure): deliveries the dispatcher has written for the alert."""
    return int(database(stack).deliveries.count_documents({"correlation_id": alert_id}))


def test_without_faults_every_member_gets_exactly_one_email(baseline: Figures) -> None:
    assert baseline.lost == 0 and baseline.duplicated == 0, baseline


def test_broker_sigkilled_mid_fan_out_every_member_gets_exactly_one_email(
    chaos_stack: RunningStack, baseline: Figures
) -> None:
    """The RabbitMQ node (its Erlang VM) is SIGKILLed while the dispatcher is writing and
    publishing the deliveries; devstack.procs restarts it. Relies on: quorum queues and
    persistent messages (nothing confirmed is lost), publisher confirms (the dispatcher's
    fan-out is acked only after its publishes were confirmed, so it is redelivered and resumes),
    deterministic delivery ids (the resumed fan-out finds, not recreates) and the email send
    log's claim (a request published twice is sent once)."""
    stack = chaos_stack
    dead_before = dead_lettered(stack)
    members = seed_members(stack, "broker")
    alert_id, published_at = publish_alert(stack, "UA 901/26")
    wait_for(
        "the dispatcher to start the fan-out",
        lambda: deliveries_created(stack, alert_id) >= SIZE // 4,
        lambda: deliveries_created(stack, alert_id),
        every=0.05,
    )
    at_kill = deliveries_created(stack, alert_id), arrived_so_far(stack, members)
    restarts = stack.log().count("broker.1 restarted")
    killed_at = time.monotonic()
    signal_and_wait_gone(broker_vm_pid(stack))
    amqp = stack.port("SAMLENG_AMQP_PORT")
    wait_for(
        "the broker to be restarted",
        lambda: stack.log().count("broker.1 restarted") > restarts and port_is_open(amqp),
        lambda: len(stack.log()),
    )
    outage = time.monotonic() - killed_at

    got = settle(stack, members)
    figures = Figures.of(
        "broker-sigkill", "RabbitMQ VM SIGKILLed mid fan-out, restarted by devstack.procs", LOAD, members, got,
        published_at,
    )  # fmt: skip
    figures.notes.update(
        broker_down_s=round(outage, 1), deliveries_written_at_kill=at_kill[0], emails_at_kill=at_kill[1]
    )
    compared(figures, baseline, stack, dead_before)
    assert at_kill[0] < SIZE or at_kill[1] < SIZE, "the fault came after the fan-out was over"
    figures.assert_exactly_once(got)


def test_email_workers_sigkilled_mid_batch_lose_nothing_and_send_nothing_twice(
    chaos_stack: RunningStack, baseline: Figures
) -> None:
    """email.1 is SIGKILLed when a fifth of the emails have arrived, email.2 at half: each dies
    holding prefetched requests and sends in flight. Relies on: manual acks after the send (the
    broker redelivers what a dead worker held), the send log's claim with a lease (a claim of the
    dead worker is reconciled after the lease, never blindly resent: the email adapter asks the
    mailbox for the Message-ID first), and devstack.procs restarting the worker."""
    stack = chaos_stack
    dead_before = dead_lettered(stack)
    members = seed_members(stack, "workers")
    _, published_at = publish_alert(stack, "UA 902/26")
    killed = {}
    for replica, share in (("email.1", 5), ("email.2", 2)):
        wait_for(
            f"1/{share} of the emails before killing {replica}",
            lambda share=share: arrived_so_far(stack, members) >= SIZE // share,  # type: ignore[misc]
            lambda: arrived_so_far(stack, members),
            every=0.1,
        )
        killed[replica] = arrived_so_far(stack, members)
        signal_and_wait_gone(int(registrations(stack)[replica]["pid"]))

    got = settle(stack, members)
    figures = Figures.of(
        "email-workers-sigkill", "email.1 then email.2 SIGKILLed mid batch (2 replicas)", LOAD, members, got,
        published_at,
    )  # fmt: skip
    figures.notes["emails_at_kill"] = killed
    compared(figures, baseline, stack, dead_before)
    assert max(killed.values()) < SIZE, "the faults came after the fan-out was over"
    assert "email.1 exited with code -9; restarting it" in stack.log()
    figures.assert_exactly_once(got)


SMTP_DOWN_SECONDS = 12.0
"""How long the SMTP port refuses mail: devstack.procs tries to restart the sink three times
meanwhile (1, 2, 4 s apart; it gives up after 5 fast crashes in a row), then it is back."""


def test_smtp_server_down_then_back_every_email_arrives_once(
    chaos_stack: RunningStack, baseline: Figures
) -> None:
    """The SMTP sink is SIGKILLed when a fifth of the emails have arrived and its port answers
    every connection with a reset for SMTP_DOWN_SECONDS (its restarts fail to bind meanwhile);
    then it comes back. Relies on: retryable SMTP errors going through the retry tiers (not
    dropped, not dead-lettered), the circuit breaker's trial after its cooldown, and the send log
    (a message retried after an ambiguous failure is checked against the mailbox first)."""
    stack = chaos_stack
    dead_before = dead_lettered(stack)
    log_from = len(stack.log())
    members = seed_members(stack, "smtp")
    _, published_at = publish_alert(stack, "UA 903/26")
    wait_for(
        "a fifth of the emails before stopping the SMTP server",
        lambda: arrived_so_far(stack, members) >= SIZE // 5,
        lambda: arrived_so_far(stack, members),
        every=0.1,
    )
    smtp = stack.port("SAMLENG_SMTP_PORT")
    with server_down(smtp, pid_of(stack, "devstack.smtp_sink")):
        at_fault = arrived_so_far(stack, members)
        time.sleep(SMTP_DOWN_SECONDS)  # the fault's length, not a wait for the system
        during = arrived_so_far(stack, members)
    wait_for("the SMTP sink to be back", lambda: port_is_open(smtp), lambda: len(stack.log()))

    got = settle(stack, members)
    figures = Figures.of(
        "smtp-down", f"SMTP server down {SMTP_DOWN_SECONDS:.0f} s (killed, port refusing), then back", LOAD,
        members, got, published_at,
    )  # fmt: skip
    figures.notes.update(emails_at_fault=at_fault, emails_arrived_while_down=during - at_fault)
    compared(figures, baseline, stack, dead_before)
    assert at_fault < SIZE, "the fault came after the fan-out was over"
    assert during == at_fault, "nothing can arrive while the SMTP server is down"
    assert figures.duplicated == 0, figures
    dead = figures.notes["dead_lettered"].get("samleng.channel-email.high.dlq", 0)
    unresolved = sum(
        1 for line in stack.log()[log_from:].splitlines() if OUTCOME_UNKNOWN_DEAD_LETTERED in line
    )
    if figures.lost and figures.lost == dead == unresolved:  # exactly the known bug, nothing else
        pytest.xfail(KNOWN_RECONCILE_BUG.format(lost=figures.lost))
    figures.assert_exactly_once(got)


OUTCOME_UNKNOWN_DEAD_LETTERED = "queue=samleng.channel-email.high reason=outcome-unknown"
"""How the consumer logs a delivery dead-lettered because its outcome stayed unknown."""
KNOWN_RECONCILE_BUG = (
    "known bug (report of #19): {lost} emails in flight when the SMTP server died ended 'outcome "
    "unknown' and were dead-lettered at their next attempt, because the email adapter's reconcile() "
    "answers 'cannot tell' (None) when the mailbox lookup API is unreachable - the same server, down - "
    "instead of asking again later"
)


# ---- faults -------------------------------------------------------------------------------------


def signal_and_wait_gone(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Send `sig` and return once the process is gone (or a zombie its parent has yet to reap)."""
    os.kill(pid, sig)
    stat = Path(f"/proc/{pid}/stat")
    for _ in range(400):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still running 20 s after signal {sig.name}")


@contextlib.contextmanager
def server_down(port: int, pid: int) -> Iterator[None]:
    """The server `pid` listening on `port` is SIGKILLed and the port held, so its restarts
    cannot bind it; every connection made to it meanwhile is reset, as a host whose mail server
    is down answers. On leaving, the port is freed for the server's next restart."""
    signal_and_wait_gone(pid)
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # its closed connections linger
    holder.bind(("127.0.0.1", port))  # within the runner's 1 s before the first restart
    holder.listen(64)
    holder.settimeout(0.2)
    stop = threading.Event()

    def reset_every_connection() -> None:
        while not stop.is_set():
            try:
                conn, _ = holder.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=reset_every_connection, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        holder.close()
