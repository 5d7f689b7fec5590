"""The vault (shared/personal_data.py) on the real Mongo-wire server, and the channel runner
opening sealed requests: per-member keys, race-safe creation, blind indexes, crypto-shredding,
master-key rotation."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from shared.channels import ChannelAdapter, ChannelSettings, OutboundMessage, SendResult
from shared.channels.runner import ChannelRunner, SendLog
from shared.contracts.delivery import DeliveryRequested
from shared.messaging.consumer import MessageContext
from shared.personal_data import (
    KEY_VAULT,
    EncryptionNotConfigured,
    IndexedKeyLookups,
    PersonalDataSettings,
    PersonalDataUnreadable,
    Vault,
    open_vault,
)
from tests.support.channel_contract import message_for


def master_key() -> SecretStr:
    return SecretStr(base64.b64encode(os.urandom(96)).decode())


def settings(
    master: SecretStr | None = None, index: str = "index-key", previous: SecretStr | None = None
) -> PersonalDataSettings:
    return PersonalDataSettings(
        _env_file=None,  # type: ignore[call-arg]
        master_key=master or master_key(),
        previous_master_key=previous,
        blind_index_key=SecretStr(index),
    )


@pytest.fixture
async def fresh(mongo_uri: str, db_name: str) -> Any:
    """Vaults on their own clients, as other processes (replicas) would have them."""
    opened: list[tuple[Vault, AsyncMongoClient[Any]]] = []

    async def make(config: PersonalDataSettings) -> Vault:
        client: AsyncMongoClient[Any] = AsyncMongoClient(
            mongo_uri, tz_aware=True, uuidRepresentation="standard"
        )
        vault = await Vault.open(client[db_name], config)
        opened.append((vault, client))
        return vault

    yield make
    for vault, client in opened:
        await vault.close()
        await client.close()


def key_id_of(ciphertext: bytes) -> bytes:
    return ciphertext[1:17]  # explicit-encryption values carry their data key's id after the type byte


async def test_each_member_gets_one_key_of_their_own(fresh: Any, db: Any) -> None:
    vault = await fresh(settings())
    a1 = await vault.encrypt("mb_a", "Sok Dara")
    a2 = await vault.encrypt("mb_a", {"email": "dara@example.org"})
    b = await vault.encrypt("mb_b", "Sok Dara")
    assert key_id_of(a1) == key_id_of(a2) != key_id_of(b)
    assert a1 != b and b"Sok Dara" not in bytes(a1)  # random: same text, different ciphertexts
    names = sorted([d["keyAltNames"][0] async for d in db[KEY_VAULT].find()])
    assert names == ["member:mb_a", "member:mb_b"]
    assert await vault.decrypt(a1) == "Sok Dara"
    assert await vault.decrypt(a2) == {"email": "dara@example.org"}
    assert await vault.unseal(await vault.seal("mb_b", {"name": "x"})) == {"name": "x"}


async def test_aliases_share_the_key_the_publisher_creates(fresh: Any, db: Any) -> None:
    master = master_key()
    intake, pledge_intake = [await fresh(settings(master)) for _ in range(2)]
    sealed = await intake.seal("pl_alias", {"name": "Sok Dara"}, aliases=["mb_alias"])
    assert await pledge_intake.unseal(sealed) == {"name": "Sok Dara"}
    member = await pledge_intake.encrypt("mb_alias", {"name": "Sok Dara"})
    assert key_id_of(member) == key_id_of(base64.b64decode(sealed)), "one key, both names"
    assert await db[KEY_VAULT].count_documents({}) == 1
    await intake.encrypt("mb_taken", "own key first")
    again = await intake.seal("pl_other", {"name": "x"}, aliases=["mb_taken"])  # alias already keyed
    names = sorted([d["keyAltNames"] async for d in db[KEY_VAULT].find()], key=str)
    assert ["member:pl_other"] in names and ["member:mb_taken"] in names
    assert await pledge_intake.unseal(again) == {"name": "x"}
    assert await pledge_intake.forget("mb_alias")
    late = await fresh(settings(master))
    with pytest.raises(PersonalDataUnreadable):
        await late.unseal(sealed)


async def test_replicas_racing_to_create_a_members_key_end_up_with_one(fresh: Any, db: Any) -> None:
    config = settings()
    vaults = [await fresh(config) for _ in range(4)]
    keys = await asyncio.gather(*(vaults[i % 4].key_for("mb_race") for i in range(24)))
    assert len(set(keys)) == 1
    assert await db[KEY_VAULT].count_documents({"keyAltNames": "member:mb_race"}) == 1
    written = await asyncio.gather(*(vaults[i % 4].encrypt("mb_race_2", f"v{i}") for i in range(12)))
    assert len({key_id_of(w) for w in written}) == 1  # first use by encrypting, in a race too
    await vaults[0].keys_for(["mb_race", "mb_new_1", "mb_new_2"])  # a fan-out's batch
    assert await db[KEY_VAULT].count_documents({}) == 4


async def test_blind_index_is_stable_and_keyed(fresh: Any) -> None:
    master = master_key()
    one, two = await fresh(settings(master)), await fresh(settings(master))
    other = await fresh(settings(index="another-index-key"))
    value = "dara@example.org"
    assert one.blind("email", value) == two.blind("email", value)
    assert one.blind("email", value) != other.blind("email", value)
    assert one.blind("email", value) != one.blind("phone", value)
    assert value not in one.blind("email", value) and len(one.blind("email", value)) == 64


async def test_forgetting_a_member_leaves_only_their_data_unreadable(fresh: Any) -> None:
    config = settings()
    vault = await fresh(config)
    gone, kept = await vault.encrypt("mb_gone", "Gone Name"), await vault.encrypt("mb_kept", "Kept Name")
    assert await vault.forget("mb_gone")
    assert not await vault.forget("mb_gone")
    later = await fresh(config)  # a fresh process: no data key cached
    with pytest.raises(PersonalDataUnreadable):
        await later.decrypt(gone)
    assert await later.decrypt(kept) == "Kept Name"
    again = await later.encrypt("mb_gone", "New data")  # a returning person gets a new key
    assert key_id_of(again) != key_id_of(gone) and await later.decrypt(again) == "New data"


async def test_master_key_rotation_rewraps_data_keys(fresh: Any, db: Any) -> None:
    old, new = master_key(), master_key()
    before = await fresh(settings(old))
    written = await before.encrypt("mb_rot", "Written before rotation")
    rolling = await fresh(settings(new, previous=old))  # step 2: both keys during the roll-out
    assert await rolling.decrypt(written) == "Written before rotation"
    during = await rolling.encrypt("mb_rot_new", "Written during")
    assert await rolling.rewrap() == 1  # step 3: only the key still wrapped by the old master key
    assert await rolling.rewrap() == 0
    providers = {d["masterKey"]["provider"] async for d in db[KEY_VAULT].find()}
    assert providers == {rolling.provider}
    after = await fresh(settings(new))  # step 4: the old key is gone everywhere
    assert await after.decrypt(written) == "Written before rotation"
    assert await after.decrypt(during) == "Written during"
    stale = await fresh(settings(old))
    with pytest.raises(PersonalDataUnreadable):
        await stale.decrypt(written)


async def test_libmongocrypt_fetches_keys_through_the_indexes(fresh: Any) -> None:
    config = settings()
    writer = await fresh(config)
    written = [await writer.encrypt(f"mb_idx{i}", f"value {i}") for i in range(3)]
    reader = await fresh(config)  # nothing cached: each decrypt fetches its key from key_vault
    assert isinstance(reader._encryption._io_callbacks.key_vault_coll, IndexedKeyLookups)
    assert [await reader.decrypt(w) for w in written] == ["value 0", "value 1", "value 2"]


async def test_without_keys_encryption_is_off_unless_required(db: Any) -> None:
    off = PersonalDataSettings(_env_file=None)  # type: ignore[call-arg]
    assert await open_vault(db, off) is None
    with pytest.raises(EncryptionNotConfigured):
        await open_vault(db, PersonalDataSettings(_env_file=None, required=True))  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="96 bytes"):
        Vault(db, settings(SecretStr(base64.b64encode(b"short").decode())))


# ---- the channel runner opens sealed requests ----------------------------------------------------


class Recording(ChannelAdapter):
    name: ClassVar[str] = "recording"
    address_kind = "email"

    def __init__(self) -> None:
        super().__init__(ChannelSettings(_env_file=None))
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_message_id="p1")


class Published:
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def publish(self, event: Any) -> None:
        self.events.append(event)


async def sealed_request(vault: Vault, delivery_id: str) -> tuple[DeliveryRequested, Any]:
    plain = message_for(Recording, delivery_id).delivery.model_copy(update={"channel": "recording"})
    personal, blank = plain.split_personal()
    sealed = blank.model_copy(update={"encrypted": await vault.seal(plain.recipient.member_id, personal)})
    return DeliveryRequested(correlation_id="c", data=sealed), plain


async def test_the_runner_hands_the_adapter_plain_data_and_stores_none(fresh: Any, db: Any) -> None:
    vault = await fresh(settings())
    adapter, published = Recording(), Published()
    runner = ChannelRunner(adapter, SendLog(db.sends_recording, "w1", 60), None, vault=vault)
    event, plain = await sealed_request(vault, "dl_sealed_0000000000000001")
    assert "dara@example.org" not in event.model_dump_json()
    await runner.handle(event, MessageContext(None, 1, 3, False, published))  # type: ignore[arg-type]
    [message] = adapter.sent
    assert message.delivery == plain and message.recipient.email == "dara@example.org"
    [log] = await db.sends_recording.find().to_list(None)
    assert log["state"] == "sent" and "dara" not in str(log)
    assert [e.data.state for e in published.events] == ["sent"]


async def test_a_forgotten_members_request_fails_permanently(fresh: Any, db: Any) -> None:
    config = settings()
    writer = await fresh(config)
    event, _ = await sealed_request(writer, "dl_sealed_0000000000000002")
    await writer.forget("mb_contract")
    adapter, published = Recording(), Published()
    runner = ChannelRunner(adapter, SendLog(db.sends_recording, "w1", 60), None, vault=await fresh(config))
    await runner.handle(event, MessageContext(None, 1, 3, False, published))  # type: ignore[arg-type]
    assert adapter.sent == []
    assert [(e.data.state, e.data.reason) for e in published.events] == [
        ("failed_permanent", "personal-data-erased")
    ]
