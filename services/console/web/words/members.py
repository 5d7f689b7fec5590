"""Words of the member lookup and the member page (services/console/web/members.py)."""

from __future__ import annotations

from shared.contracts.languages import Lang

WORDS: dict[str, dict[Lang, str]] = {
    "members_title": {"en": "Members", "km": "សមាជិក"},
    "members_intro": {
        "en": "Find a member by their exact email address or phone number. There is no list of members: it would put the people we protect at risk if it leaked.",
        "km": "ស្វែងរកសមាជិកតាមអាសយដ្ឋានអ៊ីមែល ឬលេខទូរស័ព្ទពិតប្រាកដរបស់ពួកគេ។ មិនមានបញ្ជីសមាជិកទេ៖ វានឹងធ្វើឱ្យមនុស្សដែលយើងការពារមានហានិភ័យ ប្រសិនបើវាលេចធ្លាយ។",
    },
    "members_email": {"en": "Email address", "km": "អាសយដ្ឋានអ៊ីមែល"},
    "members_email_hint": {
        "en": "The whole address, e.g. name@example.org.",
        "km": "អាសយដ្ឋានពេញលេញ ឧ. name@example.org។",
    },
    "members_phone": {"en": "Phone number", "km": "លេខទូរស័ព្ទ"},
    "members_phone_hint": {
        "en": "With the country code, e.g. +855 12 345 678.",
        "km": "ជាមួយលេខកូដប្រទេស ឧ. +855 12 345 678។",
    },
    "members_look_up": {"en": "Look up", "km": "ស្វែងរក"},
    "members_email_invalid": {"en": "This is not an email address.", "km": "នេះមិនមែនជាអាសយដ្ឋានអ៊ីមែលទេ។"},
    "members_phone_invalid": {
        "en": "This is not a phone number with its country code (+...).",
        "km": "នេះមិនមែនជាលេខទូរស័ព្ទដែលមានលេខកូដប្រទេស (+...) ទេ។",
    },
    "members_contact_required": {
        "en": "Give an email address or a phone number.",
        "km": "សូមផ្តល់អាសយដ្ឋានអ៊ីមែល ឬលេខទូរស័ព្ទ។",
    },
    "members_found_none": {"en": "No member holds this contact.", "km": "គ្មានសមាជិកណាមានទំនាក់ទំនងនេះទេ។"},
    "members_found_several": {
        "en": "{count} members hold these contacts:",
        "km": "សមាជិក {count} នាក់មានទំនាក់ទំនងទាំងនេះ៖",
    },
    "members_another": {"en": "Look up another member", "km": "ស្វែងរកសមាជិកផ្សេងទៀត"},
    "members_erased_title": {"en": "Erased member", "km": "សមាជិកដែលត្រូវបានលុប"},
    "members_erased": {
        "en": "Everything personal about this member was erased; only counts remain.",
        "km": "អ្វីៗទាំងអស់ដែលជាព័ត៌មានផ្ទាល់ខ្លួនរបស់សមាជិកនេះត្រូវបានលុប; មានតែចំនួនប៉ុណ្ណោះដែលនៅសល់។",
    },
    "members_id": {"en": "Id", "km": "លេខសម្គាល់"},
    "members_emails": {"en": "Email addresses", "km": "អាសយដ្ឋានអ៊ីមែល"},
    "members_phones": {"en": "Phone numbers", "km": "លេខទូរស័ព្ទ"},
    "members_messenger": {"en": "Messenger linked", "km": "បានភ្ជាប់ Messenger"},
    "members_country": {"en": "Country", "km": "ប្រទេស"},
    "members_language": {"en": "Language", "km": "ភាសា"},
    "members_channels": {"en": "Channels, in their order", "km": "បណ្តាញ តាមលំដាប់របស់ពួកគេ"},
    "members_stopped": {"en": "Stopped", "km": "បានបញ្ឈប់"},
    "members_alerts": {"en": "Urgent Action alerts", "km": "ការជូនដំណឹងសកម្មភាពបន្ទាន់"},
    "members_last_wrote": {"en": "Last wrote to us", "km": "បានសរសេរមកយើងចុងក្រោយ"},
    "members_never": {"en": "never", "km": "មិនដែល"},
    "members_replies": {"en": "Chat replies", "km": "ការឆ្លើយតបតាមការជជែក"},
    "members_yes": {"en": "yes", "km": "បាទ/ចាស"},
    "members_no": {"en": "no", "km": "ទេ"},
    "members_none": {"en": "none", "km": "គ្មាន"},
    "members_export": {"en": "Download everything held (JSON)", "km": "ទាញយកអ្វីៗទាំងអស់ដែលបានរក្សាទុក (JSON)"},
    "members_erase": {"en": "Erase this member", "km": "លុបសមាជិកនេះ"},
    "members_erase_warning": {
        "en": "Erase everything held about {member}: their details, certificates, deliveries and replies, everywhere, for good. Counts stay, naming nobody. This cannot be undone.",
        "km": "លុបអ្វីៗទាំងអស់ដែលបានរក្សាទុកអំពី {member}៖ ព័ត៌មានលម្អិត វិញ្ញាបនបត្រ ការបញ្ជូន និងការឆ្លើយតបរបស់ពួកគេ នៅគ្រប់ទីកន្លែង ជារៀងរហូត។ ចំនួននៅតែមាន ដោយមិនដាក់ឈ្មោះនរណាម្នាក់។ មិនអាចត្រឡប់វិញបានទេ។",
    },
    "members_erase_confirm": {"en": "Yes, erase this member", "km": "បាទ/ចាស លុបសមាជិកនេះ"},
    "members_cancel": {"en": "Cancel", "km": "បោះបង់"},
    "members_back_to_member": {"en": "Back to the member", "km": "ត្រឡប់ទៅសមាជិកវិញ"},
    "members_erase_requested": {
        "en": "Erasure requested: it takes effect in every service within moments.",
        "km": "បានស្នើសុំការលុប៖ វានឹងមានប្រសិទ្ធភាពនៅគ្រប់សេវាកម្មក្នុងពេលបន្តិចទៀត។",
    },
    "members_erase_already": {"en": "This member was erased already.", "km": "សមាជិកនេះត្រូវបានលុបរួចហើយ។"},
    "members_consents": {"en": "Consents", "km": "ការយល់ព្រម"},
    "members_consent_kind": {"en": "For", "km": "សម្រាប់"},
    "members_consent_granted": {"en": "Given", "km": "បានផ្តល់"},
    "members_consent_source": {"en": "Where", "km": "ទីកន្លែង"},
    "members_consent_text": {"en": "Text version", "km": "កំណែអត្ថបទ"},
    "members_when": {"en": "When", "km": "ពេលណា"},
    "members_subscriptions": {"en": "Subscriptions", "km": "ការជាវ"},
    "members_state": {"en": "State", "km": "ស្ថានភាព"},
    "members_deliveries": {"en": "Recent deliveries", "km": "ការបញ្ជូនថ្មីៗ"},
    "members_channel": {"en": "Channel", "km": "បណ្តាញ"},
    "members_purpose": {"en": "What", "km": "អ្វី"},
    "members_reason": {"en": "Reason", "km": "មូលហេតុ"},
}
