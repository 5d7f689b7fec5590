"""Words of the admin pages: operators and roles, partner keys, the audit trail."""

from __future__ import annotations

from shared.contracts.languages import Lang

WORDS: dict[str, dict[Lang, str]] = {
    "admin_operators_title": {"en": "Operators", "km": "ប្រតិបត្តិករ"},
    "admin_operators_caption": {"en": "Every operator", "km": "ប្រតិបត្តិករទាំងអស់"},
    "admin_col_name": {"en": "Name", "km": "ឈ្មោះ"},
    "admin_col_email": {"en": "Email", "km": "អ៊ីមែល"},
    "admin_col_role": {"en": "Role", "km": "តួនាទី"},
    "admin_col_state": {"en": "State", "km": "ស្ថានភាព"},
    "admin_col_last_sign_in": {"en": "Last sign-in", "km": "ការចូលចុងក្រោយ"},
    "admin_col_actions": {"en": "Actions", "km": "សកម្មភាព"},
    "admin_state_active": {"en": "active", "km": "សកម្ម"},
    "admin_state_disabled": {"en": "disabled", "km": "បានបិទ"},
    "admin_state_locked": {"en": "locked until {time}", "km": "ជាប់សោរហូតដល់ {time}"},
    "admin_you": {"en": "you", "km": "អ្នក"},
    "admin_role_of": {"en": "Role of {name}", "km": "តួនាទីរបស់ {name}"},
    "admin_change_role": {"en": "Change role", "km": "ប្តូរតួនាទី"},
    "admin_disable": {"en": "Disable", "km": "បិទ"},
    "admin_disable_hint": {
        "en": "Disabling ends their sign-ins and API tokens at once.",
        "km": "ការបិទនឹងបញ្ចប់ការចូល និងថូខឹន API របស់ពួកគេភ្លាមៗ។",
    },
    "admin_enable": {"en": "Enable", "km": "បើក"},
    "admin_unlock": {"en": "Unlock", "km": "ដោះសោ"},
    "admin_reset": {"en": "New password and key", "km": "ពាក្យសម្ងាត់ និងសោថ្មី"},
    "admin_new_operator": {"en": "New operator", "km": "ប្រតិបត្តិករថ្មី"},
    "admin_display_name": {"en": "Name", "km": "ឈ្មោះ"},
    "admin_email": {"en": "Email (their sign-in name)", "km": "អ៊ីមែល (ឈ្មោះសម្រាប់ចូលរបស់ពួកគេ)"},
    "admin_role": {"en": "Role", "km": "តួនាទី"},
    "admin_create_operator": {"en": "Create operator", "km": "បង្កើតប្រតិបត្តិករ"},
    "admin_operator_created": {
        "en": "{name} can now sign in. Give them this password and authenticator key over a safe channel: they are shown only this once.",
        "km": "{name} អាចចូលបានហើយឥឡូវនេះ។ សូមផ្តល់ពាក្យសម្ងាត់ និងសោផ្ទៀងផ្ទាត់នេះដល់ពួកគេតាមមធ្យោបាយសុវត្ថិភាព៖ វាត្រូវបានបង្ហាញតែម្តងនេះប៉ុណ្ណោះ។",
    },
    "admin_operator_reset": {
        "en": "New password and authenticator key of {name} (sign-ins and tokens ended: {n}). Give them over a safe channel: they are shown only this once.",
        "km": "ពាក្យសម្ងាត់ និងសោផ្ទៀងផ្ទាត់ថ្មីរបស់ {name} (ការចូល និងថូខឹនដែលបានបញ្ចប់៖ {n})។ សូមផ្តល់ជូនតាមមធ្យោបាយសុវត្ថិភាព៖ វាត្រូវបានបង្ហាញតែម្តងនេះប៉ុណ្ណោះ។",
    },
    "admin_password": {"en": "Password", "km": "ពាក្យសម្ងាត់"},
    "admin_totp_uri": {"en": "Authenticator key (otpauth address)", "km": "សោផ្ទៀងផ្ទាត់ (អាសយដ្ឋាន otpauth)"},
    "admin_qr_alt": {
        "en": "QR code of the authenticator key of {name}",
        "km": "កូដ QR នៃសោផ្ទៀងផ្ទាត់របស់ {name}",
    },
    "admin_updated": {"en": "Saved: {name}.", "km": "បានរក្សាទុក៖ {name}។"},
    "admin_error_last_admin": {
        "en": "This is the last active admin: make someone else admin first.",
        "km": "នេះជាអ្នកគ្រប់គ្រងសកម្មចុងក្រោយ៖ សូមតែងតាំងអ្នកផ្សេងជាអ្នកគ្រប់គ្រងជាមុនសិន។",
    },
    "admin_error_taken": {
        "en": "An operator with this email exists.",
        "km": "មានប្រតិបត្តិករដែលមានអ៊ីមែលនេះរួចហើយ។",
    },
    "admin_error_email": {"en": "Enter an email address.", "km": "សូមបញ្ចូលអាសយដ្ឋានអ៊ីមែល។"},
    "admin_error_self_reset": {
        "en": "Another admin resets your credentials; you can change yours on My account.",
        "km": "អ្នកគ្រប់គ្រងម្នាក់ទៀតកំណត់ព័ត៌មានសម្ងាត់របស់អ្នកឡើងវិញ; អ្នកអាចប្តូររបស់អ្នកនៅលើគណនីរបស់ខ្ញុំ។",
    },
    "admin_error_gone": {
        "en": "There is no such operator or key (any more).",
        "km": "មិនមានប្រតិបត្តិករ ឬសោបែបនេះ (ទៀតទេ)។",
    },
    "admin_keys_title": {"en": "Partner keys", "km": "សោដៃគូ"},
    "admin_keys_intro": {
        "en": "Partner organisations' servers and web forms send pledges and registrations with a key of their own: it has its own rate limit, and the browser origins it may be used from.",
        "km": "ម៉ាស៊ីនមេ និងទម្រង់គេហទំព័ររបស់អង្គការដៃគូ ផ្ញើការសន្យា និងការចុះឈ្មោះដោយប្រើសោផ្ទាល់ខ្លួន៖ វាមានដែនកំណត់អត្រាផ្ទាល់ខ្លួន និងប្រភពកម្មវិធីរុករកដែលអាចប្រើវាបាន។",
    },
    "admin_keys_caption": {"en": "Keys, newest first", "km": "សោ ថ្មីបំផុតមុនគេ"},
    "admin_keys_none": {"en": "No partner keys yet.", "km": "មិនទាន់មានសោដៃគូនៅឡើយទេ។"},
    "admin_col_key": {"en": "Key", "km": "សោ"},
    "admin_col_rate": {"en": "Per minute", "km": "ក្នុងមួយនាទី"},
    "admin_col_origins": {"en": "Browser origins", "km": "ប្រភពកម្មវិធីរុករក"},
    "admin_col_created": {"en": "Created", "km": "បានបង្កើត"},
    "admin_key_active": {"en": "active", "km": "សកម្ម"},
    "admin_key_revoked_at": {"en": "revoked {time}", "km": "បានដកហូត {time}"},
    "admin_new_key": {"en": "New partner key", "km": "សោដៃគូថ្មី"},
    "admin_key_name": {"en": "Partner and form", "km": "ដៃគូ និងទម្រង់"},
    "admin_key_rate": {"en": "Requests per minute", "km": "សំណើក្នុងមួយនាទី"},
    "admin_key_origins": {"en": "Browser origins", "km": "ប្រភពកម្មវិធីរុករក"},
    "admin_key_origins_hint": {
        "en": "One per line, like https://partner.example.org. Leave empty for a server that sends without a browser.",
        "km": "មួយក្នុងមួយបន្ទាត់ ដូចជា https://partner.example.org។ ទុកឱ្យនៅទទេ សម្រាប់ម៉ាស៊ីនមេដែលផ្ញើដោយគ្មានកម្មវិធីរុករក។",
    },
    "admin_key_create": {"en": "Create key", "km": "បង្កើតសោ"},
    "admin_key_created": {
        "en": "The secret of key “{name}”: the partner sends it as X-Samleng-Key. Copy it now: it is shown only this once.",
        "km": "សម្ងាត់នៃសោ “{name}”៖ ដៃគូផ្ញើវាជា X-Samleng-Key។ សូមចម្លងវាឥឡូវនេះ៖ វាត្រូវបានបង្ហាញតែម្តងនេះប៉ុណ្ណោះ។",
    },
    "admin_key_secret": {"en": "Secret", "km": "សម្ងាត់"},
    "admin_key_revoke": {"en": "Revoke", "km": "ដកហូត"},
    "admin_key_revoke_named": {"en": "Revoke key {name}", "km": "ដកហូតសោ {name}"},
    "admin_key_revoked": {
        "en": "The key was revoked: the public site refuses it within a few minutes.",
        "km": "សោត្រូវបានដកហូត៖ គេហទំព័រសាធារណៈនឹងបដិសេធវាក្នុងរយៈពេលប៉ុន្មាននាទី។",
    },
    "admin_audit_title": {"en": "Audit trail", "km": "កំណត់ត្រាសវនកម្ម"},
    "admin_audit_intro": {
        "en": "Every sign-in and every change made in the console, newest first.",
        "km": "រាល់ការចូល និងរាល់ការផ្លាស់ប្តូរដែលបានធ្វើក្នុងផ្ទាំងគ្រប់គ្រង ថ្មីបំផុតមុនគេ។",
    },
    "admin_audit_filters": {"en": "Filter", "km": "តម្រង"},
    "admin_audit_operator": {"en": "Operator", "km": "ប្រតិបត្តិករ"},
    "admin_audit_action": {"en": "Action", "km": "សកម្មភាព"},
    "admin_audit_any": {"en": "any", "km": "ណាមួយ"},
    "admin_audit_since": {"en": "From (date)", "km": "ចាប់ពី (កាលបរិច្ឆេទ)"},
    "admin_audit_until": {"en": "To (date, included)", "km": "ដល់ (កាលបរិច្ឆេទ រួមបញ្ចូល)"},
    "admin_audit_date_hint": {"en": "Days in {zone}.", "km": "ថ្ងៃតាមម៉ោង {zone}។"},
    "admin_audit_show": {"en": "Show", "km": "បង្ហាញ"},
    "admin_audit_caption": {"en": "Events, newest first", "km": "ព្រឹត្តិការណ៍ ថ្មីបំផុតមុនគេ"},
    "admin_audit_none": {"en": "No events match.", "km": "គ្មានព្រឹត្តិការណ៍ដែលត្រូវគ្នាទេ។"},
    "admin_audit_older": {"en": "Older events", "km": "ព្រឹត្តិការណ៍ចាស់ៗ"},
    "admin_audit_newest": {"en": "Newest events", "km": "ព្រឹត្តិការណ៍ថ្មីបំផុត"},
    "admin_audit_nobody": {"en": "unknown (sign-in)", "km": "មិនស្គាល់ (ការចូល)"},
    "admin_audit_paging": {"en": "Pages", "km": "ទំព័រ"},
    "admin_col_when": {"en": "When ({zone})", "km": "ពេលណា ({zone})"},
    "admin_col_who": {"en": "Who", "km": "អ្នកណា"},
    "admin_col_action": {"en": "Action", "km": "សកម្មភាព"},
    "admin_col_object": {"en": "On", "km": "លើ"},
    "admin_col_outcome": {"en": "Outcome", "km": "លទ្ធផល"},
    "admin_col_detail": {"en": "Detail", "km": "ព័ត៌មានលម្អិត"},
    "admin_outcome_ok": {"en": "done", "km": "បានធ្វើ"},
    "admin_outcome_failed": {"en": "failed", "km": "បរាជ័យ"},
    "admin_outcome_denied": {"en": "refused", "km": "ត្រូវបានបដិសេធ"},
    "admin_error_date": {"en": "Enter a date.", "km": "សូមបញ្ចូលកាលបរិច្ឆេទ។"},
    "admin_error_dates": {
        "en": "The end date is before the start date.",
        "km": "កាលបរិច្ឆេទបញ្ចប់ នៅមុនកាលបរិច្ឆេទចាប់ផ្តើម។",
    },
    "admin_error_cursor": {
        "en": "This page of the trail no longer exists. Start again from the newest events.",
        "km": "ទំព័រនេះនៃកំណត់ត្រាលែងមានទៀតហើយ។ សូមចាប់ផ្តើមម្តងទៀតពីព្រឹត្តិការណ៍ថ្មីបំផុត។",
    },
    "admin_error_origin": {
        "en": "Not a browser origin like https://partner.example.org (no path): {origin}",
        "km": "មិនមែនជាប្រភពកម្មវិធីរុករកដូចជា https://partner.example.org (គ្មានផ្លូវ) ទេ៖ {origin}",
    },
    "admin_confirm_disable": {"en": "Disable {name}?", "km": "បិទ {name} ឬ?"},
    "admin_confirm_disable_text": {
        "en": "They can no longer sign in, and their sign-ins and API tokens end at once. "
        "You can enable them again later.",
        "km": "ពួកគេនឹងមិនអាចចូលបានទៀតទេ ហើយការចូល និងថូខឹន API របស់ពួកគេនឹងបញ្ចប់ភ្លាមៗ។ អ្នកអាចបើកពួកគេវិញនៅពេលក្រោយ។",
    },
    "admin_confirm_yes_disable": {"en": "Yes, disable them", "km": "បាទ/ចាស បិទពួកគេ"},
    "admin_confirm_reset": {
        "en": "Give {name} a new password and key?",
        "km": "ផ្តល់ពាក្យសម្ងាត់ និងសោថ្មីដល់ {name} ឬ?",
    },
    "admin_confirm_reset_text": {
        "en": "Their password and authenticator key stop working, and their sign-ins and API tokens "
        "end at once. You will see the new ones once, to hand over to them.",
        "km": "ពាក្យសម្ងាត់ និងសោកម្មវិធីផ្ទៀងផ្ទាត់របស់ពួកគេនឹងឈប់ដំណើរការ ហើយការចូល និងថូខឹន API "
        "របស់ពួកគេនឹងបញ្ចប់ភ្លាមៗ។ អ្នកនឹងឃើញរបស់ថ្មីតែម្តងគត់ ដើម្បីប្រគល់ឱ្យពួកគេ។",
    },
    "admin_confirm_yes_reset": {
        "en": "Yes, make a new password and key",
        "km": "បាទ/ចាស បង្កើតពាក្យសម្ងាត់ និងសោថ្មី",
    },
    "admin_confirm_keep": {"en": "No, go back", "km": "ទេ ត្រឡប់ក្រោយ"},
    "admin_confirm_revoke_key": {"en": "Revoke the key {name}?", "km": "ដកហូតសោ {name} ឬ?"},
    "admin_confirm_revoke_key_text": {
        "en": "The partner's site stops working with it within a few minutes. This cannot be "
        "undone: to go on, the partner needs a new key.",
        "km": "គេហទំព័ររបស់ដៃគូនឹងឈប់ដំណើរការជាមួយវាក្នុងរយៈពេលពីរបីនាទី។ សកម្មភាពនេះមិនអាចត្រឡប់វិញបានទេ៖ "
        "ដើម្បីបន្ត ដៃគូត្រូវការសោថ្មី។",
    },
    "admin_confirm_yes_revoke_key": {"en": "Yes, revoke the key", "km": "បាទ/ចាស ដកហូតសោ"},
}
