"""Words of every page: the frame, navigation, sign-in, errors."""

from __future__ import annotations

from shared.contracts.languages import Lang

WORDS: dict[str, dict[Lang, str]] = {
    "console_title": {"en": "Samleng operator console", "km": "ផ្ទាំងគ្រប់គ្រងប្រតិបត្តិករ Samleng"},
    "skip_to_content": {"en": "Skip to content", "km": "រំលងទៅខ្លឹមសារ"},
    "switch_language": {"en": "ភាសាខ្មែរ", "km": "English"},
    "main_navigation": {"en": "Main", "km": "មេ"},
    "nav_dashboard": {"en": "Dashboard", "km": "ផ្ទាំងព័ត៌មាន"},
    "nav_alerts": {"en": "Alerts", "km": "ការជូនដំណឹង"},
    "nav_sessions": {"en": "Sessions", "km": "វគ្គ"},
    "nav_replies": {"en": "Replies", "km": "ការឆ្លើយតប"},
    "nav_members": {"en": "Members", "km": "សមាជិក"},
    "nav_dead_letters": {"en": "Dead letters", "km": "សារដែលបរាជ័យ"},
    "nav_operators": {"en": "Operators", "km": "ប្រតិបត្តិករ"},
    "nav_partner_keys": {"en": "Partner keys", "km": "សោដៃគូ"},
    "nav_audit": {"en": "Audit trail", "km": "កំណត់ត្រាសវនកម្ម"},
    "nav_account": {"en": "My account", "km": "គណនីរបស់ខ្ញុំ"},
    "signed_in_as": {"en": "Signed in as {name} ({role})", "km": "បានចូលជា {name} ({role})"},
    "sign_out": {"en": "Sign out", "km": "ចាកចេញ"},
    "sign_in": {"en": "Sign in", "km": "ចូល"},
    "sign_in_intro": {
        "en": "Operators only. Use your email, your password and the 6-digit code of your authenticator app.",
        "km": "សម្រាប់តែប្រតិបត្តិករប៉ុណ្ណោះ។ ប្រើអ៊ីមែល ពាក្យសម្ងាត់ និងលេខកូដ ៦ ខ្ទង់ពីកម្មវិធីផ្ទៀងផ្ទាត់របស់អ្នក។",
    },
    "email": {"en": "Email", "km": "អ៊ីមែល"},
    "password": {"en": "Password", "km": "ពាក្យសម្ងាត់"},
    "totp": {"en": "Code from your authenticator app", "km": "លេខកូដពីកម្មវិធីផ្ទៀងផ្ទាត់"},
    "totp_hint": {"en": "6 digits; a code works once.", "km": "៦ ខ្ទង់; លេខកូដមួយប្រើបានតែម្តង។"},
    "sign_in_failed": {
        "en": "Sign-in failed: the email, password or code is wrong, or the account is locked.",
        "km": "ការចូលបរាជ័យ៖ អ៊ីមែល ពាក្យសម្ងាត់ ឬលេខកូដមិនត្រឹមត្រូវ ឬគណនីត្រូវបានចាក់សោ។",
    },
    "sign_in_throttled": {
        "en": "Too many failed sign-ins from here. Please try again in {minutes} minutes.",
        "km": "មានការចូលបរាជ័យច្រើនពេកពីទីនេះ។ សូមព្យាយាមម្តងទៀតក្នុងរយៈពេល {minutes} នាទី។",
    },
    "signed_out": {"en": "You are signed out.", "km": "អ្នកបានចាកចេញហើយ។"},
    "required": {"en": "This field is required.", "km": "ត្រូវតែបំពេញចន្លោះនេះ។"},
    "errors_summary": {"en": "There is a problem", "km": "មានបញ្ហា"},
    "errors_summary_hint": {
        "en": "Please correct the fields marked below; nothing was saved.",
        "km": "សូមកែតម្រូវចន្លោះដែលបានសម្គាល់ខាងក្រោម; គ្មានអ្វីត្រូវបានរក្សាទុកទេ។",
    },
    "forbidden_title": {"en": "Not allowed", "km": "មិនអនុញ្ញាត"},
    "forbidden": {
        "en": "Your role ({role}) may not do this. Ask an admin if you need it.",
        "km": "តួនាទីរបស់អ្នក ({role}) មិនអាចធ្វើការនេះបានទេ។ សូមសួរអ្នកគ្រប់គ្រង ប្រសិនបើអ្នកត្រូវការ។",
    },
    "not_found_title": {"en": "Not found", "km": "រកមិនឃើញ"},
    "not_found": {
        "en": "There is no such page, or what it showed no longer exists.",
        "km": "គ្មានទំព័រនេះទេ ឬអ្វីដែលវាបានបង្ហាញលែងមានទៀតហើយ។",
    },
    "form_expired_title": {"en": "The form had expired", "km": "ទម្រង់បានផុតកំណត់"},
    "form_expired": {
        "en": "This form was not sent (it had expired or came from another page). Nothing was done: go back, reload the page and submit again.",
        "km": "ទម្រង់នេះមិនត្រូវបានផ្ញើទេ (វាបានផុតកំណត់ ឬមកពីទំព័រផ្សេង)។ គ្មានអ្វីត្រូវបានធ្វើទេ៖ សូមត្រឡប់ក្រោយ ផ្ទុកទំព័រឡើងវិញ ហើយដាក់ស្នើម្តងទៀត។",
    },
    "unavailable_title": {"en": "Not done: please retry", "km": "មិនទាន់រួចរាល់៖ សូមព្យាយាមម្តងទៀត"},
    "unavailable": {
        "en": "The message bus did not confirm this action, so nothing was done. Please try again in a minute.",
        "km": "ប្រព័ន្ធផ្ញើសារមិនបានបញ្ជាក់សកម្មភាពនេះទេ ដូច្នេះគ្មានអ្វីត្រូវបានធ្វើទេ។ សូមព្យាយាមម្តងទៀតក្នុងមួយនាទី។",
    },
    "back_home": {"en": "Back to the dashboard", "km": "ត្រឡប់ទៅផ្ទាំងព័ត៌មាន"},
    "role_admin": {"en": "admin", "km": "អ្នកគ្រប់គ្រង"},
    "role_publisher": {"en": "publisher", "km": "អ្នកបោះពុម្ពផ្សាយ"},
    "role_editor": {"en": "editor", "km": "អ្នកកែសម្រួល"},
    "role_viewer": {"en": "viewer", "km": "អ្នកមើល"},
    "save": {"en": "Save", "km": "រក្សាទុក"},
    "cancel": {"en": "Cancel", "km": "បោះបង់"},
    "yes": {"en": "Yes", "km": "បាទ/ចាស"},
    "no": {"en": "No", "km": "ទេ"},
    "none_yet": {"en": "Nothing yet.", "km": "មិនទាន់មានអ្វីនៅឡើយទេ។"},
    "utc": {"en": "UTC", "km": "UTC"},
}
