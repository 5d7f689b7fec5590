"""What a person may choose on the pledge, subscribe and registration forms, and what each choice
asks of them, comes from the channels' declarations (shared/channels/catalogue.py), read by the
one set of rules in shared/contracts/pledge_input.py: no list of channel names anywhere."""

from __future__ import annotations

import re
from pathlib import Path

from shared.channels.catalogue import ChannelSpec
from shared.contracts.pledge_input import AddressInput, PledgeInput, business_rule_errors, validate_pledge
from shared.contracts.subscription_input import SubscribeInput, typed_alert_channels, validate_subscription
from tests.support.catalogue import with_channel

ROOT = Path(__file__).resolve().parents[2]
PAGER = ChannelSpec(
    name="pager",
    labels={"en": "Pager", "km": "ភេយ័រ"},
    order=5,
    address_kind="phone",
    purposes=frozenset({"certificate", "alert", "reminder"}),
)
COURIER = ChannelSpec(
    name="courier",
    labels={"en": "Courier", "km": "អ្នកនាំសំបុត្រ"},
    order=6,
    address_kind="postal",
    unavailable_countries=frozenset({"fr"}),
    carries_discreet=False,
)
US_ADDRESS = AddressInput(
    street_address="1 Main St", city="Springfield", country_area="IL", postal_code="62701"
)


def pledge(**change: object) -> PledgeInput:
    values: dict[str, object] = {"name": "Sok Dara", "country": "US", "consent": True, **change}
    return PledgeInput.model_validate(values)


def problems(raw: PledgeInput, lang: str = "en") -> list[tuple[str, str, str]]:
    valid, errors = validate_pledge(raw, lang)  # type: ignore[arg-type]
    assert (valid is None) == bool(errors)
    return [(e.field, e.code, e.message) for e in errors]


def test_a_declared_phone_channel_is_offered_asks_for_a_phone_and_is_accepted() -> None:
    with with_channel(PAGER):
        assert problems(pledge(channels=["pager"])) == [
            ("phone", "phone_required", "Pager was chosen: please give your mobile number.")
        ]
        assert problems(pledge(channels=["pager"]), "km")[0][2].startswith("អ្នកបានជ្រើស ភេយ័រ")
        valid, _ = validate_pledge(
            pledge(channels=["pager", "email"], phone="+1 202 555 0143", email="d@example.org"), "en"
        )
        assert valid is not None and valid.channels == ["pager", "email"]
        assert typed_alert_channels()[0] == "pager", "form order: the declaration's `order`"
        choices, errors = validate_subscription(
            SubscribeInput(
                name="Sok Dara", country="US", email="d@example.org", channels=["pager"], consent=True
            ),
            "en",
        )
        assert choices is None and [(e.field, e.code) for e in errors] == [("phone", "phone_required")]
    [(field, code, text)] = problems(pledge(channels=["pager"]))
    assert (field, code) == ("channels", "channel_unknown") and "pager" in text, "gone with its folder"


def test_a_declared_postal_channel_asks_for_an_address_and_its_limits_are_enforced() -> None:
    with with_channel(COURIER):
        assert problems(pledge(channels=["courier"])) == [
            ("postal_address", "address_required", "Courier was chosen: please give your postal address.")
        ]
        assert problems(pledge(channels=["courier"], postal_address=US_ADDRESS)) == []
        [(field, code, text)] = problems(pledge(channels=["courier"], country="FR"))
        assert (field, code) == ("channels", "channel_not_in_country")
        assert text.startswith("Courier cannot reach people living in France. Choose ")
        [(field, code, _)] = problems(pledge(channels=["courier"], postal_address=US_ADDRESS, discreet=True))
        assert (field, code) == ("channels", "channel_not_discreet")
        assert business_rule_errors("FR", ["email", "courier"]) == ["post-not-available-in-country"]
        assert business_rule_errors("US", ["email", "courier"]) == []


def test_no_form_or_rule_of_intake_names_a_channel() -> None:
    """Names belong in the channels' folders (and in tests, docs and example data)."""
    sources = [
        *(ROOT / "services/intake").rglob("*.py"),
        *(ROOT / "services/intake/templates").glob("*.html"),
        *(ROOT / "services/intake/static").glob("*.js"),
        ROOT / "shared/contracts/subscription_input.py",
        ROOT / "services/pledge_intake/app.py",
    ]
    named = re.compile(r"""["'](post|signal|whatsapp|messenger|sms)["']|(?<![\w)\]])\[["']email["']\]""")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if named.search(line.replace('method="post"', ""))
    ]
    assert found == []
