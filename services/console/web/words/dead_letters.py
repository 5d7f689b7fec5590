"""Words of the dead-letter pages (services/console/web/dead_letters.py)."""

from __future__ import annotations

from shared.contracts.languages import Lang

WORDS: dict[str, dict[Lang, str]] = {
    "dead_letters_title": {"en": "Dead letters", "km": "សារដែលបរាជ័យ"},
    "dead_letters_intro": {
        "en": "Messages a service gave up on after its retries. Replay puts a letter back on its work queue, to be tried again from the first attempt; drop discards it. What a letter carries is never shown here, only why it failed.",
        "km": "សារដែលសេវាមួយបានបោះបង់ ក្រោយពីព្យាយាមម្តងហើយម្តងទៀត។ „ផ្ញើឡើងវិញ“ ដាក់សារត្រឡប់ទៅជួររង់ចាំការងាររបស់វាវិញ ដើម្បីព្យាយាមម្តងទៀតចាប់ពីលើកទីមួយ។ „លុបចោល“ បោះវាចោល។ ខ្លឹមសាររបស់សារមិនដែលបង្ហាញនៅទីនេះទេ មានតែមូលហេតុដែលវាបរាជ័យប៉ុណ្ណោះ។",
    },
    "dead_letters_queue": {"en": "Dead-letter queue", "km": "ជួររង់ចាំសារបរាជ័យ"},
    "dead_letters_of": {"en": "Service or channel", "km": "សេវា ឬបណ្តាញ"},
    "dead_letters_back_to": {"en": "Replayed onto", "km": "ផ្ញើឡើងវិញទៅ"},
    "dead_letters_count": {"en": "Letters", "km": "ចំនួនសារ"},
    "dead_letters_not_created": {"en": "not created yet", "km": "មិនទាន់បានបង្កើត"},
    "dead_letters_none_anywhere": {"en": "No dead letters anywhere.", "km": "គ្មានសារបរាជ័យនៅកន្លែងណាទេ។"},
    "dead_letters_empty": {"en": "No dead letters in this queue.", "km": "គ្មានសារបរាជ័យក្នុងជួររង់ចាំនេះទេ។"},
    "dead_letters_shown": {
        "en": "In the queue: {count}. Listed below, oldest first: {shown}.",
        "km": "នៅក្នុងជួររង់ចាំ៖ {count}។ រាយបញ្ជីខាងក្រោម ចាស់ជាងគេមុន៖ {shown}។",
    },
    "dead_letters_by_reason": {"en": "By reason", "km": "តាមមូលហេតុ"},
    "dead_letters_message_id": {"en": "Message id", "km": "លេខសម្គាល់សារ"},
    "dead_letters_type": {"en": "Type", "km": "ប្រភេទ"},
    "dead_letters_reason": {"en": "Reason", "km": "មូលហេតុ"},
    "dead_letters_error": {"en": "Error", "km": "កំហុស"},
    "dead_letters_attempts": {"en": "Attempts", "km": "ចំនួនដងដែលបានព្យាយាម"},
    "dead_letters_failed_at": {"en": "Failed at", "km": "បរាជ័យនៅ"},
    "dead_letters_actions": {"en": "Actions", "km": "សកម្មភាព"},
    "dead_letters_replay": {"en": "Replay", "km": "ផ្ញើឡើងវិញ"},
    "dead_letters_drop": {"en": "Drop", "km": "លុបចោល"},
    "dead_letters_replay_all": {"en": "Replay all…", "km": "ផ្ញើទាំងអស់ឡើងវិញ…"},
    "dead_letters_drop_all": {"en": "Drop all…", "km": "លុបចោលទាំងអស់…"},
    "dead_letters_no_id": {"en": "(no id)", "km": "(គ្មានលេខសម្គាល់)"},
    "dead_letters_confirm_replay": {
        "en": "Replay every letter of {queue} ({count})?",
        "km": "ផ្ញើសារទាំងអស់នៃ {queue} ({count}) ឡើងវិញឬ?",
    },
    "dead_letters_confirm_drop": {
        "en": "Drop every letter of {queue} ({count})?",
        "km": "លុបចោលសារទាំងអស់នៃ {queue} ({count}) ឬ?",
    },
    "dead_letters_confirm_replay_text": {
        "en": "Every letter goes back onto {work_queue} and is tried again from the first attempt. If the cause is not fixed, they will end up here again.",
        "km": "សារនីមួយៗត្រឡប់ទៅ {work_queue} វិញ ហើយត្រូវបានព្យាយាមម្តងទៀតចាប់ពីលើកទីមួយ។ ប្រសិនបើមូលហេតុមិនទាន់បានដោះស្រាយ វានឹងត្រឡប់មកទីនេះម្តងទៀត។",
    },
    "dead_letters_confirm_drop_text": {
        "en": "Every letter is discarded and cannot be brought back. What they would have done does not happen.",
        "km": "សារនីមួយៗត្រូវបានបោះចោល ហើយមិនអាចយកមកវិញបានទេ។ អ្វីដែលវានឹងធ្វើ នឹងមិនកើតឡើងទេ។",
    },
    "dead_letters_yes_replay": {"en": "Yes, replay all", "km": "បាទ/ចាស ផ្ញើទាំងអស់ឡើងវិញ"},
    "dead_letters_yes_drop": {"en": "Yes, drop all", "km": "បាទ/ចាស លុបចោលទាំងអស់"},
    "dead_letters_cancel": {"en": "No, go back", "km": "ទេ ត្រឡប់ក្រោយ"},
    "dead_letters_replayed": {
        "en": "{count} replayed onto {work_queue}.",
        "km": "បានផ្ញើ {count} ឡើងវិញទៅ {work_queue}។",
    },
    "dead_letters_dropped": {"en": "{count} dropped.", "km": "បានលុបចោល {count}។"},
    "dead_letters_gone": {
        "en": "That letter is no longer in the queue: it was replayed or dropped already.",
        "km": "សារនោះលែងនៅក្នុងជួររង់ចាំទៀតហើយ៖ វាត្រូវបានផ្ញើឡើងវិញ ឬលុបចោលរួចហើយ។",
    },
    "dead_letters_all_queues": {"en": "All dead-letter queues", "km": "ជួររង់ចាំសារបរាជ័យទាំងអស់"},
    "dead_letters_band": {"en": "{channel} ({band} priority)", "km": "{channel} (អាទិភាព{band})"},
    "dead_letters_band_high": {"en": "high", "km": "ខ្ពស់"},
    "dead_letters_band_normal": {"en": "normal", "km": "ធម្មតា"},
    "dead_letters_band_low": {"en": "low", "km": "ទាប"},
    "dead_letters_confirm_drop_one": {
        "en": "Drop the letter {message_id} of {queue}?",
        "km": "លុបចោលសារ {message_id} នៃ {queue} ឬ?",
    },
    "dead_letters_confirm_drop_one_text": {
        "en": "The letter is discarded and cannot be brought back. What it would have done does not happen.",
        "km": "សារនេះត្រូវបានបោះចោល ហើយមិនអាចយកមកវិញបានទេ។ អ្វីដែលវានឹងធ្វើ នឹងមិនកើតឡើងទេ។",
    },
    "dead_letters_yes_drop_one": {"en": "Yes, drop it", "km": "បាទ/ចាស លុបចោលវា"},
}
