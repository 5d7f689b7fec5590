"""The shared abuse limiter (shared/rate_limit.py) without a database: the client address read
from the socket peer and X-Forwarded-For, the sliding-window count against a collection that
answers like MongoDB's conditional upsert, and the bounded in-process memory."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError

from services.intake.settings import IntakeSettings
from shared.rate_limit import Rule, SharedLimiter, client_address, parse_networks

PROXIES = parse_networks("10.0.0.0/8, 192.0.2.7, 2001:db8:1::/48")


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("198.51.100.7", [], "198.51.100.7"),
        ("198.51.100.7", ["203.0.113.9"], "198.51.100.7"),  # not a proxy of ours: the header is ignored
        ("10.1.2.3", [], "10.1.2.3"),  # a trusted proxy that forwarded nothing is the client
        ("10.1.2.3", ["203.0.113.9"], "203.0.113.9"),
        ("10.1.2.3", ["6.6.6.6, 203.0.113.9"], "203.0.113.9"),  # the left part is the client's own
        ("10.1.2.3", ["6.6.6.6, 203.0.113.9, 192.0.2.7"], "203.0.113.9"),  # behind two proxies
        ("10.1.2.3", ["6.6.6.6", "203.0.113.9, 10.9.9.9"], "203.0.113.9"),  # several header lines
        ("10.1.2.3", ["10.4.4.4, 10.5.5.5"], "10.4.4.4"),  # all trusted: the left-most
        ("10.1.2.3", ["203.0.113.9:51000"], "203.0.113.9"),
        ("10.1.2.3", ["[2001:db8:2::5]:443"], "2001:db8:2::5"),
        ("10.1.2.3", ["2001:db8:2::5, 2001:db8:1::9"], "2001:db8:2::5"),
        ("10.1.2.3", ["::ffff:203.0.113.9"], "203.0.113.9"),
        ("10.1.2.3", ["203.0.113.9, unknown"], "10.1.2.3"),  # malformed: trust ends at the proxy
        ("10.1.2.3", ["203.0.113.9, , 10.9.9.9"], "10.9.9.9"),
        ("::ffff:10.1.2.3", ["203.0.113.9"], "203.0.113.9"),
        ("unix-socket", ["203.0.113.9"], "unix-socket"),
        (None, ["203.0.113.9"], "unknown"),
    ],
)
def test_the_client_is_the_right_most_address_no_trusted_proxy_wrote(
    peer: str | None, forwarded_for: list[str], client: str
) -> None:
    assert client_address(peer, forwarded_for, PROXIES) == client


def test_without_trusted_proxies_a_forwarded_address_never_counts() -> None:
    assert client_address("127.0.0.1", ["203.0.113.9"], []) == "127.0.0.1"


def test_trusted_proxies_are_checked_at_start() -> None:
    assert parse_networks("") == []
    assert parse_networks("192.0.2.7") == [ipaddress.ip_network("192.0.2.7/32")]
    with pytest.raises(ValueError, match="trusted_proxies"):
        IntakeSettings(secret_key="x" * 32, trusted_proxies="10.0.0.0/8, proxy.internal")


class Counters:
    """MongoDB's answers to the limiter's two calls: `find_one` by `_id`, and
    `update_one({_id, n: {$lt: room}}, {$inc, $setOnInsert}, upsert=True)`."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.down = False

    async def create_index(self, keys: Any, **options: Any) -> str:
        assert options == {"expireAfterSeconds": 0}
        return "expires_at_1"

    async def find_one(self, query: dict[str, Any], projection: Any) -> dict[str, Any] | None:
        self.calls += 1
        if self.down:
            raise AutoReconnect("down")
        return self.documents.get(query["_id"])

    async def update_one(self, query: dict[str, Any], update: dict[str, Any], upsert: bool) -> None:
        self.calls += 1
        found = self.documents.get(query["_id"])
        if found is None:
            self.documents[query["_id"]] = {"n": 1, **update["$setOnInsert"]}
        elif found["n"] < query["n"]["$lt"]:
            found["n"] += 1
        else:
            raise DuplicateKeyError("E11000")


def limiter(counters: Counters, now: list[float], cache_size: int = 100) -> SharedLimiter:
    return SharedLimiter(lambda: counters, b"secret", clock=lambda: now[0], cache_size=cache_size)  # type: ignore[arg-type, return-value]


async def test_a_sliding_window_per_rule_and_client_with_retry_after_the_earliest_moment() -> None:
    counters, now = Counters(), [6000.0 + 15]  # a quarter into window 100 (6000-6060)
    limits = limiter(counters, now)
    submit, verify = Rule("submissions", 2), Rule("verify", 1)
    assert [await limits.hit(submit, "198.51.100.7") for _ in range(3)] == [0, 0, 45]
    assert await limits.hit(submit, "203.0.113.9") == 0, "another client has its own count"
    assert await limits.hit(verify, "198.51.100.7") == 0, "another purpose has its own count"
    now[0] = 6059.5
    assert await limits.hit(submit, "198.51.100.7") == 1
    now[0] = 6060.5  # the next window: the previous 2 still weigh almost fully
    assert await limits.hit(submit, "198.51.100.7") == 30, "until half of them have slid out"
    now[0] = 6090
    assert await limits.hit(submit, "198.51.100.7") == 0
    assert await limits.hit(submit, "198.51.100.7") == 30, "one in this window + half of two = the limit"
    now[0] = 6180  # two windows later nothing weighs
    assert [await limits.hit(submit, "198.51.100.7") for _ in range(3)] == [0, 0, 60]
    stored = " ".join(counters.documents)
    assert "198.51.100.7" not in stored and "203.0.113.9" not in stored, "addresses only as keyed hashes"
    first_window = [d for k, d in counters.documents.items() if k.endswith(":100")]
    assert {d["expires_at"].timestamp() for d in first_window} == {6125}, (
        "kept while the next window weighs it"
    )


async def test_a_refused_client_is_answered_from_memory_and_memory_stays_bounded() -> None:
    counters, now = Counters(), [6000.0]
    limits = limiter(counters, now, cache_size=50)
    rule = Rule("submissions", 1)
    for n in range(5000):
        client = f"10.0.{n // 250}.{n % 250}"
        assert await limits.hit(rule, client) == 0
        assert await limits.hit(rule, client) == 60
    assert len(limits) == 50, "only the most recent refusals are held"
    calls = counters.calls
    assert await limits.hit(rule, "10.0.19.249") == 60 and counters.calls == calls, "no round trip"
    now[0] += 120
    assert await limits.hit(rule, "10.0.19.249") == 0 and counters.calls > calls
    assert len(limits) == 50
    await limits.hit(rule, "10.0.19.249")
    assert len(limits) == 1, "refusals that ended are dropped"


async def test_when_the_counters_cannot_be_reached_the_request_goes_on() -> None:
    counters, now = Counters(), [6000.0]
    counters.down = True
    assert await limiter(counters, now).hit(Rule("submissions", 1), "198.51.100.7") == 0
