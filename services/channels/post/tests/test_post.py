"""The post channel against the letters-API sandbox (in-process), in both modes' terms."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.channels.email.adapter import EmailAdapter
from services.channels.post.adapter import PostAdapter, PostSettings
from services.channels.post.sandbox import LobState, create_router
from shared.channels import PermanentDeliveryError, RetryableDeliveryError
from shared.contracts.pledge import PostalAddress
from tests.support.channel_contract import ChannelContract, Failure, message_for, recipient


class LobHarness:
    """The sandbox's letters API in-process, behind a transport that can fail the next call."""

    def __init__(self) -> None:
        self.state = LobState()
        app = FastAPI()
        app.include_router(create_router(self.state), prefix="/lob")
        self.app = httpx.ASGITransport(app=app)
        self.next_failure: Failure | None = None
        self.requests: list[httpx.Request] = []
        settings = PostSettings(_env_file=None, api_url="http://sandbox/lob", api_key="test_contract_key")
        self.adapter = PostAdapter(settings, transport=httpx.MockTransport(self.handle))

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        creating = request.method == "POST" and request.url.path.endswith("/v1/letters")
        failure = self.next_failure if creating else None
        if failure is not None:
            self.next_failure = None
        if failure == "permanent":
            return httpx.Response(
                422, json={"error": {"message": "to.address_line1 is invalid", "status_code": 422}}
            )
        if failure == "retryable":
            return httpx.Response(503, json={"error": {"message": "unavailable", "status_code": 503}})
        response = await self.app.handle_async_request(request)
        await response.aread()
        if failure == "unknown":  # the letter was created, the answer is lost
            raise httpx.ReadTimeout("timed out", request=request)
        return response

    def received(self) -> int:
        return len(self.state.letters)

    def fail_next(self, failure: Failure) -> None:
        self.next_failure = failure


class TestPostChannel(ChannelContract):
    adapter_cls = PostAdapter

    @pytest.fixture
    async def harness(self) -> AsyncIterator[LobHarness]:
        harness = LobHarness()
        await harness.adapter.start()
        yield harness
        await harness.adapter.close()

    def test_never_serves_cambodia(self) -> None:
        assert PostAdapter.ineligibility(recipient(country="KH"), "certificate") == "not-available-in-KH"

    async def test_letters_carry_the_idempotency_key_and_a_us_letter_pdf(self, harness: LobHarness) -> None:
        await harness.adapter.send(message_for(PostAdapter))
        [letter] = harness.state.letters.values()
        assert letter["pages"] == 1 and letter["address_placement"] == "insert_blank_page"
        assert letter["to"]["name"] == "សុខ ដារ៉ា (Sok Dara)"
        create = next(r for r in harness.requests if r.url.path.endswith("/v1/letters"))
        assert create.headers["idempotency-key"] == "dl_contract000000000000001"

    async def test_an_undeliverable_address_fails_permanently_before_any_letter(
        self, harness: LobHarness
    ) -> None:
        message = message_for(PostAdapter)
        bad = recipient(
            postal_address=PostalAddress(
                street_address="UNDELIVERABLE 1 Nowhere",
                city="X",
                country_area="CA",
                postal_code="00000",
                country_code="US",
            )
        )
        delivery = message.delivery.model_copy(update={"recipient": bad})
        with pytest.raises(PermanentDeliveryError) as error:
            await harness.adapter.send(type(message)(delivery, message.attachments))
        assert error.value.reason == "address-undeliverable"
        assert harness.received() == 0

    async def test_rate_limits_are_retried_after_the_providers_delay(self, harness: LobHarness) -> None:
        async def limited(request: httpx.Request) -> httpx.Response:
            return httpx.Response(429, headers={"retry-after": "7"}, json={"error": {"message": "slow down"}})

        harness.adapter._http._transport = httpx.MockTransport(limited)  # type: ignore[union-attr]
        with pytest.raises(RetryableDeliveryError) as error:
            await harness.adapter.send(message_for(PostAdapter))
        assert error.value.retry_after == 7

    async def test_an_a4_pdf_is_refused_by_the_letters_api(self, harness: LobHarness) -> None:
        message = message_for(PostAdapter)
        a4 = next(a for a in message_for(EmailAdapter).attachments if a.content_type == "application/pdf")
        with pytest.raises(PermanentDeliveryError) as error:
            await harness.adapter.send(type(message)(message.delivery, (a4,)))
        assert error.value.reason == "provider-422"
        assert harness.received() == 0


@pytest.mark.unit
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"message": "address undeliverable"}}, "address undeliverable"),
        ({"error": "sandbox fault 1"}, "sandbox fault 1"),
        ([{"error": "x"}], ""),
        ({"detail": "nope"}, ""),
    ],
)
def test_an_error_body_of_any_shape_is_read_without_crashing(body: object, expected: str) -> None:
    from services.channels.post.adapter import _error_message

    assert _error_message(httpx.Response(400, json=body)) == expected
    assert _error_message(httpx.Response(502, text="<html>bad gateway</html>")) == "<html>bad gateway</html>"
