"""The two languages people use Samleng in, English and Khmer, and the field-error messages of
what they submit (pledges, subscriptions, registrations, imports): the same words wherever a
form or an API answers, whichever service checks it."""

from __future__ import annotations

from functools import cache
from typing import Literal

import phonenumbers
from babel import Locale

Lang = Literal["en", "km"]
LANGUAGES: tuple[Lang, ...] = ("en", "km")


def pick_language(query: str | None, cookie: str | None, accept_language: str | None) -> Lang:
    """The language a visitor reads: asked for in the URL, else remembered in a cookie, else Khmer
    when the browser prefers it, else English."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    if accept_language and accept_language.lower().lstrip().startswith("km"):
        return "km"
    return "en"


MESSAGES: dict[str, dict[Lang, str]] = {
    # validation
    "name_required": {"en": "Please write your name.", "km": "សូមសរសេរឈ្មោះរបស់អ្នក។"},
    "name_too_long": {
        "en": "Your name is too long (at most {max} characters).",
        "km": "ឈ្មោះវែងពេក (យ៉ាងច្រើន {max} តួអក្សរ)។",
    },
    "name_characters": {
        "en": "A name can contain letters of any script, spaces, hyphens, apostrophes and full stops.",
        "km": "ឈ្មោះអាចមានតែអក្សរ ដកឃ្លា សញ្ញាដាច់ (-) សញ្ញាក្បៀសលើ (') និងចំណុច (.) ប៉ុណ្ណោះ។",
    },
    "name_invisible": {
        "en": "Your name contains invisible or direction-changing characters; please type it again.",
        "km": "ឈ្មោះមានតួអក្សរមើលមិនឃើញ ឬតួអក្សរប្តូរទិសដៅ។ សូមវាយម្តងទៀត។",
    },
    "name_khmer_malformed": {
        "en": "The Khmer spelling looks broken near character {position} (for example a subscript sign with no letter). Please check it.",
        "km": "អក្ខរាវិរុទ្ធខ្មែរហាក់ខុសនៅជិតតួអក្សរទី {position} (ឧ. ជើងអក្សរគ្មានតួអក្សរ)។ សូមពិនិត្យ។",
    },
    "country_required": {"en": "Please choose your country of residence.", "km": "សូមជ្រើសរើសប្រទេសដែលអ្នករស់នៅ។"},
    "country_unknown": {"en": "We do not know this country code.", "km": "យើងមិនស្គាល់លេខកូដប្រទេសនេះទេ។"},
    "language_invalid": {
        "en": "Choose English or Khmer for the certificate.",
        "km": "សូមជ្រើសភាសាអង់គ្លេស ឬខ្មែរ សម្រាប់វិញ្ញាបនបត្រ។",
    },
    "channels_required": {
        "en": "Choose at least one way to receive your certificate.",
        "km": "សូមជ្រើសយ៉ាងហោចណាស់មធ្យោបាយមួយ ដើម្បីទទួលវិញ្ញាបនបត្រ។",
    },
    "channel_unknown": {"en": "Unknown delivery channel: {channel}.", "km": "មធ្យោបាយផ្ញើមិនស្គាល់៖ {channel}។"},
    "email_required": {
        "en": "Email was chosen: please give your email address.",
        "km": "អ្នកបានជ្រើសអ៊ីមែល៖ សូមផ្តល់អាសយដ្ឋានអ៊ីមែល។",
    },
    "email_invalid": {"en": "This email address is not valid.", "km": "អាសយដ្ឋានអ៊ីមែលនេះមិនត្រឹមត្រូវទេ។"},
    "phone_required": {
        "en": "Signal or WhatsApp was chosen: please give your mobile number.",
        "km": "អ្នកបានជ្រើស Signal ឬ WhatsApp៖ សូមផ្តល់លេខទូរស័ព្ទដៃ។",
    },
    "phone_invalid": {
        "en": "This phone number is not valid for {country}.",
        "km": "លេខទូរស័ព្ទនេះមិនត្រឹមត្រូវសម្រាប់ {country} ទេ។",
    },
    "phone_landline": {
        "en": "This looks like a landline; Signal and WhatsApp need a mobile number.",
        "km": "លេខនេះហាក់ជាទូរស័ព្ទលើតុ។ Signal និង WhatsApp ត្រូវការលេខទូរស័ព្ទដៃ។",
    },
    "address_required": {
        "en": "Post was chosen: please give your postal address.",
        "km": "អ្នកបានជ្រើសប្រៃសណីយ៍៖ សូមផ្តល់អាសយដ្ឋានប្រៃសណីយ៍។",
    },
    "address_field_required": {
        "en": "This part of the address is required in {country}.",
        "km": "ផ្នែកនៃអាសយដ្ឋាននេះត្រូវតែមាននៅ {country}។",
    },
    "address_field_invalid": {
        "en": "This part of the address is not valid in {country}.",
        "km": "ផ្នែកនៃអាសយដ្ឋាននេះមិនត្រឹមត្រូវនៅ {country} ទេ។",
    },
    "consent_required": {
        "en": "Please confirm that you agree, so that we can record your pledge.",
        "km": "សូមបញ្ជាក់ថាអ្នកយល់ព្រម ដើម្បីឱ្យយើងកត់ត្រាការសន្យារបស់អ្នក។",
    },
    "too_long": {"en": "This is too long (at most {max} characters).", "km": "វែងពេក (យ៉ាងច្រើន {max} តួអក្សរ)។"},
    "honeypot": {
        "en": "This submission looks automated and was not accepted. If you are a person, leave the last field empty.",
        "km": "ការដាក់ស្នើនេះហាក់ជាស្វ័យប្រវត្តិ ហើយមិនត្រូវបានទទួលទេ។",
    },
    "invalid_value": {"en": "This value is not valid.", "km": "តម្លៃនេះមិនត្រឹមត្រូវទេ។"},
}


def message(key: str, lang: Lang, **values: object) -> str:
    return MESSAGES[key][lang].format(**values)


@cache
def countries(lang: Lang) -> list[tuple[str, str]]:
    """(ISO code, name in `lang`) for every region with a phone numbering plan, sorted by name."""
    names = Locale(lang).territories
    english = Locale("en").territories
    codes = sorted(phonenumbers.SUPPORTED_REGIONS)
    pairs = [(code, names.get(code) or english.get(code) or code) for code in codes if code != "001"]
    return sorted(pairs, key=lambda pair: pair[1])


def country_name(code: str, lang: Lang) -> str:
    return dict(countries(lang)).get(code, code)
