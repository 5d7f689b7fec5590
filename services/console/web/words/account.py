"""Words of "My account": who I am, my password, my second factor, my API tokens; and the field
errors the account and admin forms share."""

from __future__ import annotations

from shared.contracts.languages import Lang

WORDS: dict[str, dict[Lang, str]] = {
    "account_title": {"en": "My account", "km": "គណនីរបស់ខ្ញុំ"},
    "account_you": {"en": "You", "km": "អ្នក"},
    "account_name": {"en": "Name", "km": "ឈ្មោះ"},
    "account_role": {"en": "Role", "km": "តួនាទី"},
    "account_permissions": {"en": "What your role may do", "km": "អ្វីដែលតួនាទីរបស់អ្នកអាចធ្វើបាន"},
    "account_permission_operators.manage": {
        "en": "manage operators and their roles",
        "km": "គ្រប់គ្រងប្រតិបត្តិករ និងតួនាទីរបស់ពួកគេ",
    },
    "account_permission_audit.read": {"en": "read the audit trail", "km": "អានកំណត់ត្រាសវនកម្ម"},
    "account_permission_keys.manage": {"en": "manage partner keys", "km": "គ្រប់គ្រងសោដៃគូ"},
    "account_permission_dashboard.read": {"en": "see the dashboard", "km": "មើលផ្ទាំងព័ត៌មាន"},
    "account_permission_alerts.draft": {"en": "draft alerts", "km": "សរសេរសេចក្តីព្រាងការជូនដំណឹង"},
    "account_permission_alerts.publish": {
        "en": "publish and approve alerts",
        "km": "បោះពុម្ពផ្សាយ និងអនុម័តការជូនដំណឹង",
    },
    "account_permission_sessions.draft": {"en": "draft sessions", "km": "សរសេរសេចក្តីព្រាងវគ្គ"},
    "account_permission_sessions.publish": {
        "en": "publish and change sessions",
        "km": "បោះពុម្ពផ្សាយ និងផ្លាស់ប្តូរវគ្គ",
    },
    "account_permission_deliveries.read": {"en": "see deliveries", "km": "មើលការបញ្ជូន"},
    "account_permission_members.read_personal": {
        "en": "read members' personal details (each read is recorded)",
        "km": "អានព័ត៌មានផ្ទាល់ខ្លួនរបស់សមាជិក (ការអាននីមួយៗត្រូវបានកត់ត្រា)",
    },
    "account_permission_members.import": {
        "en": "import sign-up sheets and subscribers",
        "km": "នាំចូលសន្លឹកចុះឈ្មោះ និងអ្នកជាវ",
    },
    "account_permission_members.erase": {
        "en": "export and erase members' data",
        "km": "នាំចេញ និងលុបទិន្នន័យសមាជិក",
    },
    "account_permission_certificates.reissue": {"en": "re-issue certificates", "km": "ចេញវិញ្ញាបនបត្រឡើងវិញ"},
    "account_permission_dead_letters.manage": {
        "en": "replay and drop dead letters",
        "km": "ផ្ញើឡើងវិញ និងបោះចោលសារដែលបរាជ័យ",
    },
    "account_permission_replies.answer": {"en": "answer members' replies", "km": "ឆ្លើយតបសាររបស់សមាជិក"},
    "account_password_heading": {"en": "Change your password", "km": "ប្តូរពាក្យសម្ងាត់របស់អ្នក"},
    "account_password_intro": {
        "en": "Your other sign-ins (other browsers, other devices) end when you change it; this one stays.",
        "km": "ការចូលផ្សេងទៀតរបស់អ្នក (កម្មវិធីរុករក ឬឧបករណ៍ផ្សេង) នឹងបញ្ចប់នៅពេលអ្នកប្តូរវា; ការចូលនេះនៅដដែល។",
    },
    "account_current_password": {"en": "Current password", "km": "ពាក្យសម្ងាត់បច្ចុប្បន្ន"},
    "account_new_password": {"en": "New password", "km": "ពាក្យសម្ងាត់ថ្មី"},
    "account_new_password_hint": {
        "en": "At least {n} characters, and not your email address. A few unrelated words make a good one.",
        "km": "យ៉ាងហោចណាស់ {n} តួអក្សរ ហើយមិនមែនជាអាសយដ្ឋានអ៊ីមែលរបស់អ្នកទេ។ ពាក្យពីរបីដែលមិនទាក់ទងគ្នា ជាពាក្យសម្ងាត់ល្អ។",
    },
    "account_repeat_password": {"en": "New password again", "km": "ពាក្យសម្ងាត់ថ្មីម្តងទៀត"},
    "account_change_password": {"en": "Change password", "km": "ប្តូរពាក្យសម្ងាត់"},
    "account_password_changed": {
        "en": "Your password was changed. Other sign-ins ended: {n}.",
        "km": "ពាក្យសម្ងាត់របស់អ្នកត្រូវបានប្តូរ។ ការចូលផ្សេងទៀតដែលបានបញ្ចប់៖ {n}។",
    },
    "account_totp_heading": {"en": "Second factor", "km": "កត្តាផ្ទៀងផ្ទាត់ទីពីរ"},
    "account_totp_intro": {
        "en": "Move your sign-in codes to a new authenticator app (a new phone, say). The codes you use now keep working until you confirm the new entry.",
        "km": "ផ្ទេរលេខកូដចូលរបស់អ្នកទៅកម្មវិធីផ្ទៀងផ្ទាត់ថ្មី (ឧទាហរណ៍ ទូរស័ព្ទថ្មី)។ លេខកូដដែលអ្នកប្រើឥឡូវនេះនៅតែដំណើរការ រហូតដល់អ្នកបញ្ជាក់ធាតុថ្មី។",
    },
    "account_totp_start": {"en": "Get a new authenticator key", "km": "យកសោផ្ទៀងផ្ទាត់ថ្មី"},
    "account_totp_scan": {
        "en": "Scan this QR code with your authenticator app, or copy the key below into it. It is shown only this once.",
        "km": "ស្កេនកូដ QR នេះដោយកម្មវិធីផ្ទៀងផ្ទាត់របស់អ្នក ឬចម្លងសោខាងក្រោមចូលទៅក្នុងវា។ វាត្រូវបានបង្ហាញតែម្តងនេះប៉ុណ្ណោះ។",
    },
    "account_totp_uri": {"en": "Authenticator key (otpauth address)", "km": "សោផ្ទៀងផ្ទាត់ (អាសយដ្ឋាន otpauth)"},
    "account_totp_qr_alt": {
        "en": "QR code of the new authenticator key",
        "km": "កូដ QR នៃសោផ្ទៀងផ្ទាត់ថ្មី",
    },
    "account_totp_pending": {
        "en": "A new authenticator key waits for your confirmation until {time}. Enter a code from its new entry in your app; until then your old codes work.",
        "km": "សោផ្ទៀងផ្ទាត់ថ្មីកំពុងរង់ចាំការបញ្ជាក់របស់អ្នករហូតដល់ {time}។ សូមបញ្ចូលលេខកូដពីធាតុថ្មីក្នុងកម្មវិធីរបស់អ្នក; រហូតដល់ពេលនោះ លេខកូដចាស់របស់អ្នកនៅតែដំណើរការ។",
    },
    "account_totp_code": {"en": "Code from the new entry", "km": "លេខកូដពីធាតុថ្មី"},
    "account_totp_confirm": {"en": "Confirm the new key", "km": "បញ្ជាក់សោថ្មី"},
    "account_totp_changed": {
        "en": "Your second factor was replaced: codes from the old entry no longer work, and you may delete it from your app.",
        "km": "កត្តាផ្ទៀងផ្ទាត់ទីពីររបស់អ្នកត្រូវបានជំនួស៖ លេខកូដពីធាតុចាស់លែងដំណើរការទៀតហើយ ហើយអ្នកអាចលុបវាចេញពីកម្មវិធីរបស់អ្នក។",
    },
    "account_tokens_heading": {"en": "API tokens for scripts", "km": "ថូខឹន API សម្រាប់ស្គ្រីប"},
    "account_tokens_intro": {
        "en": "A token lets a script use the operator API as you: whoever holds it can do what you can. Keep it secret, and revoke it when it is no longer needed.",
        "km": "ថូខឹនអនុញ្ញាតឱ្យស្គ្រីបប្រើ API ប្រតិបត្តិករក្នុងនាមអ្នក៖ អ្នកណាដែលមានវា អាចធ្វើអ្វីដែលអ្នកអាចធ្វើបាន។ សូមរក្សាវាជាសម្ងាត់ ហើយដកហូតវាចេញនៅពេលលែងត្រូវការ។",
    },
    "account_tokens_caption": {"en": "Your live tokens", "km": "ថូខឹនដែលកំពុងប្រើរបស់អ្នក"},
    "account_tokens_none": {"en": "You have no API tokens.", "km": "អ្នកមិនមានថូខឹន API ទេ។"},
    "account_token_name": {"en": "Name", "km": "ឈ្មោះ"},
    "account_token_name_hint": {
        "en": "What the script is, e.g. nightly import.",
        "km": "ស្គ្រីបនោះជាអ្វី ឧទាហរណ៍ ការនាំចូលពេលយប់។",
    },
    "account_token_days": {"en": "Valid for (days)", "km": "មានសុពលភាព (ថ្ងៃ)"},
    "account_token_create": {"en": "Create token", "km": "បង្កើតថូខឹន"},
    "account_token_created": {
        "en": "Your new token “{name}”. Copy it now: it is shown only this once.",
        "km": "ថូខឹនថ្មីរបស់អ្នក “{name}”។ សូមចម្លងវាឥឡូវនេះ៖ វាត្រូវបានបង្ហាញតែម្តងនេះប៉ុណ្ណោះ។",
    },
    "account_token_created_at": {"en": "Created", "km": "បានបង្កើត"},
    "account_token_expires_at": {"en": "Expires", "km": "ផុតកំណត់"},
    "account_token_last_used": {"en": "Last used", "km": "ប្រើចុងក្រោយ"},
    "account_token_never": {"en": "never", "km": "មិនដែល"},
    "account_token_revoke": {"en": "Revoke", "km": "ដកហូត"},
    "account_token_revoke_named": {"en": "Revoke token {name}", "km": "ដកហូតថូខឹន {name}"},
    "account_token_revoked": {
        "en": "The token was revoked: it stopped working at once.",
        "km": "ថូខឹនត្រូវបានដកហូត៖ វាឈប់ដំណើរការភ្លាមៗ។",
    },
    "account_token_gone": {
        "en": "That token was already revoked.",
        "km": "ថូខឹននោះត្រូវបានដកហូតរួចហើយ។",
    },
    "account_actions": {"en": "Actions", "km": "សកម្មភាព"},
    "account_error_too_short": {"en": "At least {n} characters.", "km": "យ៉ាងហោចណាស់ {n} តួអក្សរ។"},
    "account_error_too_long": {"en": "At most {n} characters.", "km": "យ៉ាងច្រើន {n} តួអក្សរ។"},
    "account_error_number": {"en": "Enter a whole number.", "km": "សូមបញ្ចូលចំនួនគត់។"},
    "account_error_at_least": {"en": "Enter {n} or more.", "km": "សូមបញ្ចូល {n} ឬច្រើនជាងនេះ។"},
    "account_error_at_most": {"en": "Enter {n} or less.", "km": "សូមបញ្ចូល {n} ឬតិចជាងនេះ។"},
    "account_error_choice": {"en": "Choose one of the options.", "km": "សូមជ្រើសរើសជម្រើសមួយ។"},
    "account_error_invalid": {"en": "This is not valid.", "km": "នេះមិនត្រឹមត្រូវទេ។"},
    "account_error_wrong_password": {
        "en": "This is not your current password.",
        "km": "នេះមិនមែនជាពាក្យសម្ងាត់បច្ចុប្បន្នរបស់អ្នកទេ។",
    },
    "account_error_locked": {
        "en": "Too many wrong passwords: please try again later.",
        "km": "ពាក្យសម្ងាត់ខុសច្រើនដងពេក៖ សូមព្យាយាមម្តងទៀតនៅពេលក្រោយ។",
    },
    "account_error_is_email": {
        "en": "Your email address cannot be your password.",
        "km": "អាសយដ្ឋានអ៊ីមែលរបស់អ្នកមិនអាចជាពាក្យសម្ងាត់របស់អ្នកបានទេ។",
    },
    "account_error_unchanged": {
        "en": "The new password must differ from the current one.",
        "km": "ពាក្យសម្ងាត់ថ្មីត្រូវតែខុសពីពាក្យសម្ងាត់បច្ចុប្បន្ន។",
    },
    "account_error_mismatch": {
        "en": "The two new passwords differ.",
        "km": "ពាក្យសម្ងាត់ថ្មីទាំងពីរមិនដូចគ្នាទេ។",
    },
    "account_error_code": {
        "en": "Not a code of the new entry, or the key expired: try the next code, or get a new key.",
        "km": "មិនមែនជាលេខកូដនៃធាតុថ្មី ឬសោបានផុតកំណត់៖ សូមសាកល្បងលេខកូដបន្ទាប់ ឬយកសោថ្មី។",
    },
    "account_confirm_revoke": {"en": "Revoke the token {name}?", "km": "ដកហូតថូខឹន {name} ឬ?"},
    "account_confirm_revoke_text": {
        "en": "It stops working at once: a script that uses it is refused from then on. "
        "This cannot be undone; you can make a new token.",
        "km": "វានឹងឈប់ដំណើរការភ្លាមៗ៖ ស្គ្រីបដែលប្រើវានឹងត្រូវបានបដិសេធចាប់ពីពេលនោះតទៅ។ "
        "សកម្មភាពនេះមិនអាចត្រឡប់វិញបានទេ ប៉ុន្តែអ្នកអាចបង្កើតថូខឹនថ្មីបាន។",
    },
    "account_confirm_yes_revoke": {"en": "Yes, revoke it", "km": "បាទ/ចាស ដកហូតវា"},
    "account_confirm_keep": {"en": "No, go back", "km": "ទេ ត្រឡប់ក្រោយ"},
}
