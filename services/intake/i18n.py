"""The public site's words in English and Khmer (UI keys), and which language a visitor reads.
Field-error messages live with the rules they explain (shared/contracts/languages.py)."""

from __future__ import annotations

from shared.channels.catalogue import channel_names, spec
from shared.contracts.languages import Lang, country_name, pick_language
from shared.contracts.pledge_input import either, labels, needing

__all__ = ["UI", "channel_label", "pick_language", "ui"]

CHANNEL_WORDS = {"phone_channels": "phone", "postal_channels": "postal_address", "email_channels": "email"}
"""Placeholders a text may use for "the channels that need this field", from their declarations."""


UI: dict[str, dict[Lang, str]] = {
    "title": {"en": "Khmer Community Advocacy Pledge", "km": "ការសន្យាតស៊ូមតិរបស់សហគមន៍ខ្មែរ"},
    "intro": {
        "en": "Sign the pledge and receive your personalised certificate.",
        "km": "ចុះហត្ថលេខាលើការសន្យា ហើយទទួលវិញ្ញាបនបត្រផ្ទាល់ខ្លួនរបស់អ្នក។",
    },
    "pledge_text": {
        "en": "I, {name}, pledge to the Khmer community worldwide to take the necessary steps and advocacy actions required to create a meaningful and effective change for Cambodia that we envision – a free and just society.",
        "km": "ខ្ញុំ {name} សូមសន្យាចំពោះសហគមន៍ខ្មែរទូទាំងពិភពលោក ថានឹងអនុវត្តជំហានចាំបាច់ និងសកម្មភាពតស៊ូមតិ ដើម្បីបង្កើតការផ្លាស់ប្តូរប្រកបដោយអត្ថន័យ និងប្រសិទ្ធភាពសម្រាប់កម្ពុជា ដែលយើងប្រាថ្នា – សង្គមមួយប្រកបដោយសេរីភាព និងយុត្តិធម៌។",
    },
    "blank_name": {"en": "____", "km": "____"},
    "switch_language": {"en": "ភាសាខ្មែរ", "km": "English"},
    "name": {"en": "Your name", "km": "ឈ្មោះរបស់អ្នក"},
    "name_hint": {
        "en": "As it should appear on your certificate, in any script.",
        "km": "ដូចដែលត្រូវបង្ហាញលើវិញ្ញាបនបត្រ ជាអក្សរណាក៏បាន។",
    },
    "show_name_publicly": {
        "en": "Show my full name on the public certificate check page (otherwise only initials and the date).",
        "km": "បង្ហាញឈ្មោះពេញរបស់ខ្ញុំលើទំព័រផ្ទៀងផ្ទាត់សាធារណៈ (បើមិនដូច្នេះ មានតែអក្សរកាត់ និងកាលបរិច្ឆេទ)។",
    },
    "country": {"en": "Country where you live", "km": "ប្រទេសដែលអ្នករស់នៅ"},
    "choose": {"en": "Choose…", "km": "ជ្រើសរើស…"},
    "certificate_language": {"en": "Certificate language", "km": "ភាសាវិញ្ញាបនបត្រ"},
    "lang_en": {"en": "English", "km": "អង់គ្លេស"},
    "lang_km": {"en": "Khmer", "km": "ខ្មែរ"},
    "channels": {"en": "How should we send your certificate?", "km": "តើយើងគួរផ្ញើវិញ្ញាបនបត្ររបស់អ្នកដោយរបៀបណា?"},
    "channels_hint": {"en": "Choose one or more.", "km": "ជ្រើសមួយ ឬច្រើន។"},
    "channel_unavailable_in": {
        "en": "{channel} (not available in {countries})",
        "km": "{channel} (មិនមាននៅ{countries})",
    },
    "email": {"en": "Email address", "km": "អាសយដ្ឋានអ៊ីមែល"},
    "phone": {"en": "Mobile number (for {phone_channels})", "km": "លេខទូរស័ព្ទដៃ (សម្រាប់ {phone_channels})"},
    "address": {
        "en": "Postal address (for {postal_channels})",
        "km": "អាសយដ្ឋានប្រៃសណីយ៍ (សម្រាប់ {postal_channels})",
    },
    "street_address": {"en": "Street address", "km": "ផ្លូវ និងលេខផ្ទះ"},
    "city": {"en": "City", "km": "ទីក្រុង"},
    "city_area": {"en": "District / neighbourhood", "km": "ខណ្ឌ / សង្កាត់"},
    "country_area": {"en": "State / province / region", "km": "រដ្ឋ / ខេត្ត / តំបន់"},
    "postal_code": {"en": "Postal code", "km": "លេខកូដប្រៃសណីយ៍"},
    "sorting_code": {"en": "Sorting code (if your country uses one)", "km": "លេខកូដតម្រៀប (បើមាន)"},
    "alerts_opt_in": {"en": "Send me Urgent Action alerts.", "km": "ផ្ញើការជូនដំណឹងសកម្មភាពបន្ទាន់មកខ្ញុំ។"},
    "sessions_opt_in": {"en": "Send me news of sessions and forums.", "km": "ផ្ញើព័ត៌មានអំពីវគ្គ និងវេទិកាមកខ្ញុំ។"},
    "consent": {
        "en": "I agree that Samleng stores my name, country and the contact details above to record my pledge, send my certificate and, if I chose so, alerts and session news. I can ask to be removed at any time.",
        "km": "ខ្ញុំយល់ព្រមឱ្យ Samleng រក្សាទុកឈ្មោះ ប្រទេស និងព័ត៌មានទំនាក់ទំនងខាងលើ ដើម្បីកត់ត្រាការសន្យា ផ្ញើវិញ្ញាបនបត្រ និងប្រសិនបើខ្ញុំជ្រើសរើស ការជូនដំណឹង និងព័ត៌មានវគ្គ។ ខ្ញុំអាចស្នើឱ្យលុបចេញពេលណាក៏បាន។",
    },
    "honeypot": {"en": "Leave this field empty", "km": "ទុកចន្លោះនេះឱ្យទទេ"},
    "submit": {"en": "Sign the pledge", "km": "ចុះហត្ថលេខាលើការសន្យា"},
    "errors_summary": {"en": "Please correct the highlighted fields.", "km": "សូមកែតម្រូវចន្លោះដែលបានសម្គាល់។"},
    "unavailable": {
        "en": "We could not save your pledge right now. Nothing was lost: your answers are still below. Please try again in a minute.",
        "km": "យើងមិនអាចរក្សាទុកការសន្យារបស់អ្នកបានឥឡូវនេះទេ។ គ្មានអ្វីបាត់បង់ទេ៖ ចម្លើយរបស់អ្នកនៅខាងក្រោម។ សូមព្យាយាមម្តងទៀតក្នុងមួយនាទី។",
    },
    "rate_limited": {
        "en": "Too many submissions from your connection. Your answers are kept below; please try again in a minute.",
        "km": "មានការដាក់ស្នើច្រើនពេកពីការតភ្ជាប់របស់អ្នក។ ចម្លើយរបស់អ្នកនៅខាងក្រោម។ សូមព្យាយាមម្តងទៀតក្នុងមួយនាទី។",
    },
    "csrf": {
        "en": "This form had expired, so it was not sent. Your answers are kept below: please submit again.",
        "km": "ទម្រង់នេះផុតកំណត់ ដូច្នេះមិនត្រូវបានផ្ញើទេ។ ចម្លើយរបស់អ្នកនៅខាងក្រោម៖ សូមដាក់ស្នើម្តងទៀត។",
    },
    "csrf_refused_title": {"en": "Not sent", "km": "មិនបានផ្ញើ"},
    "busy": {
        "en": "Too many submissions from your connection, so nothing was sent. "
        "Please go back and try again in a minute.",
        "km": "មានការដាក់ស្នើច្រើនពេកពីការតភ្ជាប់របស់អ្នក ដូច្នេះគ្មានអ្វីត្រូវបានផ្ញើទេ។ "
        "សូមត្រឡប់ក្រោយ ហើយព្យាយាមម្តងទៀតក្នុងមួយនាទី។",
    },
    "csrf_refused": {
        "en": "This form had expired or did not come from this site, so nothing was sent or changed. "
        "Please go back, reload the page and submit it again.",
        "km": "ទម្រង់នេះផុតកំណត់ ឬមិនមែនមកពីគេហទំព័រនេះទេ ដូច្នេះគ្មានអ្វីត្រូវបានផ្ញើ ឬផ្លាស់ប្តូរទេ។ "
        "សូមត្រឡប់ក្រោយ ផ្ទុកទំព័រឡើងវិញ ហើយដាក់ស្នើម្តងទៀត។",
    },
    "thanks": {"en": "Thank you for signing the pledge", "km": "សូមអរគុណសម្រាប់ការចុះហត្ថលេខាលើការសន្យា"},
    "state_received": {
        "en": "We received your pledge and are recording it now.",
        "km": "យើងបានទទួលការសន្យារបស់អ្នក ហើយកំពុងកត់ត្រា។",
    },
    "state_recorded": {
        "en": "Your pledge is recorded. We write to the contact details you gave: your certificate, "
        "or, if we already know them, a link to confirm that it was you.",
        "km": "ការសន្យារបស់អ្នកត្រូវបានកត់ត្រា។ យើងនឹងសរសេរទៅកាន់ព័ត៌មានទំនាក់ទំនងដែលអ្នកបានផ្តល់៖ "
        "វិញ្ញាបនបត្ររបស់អ្នក ឬ ប្រសិនបើយើងស្គាល់វារួចហើយ តំណមួយដើម្បីបញ្ជាក់ថាជាអ្នក។",
    },
    "state_rejected": {
        "en": "We could not record this pledge: {detail}",
        "km": "យើងមិនអាចកត់ត្រាការសន្យានេះបានទេ៖ {detail}",
    },
    "status_link": {
        "en": "Keep this page's address to check on your pledge later.",
        "km": "រក្សាអាសយដ្ឋានទំព័រនេះ ដើម្បីពិនិត្យការសន្យារបស់អ្នកនៅពេលក្រោយ។",
    },
    "messenger_step": {
        "en": "One more step for Messenger: Messenger only lets us write to people who wrote to us first. Open this link and press Send:",
        "km": "ជំហានមួយទៀតសម្រាប់ Messenger៖ Messenger អនុញ្ញាតឱ្យយើងសរសេរតែទៅកាន់អ្នកដែលបានសរសេរមកយើងមុន។ បើកតំណនេះ ហើយចុចផ្ញើ៖",
    },
    "messenger_link": {"en": "Open Messenger", "km": "បើក Messenger"},
    "messenger_elsewhere": {
        "en": "The Messenger step is shown only in the browser where the pledge was signed, for a day: open this page there. If that is not possible, ask the network to send your certificate another way.",
        "km": "ជំហាន Messenger បង្ហាញតែនៅក្នុងកម្មវិធីរុករកដែលបានចុះហត្ថលេខាលើការសន្យាប៉ុណ្ណោះ រយៈពេលមួយថ្ងៃ៖ សូមបើកទំព័រនេះនៅទីនោះ។ ប្រសិនបើមិនអាចទេ សូមស្នើបណ្តាញឱ្យផ្ញើវិញ្ញាបនបត្ររបស់អ្នកតាមវិធីផ្សេង។",
    },
    "not_found": {"en": "We do not know this pledge.", "km": "យើងមិនស្គាល់ការសន្យានេះទេ។"},
    "deliveries": {"en": "Delivery of your certificate", "km": "ការផ្ញើវិញ្ញាបនបត្ររបស់អ្នក"},
    "delivery_waiting": {
        "en": "waiting for you to open our Messenger link",
        "km": "កំពុងរង់ចាំអ្នកបើកតំណ Messenger របស់យើង",
    },
    "delivery_pending": {"en": "on its way", "km": "កំពុងផ្ញើ"},
    "delivery_retrying": {"en": "delayed, we keep trying", "km": "យឺត យើងកំពុងព្យាយាមម្តងទៀត"},
    "delivery_unknown": {"en": "being checked", "km": "កំពុងពិនិត្យ"},
    "delivery_sent": {"en": "sent", "km": "បានផ្ញើ"},
    "delivery_delivered": {"en": "delivered", "km": "បានទទួល"},
    "delivery_failed_permanent": {"en": "could not be delivered", "km": "មិនអាចផ្ញើបានទេ"},
    "delivery_dead_lettered": {"en": "could not be delivered", "km": "មិនអាចផ្ញើបានទេ"},
    "delivery_skipped": {"en": "not possible", "km": "មិនអាចធ្វើបាន"},
    "delivery_fallback": {"en": "we are trying {channel} instead", "km": "យើងកំពុងសាកល្បង {channel} ជំនួសវិញ"},
    # a discreet message's link, /d/{token} (services/intake/details.py)
    "detail_title": {"en": "A message for you", "km": "សារសម្រាប់អ្នក"},
    "detail_ask": {
        "en": "There is a message for you. It is shown only once: open it when you can read it "
        "somewhere safe.",
        "km": "មានសារមួយសម្រាប់អ្នក។ សារនេះបង្ហាញតែម្ដងប៉ុណ្ណោះ៖ សូមបើកវានៅពេលដែលអ្នកអាចអានវានៅកន្លែងមានសុវត្ថិភាព។",
    },
    "detail_button": {"en": "Show the message", "km": "បង្ហាញសារ"},
    "detail_nothing_title": {"en": "Nothing to show", "km": "គ្មានអ្វីត្រូវបង្ហាញទេ"},
    "detail_nothing": {
        "en": "There is nothing to show here. A message link works only once and for a limited time.",
        "km": "គ្មានអ្វីត្រូវបង្ហាញនៅទីនេះទេ។ តំណសារប្រើបានតែម្ដង និងក្នុងរយៈពេលកំណត់ប៉ុណ្ណោះ។",
    },
    "detail_once": {
        "en": "This message will not be shown again: if you reload or leave this page, it is gone. "
        "Note down what you need now.",
        "km": "សារនេះនឹងមិនបង្ហាញម្ដងទៀតទេ៖ ប្រសិនបើអ្នកផ្ទុកទំព័រនេះឡើងវិញ ឬចាកចេញ សារនឹងបាត់។ "
        "សូមកត់ទុកអ្វីដែលអ្នកត្រូវការឥឡូវនេះ។",
    },
    "detail_urgent_action": {"en": "Urgent Action {number}", "km": "សកម្មភាពបន្ទាន់ {number}"},
    "detail_alert_update": {"en": "Update", "km": "ព័ត៌មានបន្ថែម"},
    "detail_alert_extension": {"en": "More time", "km": "ពន្យារពេល"},
    "detail_alert_closure": {"en": "Closed", "km": "បានបិទ"},
    "detail_deadline": {"en": "Please act before {date}.", "km": "សូមធ្វើសកម្មភាពមុនថ្ងៃទី {date}។"},
    "detail_actions": {"en": "What you can do", "km": "អ្វីដែលអ្នកអាចធ្វើបាន"},
    "detail_officials": {"en": "Write to", "km": "សរសេរទៅកាន់"},
    "detail_write_email": {"en": "write an email", "km": "សរសេរអ៊ីមែល"},
    "detail_letter": {"en": "Your letter", "km": "លិខិតរបស់អ្នក"},
    "detail_letter_subject": {"en": "Subject: {subject}", "km": "ប្រធានបទ៖ {subject}"},
    "detail_took_action_ask": {
        "en": "When you have acted, tell us: it helps us follow up.",
        "km": "នៅពេលអ្នកបានធ្វើសកម្មភាពហើយ សូមប្រាប់យើង៖ វាជួយយើងតាមដាន។",
    },
    "detail_took_action": {"en": "I took action", "km": "ខ្ញុំបានធ្វើសកម្មភាព"},
    "detail_public_page": {
        "en": "The public page of this Urgent Action",
        "km": "ទំព័រសាធារណៈនៃសកម្មភាពបន្ទាន់នេះ",
    },
    "detail_session": {"en": "About a session", "km": "អំពីវគ្គមួយ"},
    "detail_session_confirmation": {"en": "You are registered", "km": "អ្នកបានចុះឈ្មោះហើយ"},
    "detail_session_waitlisted": {"en": "You are on the waiting list", "km": "អ្នកស្ថិតក្នុងបញ្ជីរង់ចាំ"},
    "detail_session_reminder": {"en": "Reminder", "km": "ការរំលឹក"},
    "detail_session_join-link": {"en": "How to join", "km": "របៀបចូលរួម"},
    "detail_session_rescheduled": {"en": "New time", "km": "ពេលវេលាថ្មី"},
    "detail_session_cancelled": {"en": "Cancelled", "km": "បានលុបចោល"},
    "detail_session_plan-of-action": {"en": "Plan of action", "km": "ផែនការសកម្មភាព"},
    "detail_session_promoted": {
        "en": "A seat is free for you",
        "km": "មានកន្លែងទំនេរសម្រាប់អ្នកហើយ",
    },
    "detail_session_registration-cancelled": {
        "en": "Your registration is cancelled",
        "km": "ការចុះឈ្មោះរបស់អ្នកត្រូវបានលុបចោល",
    },
    "detail_when": {"en": "When", "km": "ពេលវេលា"},
    "detail_from_until": {"en": "{when} until {until}", "km": "{when} ដល់ {until}"},
    "detail_previous_when": {"en": "Before: {when}", "km": "ពីមុន៖ {when}"},
    "detail_place": {"en": "Place", "km": "ទីកន្លែង"},
    "detail_join": {"en": "Join the session", "km": "ចូលរួមវគ្គ"},
    "detail_ics": {"en": "Add to my calendar (.ics)", "km": "បញ្ចូលទៅប្រតិទិនរបស់ខ្ញុំ (.ics)"},
    "detail_cancel": {"en": "Cancel my registration", "km": "លុបចោលការចុះឈ្មោះរបស់ខ្ញុំ"},
    "detail_session_page": {"en": "The session's page", "km": "ទំព័ររបស់វគ្គ"},
    "detail_plan": {"en": "Plan of action", "km": "ផែនការសកម្មភាព"},
    "detail_certificate": {"en": "Your certificate", "km": "វិញ្ញាបនបត្ររបស់អ្នក"},
    "detail_certificate_number": {"en": "Certificate no. {number}", "km": "វិញ្ញាបនបត្រលេខ {number}"},
    "detail_verify": {"en": "Check this certificate", "km": "ផ្ទៀងផ្ទាត់វិញ្ញាបនបត្រនេះ"},
    "detail_download": {"en": "Download your certificate (PDF)", "km": "ទាញយកវិញ្ញាបនបត្ររបស់អ្នក (PDF)"},
    "detail_download_once": {
        "en": "The download works once.",
        "km": "ការទាញយកនេះប្រើបានតែម្ដងប៉ុណ្ណោះ។",
    },
    "change_title": {"en": "Confirm it was you", "km": "បញ្ជាក់ថាជាអ្នក"},
    "change_ask": {
        "en": "Someone used a contact detail of yours with us. If it was you, confirm: we then update "
        "your details with what was sent. If it was not you, close this page: nothing changes.",
        "km": "មាននរណាម្នាក់បានប្រើព័ត៌មានទំនាក់ទំនងរបស់អ្នកជាមួយយើង។ ប្រសិនបើជាអ្នក សូមបញ្ជាក់៖ "
        "បន្ទាប់មកយើងនឹងធ្វើបច្ចុប្បន្នភាពព័ត៌មានរបស់អ្នកតាមអ្វីដែលបានផ្ញើ។ ប្រសិនបើមិនមែនជាអ្នកទេ "
        "សូមបិទទំព័រនេះ៖ គ្មានអ្វីផ្លាស់ប្តូរទេ។",
    },
    "change_button": {"en": "Yes, it was me", "km": "បាទ/ចាស ជាខ្ញុំ"},
    "change_done": {
        "en": "Thank you. If this link was still valid, your details are being updated now.",
        "km": "សូមអរគុណ។ ប្រសិនបើតំណនេះនៅមានសុពលភាព ព័ត៌មានរបស់អ្នកកំពុងត្រូវបានធ្វើបច្ចុប្បន្នភាព។",
    },
    "change_unknown": {
        "en": "This link is not valid, or was already used.",
        "km": "តំណនេះមិនមានសុពលភាព ឬត្រូវបានប្រើរួចហើយ។",
    },
    # discreet messages (at-risk mode, issue #17): the pledge, subscribe, session and own pages
    "discreet_legend": {"en": "Discreet messages", "km": "សារដោយសម្ងាត់"},
    "discreet_hint": {
        "en": "For when someone else may see your phone or email. Our messages then say only "
        "“New message from your network” and carry a link that works once and then expires; "
        "the details are behind that link. Nothing is ever sent to you by post.",
        "km": "សម្រាប់ពេលដែលអ្នកផ្សេងអាចមើលឃើញទូរស័ព្ទ ឬអ៊ីមែលរបស់អ្នក។ "
        "បន្ទាប់មក សាររបស់យើងនិយាយតែ «សារថ្មីពីបណ្ដាញរបស់អ្នក» "
        "និងមានតំណមួយដែលប្រើបានតែម្ដង ហើយផុតកំណត់។ ព័ត៌មានលម្អិតនៅពីក្រោយតំណនោះ។ "
        "យើងមិនដែលផ្ញើអ្វីមកអ្នកតាមប្រៃសណីយ៍ទេ។",
    },
    "discreet_auto": {
        "en": "Automatic: on if you live in Cambodia, off elsewhere",
        "km": "ស្វ័យប្រវត្តិ៖ បើក ប្រសិនបើអ្នករស់នៅកម្ពុជា បិទ ប្រសិនបើរស់នៅកន្លែងផ្សេង",
    },
    "discreet_on": {"en": "On", "km": "បើក"},
    "discreet_off": {"en": "Off", "km": "បិទ"},
    "discreet_state_on": {
        "en": "Discreet messages are on for you.",
        "km": "សារដោយសម្ងាត់កំពុងបើកសម្រាប់អ្នក។",
    },
    "discreet_state_off": {
        "en": "Discreet messages are off for you.",
        "km": "សារដោយសម្ងាត់កំពុងបិទសម្រាប់អ្នក។",
    },
    "discreet_by_default": {
        "en": "They are on because you live in Cambodia; you can turn them off.",
        "km": "វាបើក ព្រោះអ្នករស់នៅកម្ពុជា។ អ្នកអាចបិទវាបាន។",
    },
    # a channel declared `at_risk_only_choice` (Signal's), offered to discreet members
    "discreet_only_channel": {
        "en": "{channel} only: send me everything on {channel}, nothing by email or other apps",
        "km": "តែ {channel} ប៉ុណ្ណោះ៖ ផ្ញើអ្វីៗទាំងអស់មកខ្ញុំតាម {channel} គ្មានអ្វីតាមអ៊ីមែល ឬកម្មវិធីផ្សេងទៀតទេ",
    },
    "discreet_only_channel_hint": {
        "en": "The safest choice: only you and we can read {channel} messages, and they can disappear "
        "from your phone. Email passes through other companies and stays in your inbox.",
        "km": "ជម្រើសដែលមានសុវត្ថិភាពបំផុត៖ មានតែអ្នក និងយើងទេដែលអាចអានសារ {channel} "
        "ហើយសារទាំងនោះអាចបាត់ពីទូរស័ព្ទរបស់អ្នកដោយស្វ័យប្រវត្តិ។ "
        "អ៊ីមែលឆ្លងកាត់ក្រុមហ៊ុនផ្សេងៗ ហើយនៅតែក្នុងប្រអប់សំបុត្ររបស់អ្នក។",
    },
    # confirming a number: Signal and WhatsApp wait for a message from it (confirm_number.py)
    "confirm_number_title": {
        "en": "One more step: say hello from your phone",
        "km": "ជំហានមួយទៀត៖ ផ្ញើពាក្យសួស្តីមកយើងពីទូរស័ព្ទរបស់អ្នក",
    },
    "confirm_number_send": {
        "en": "To receive messages on {channel}, send any message (for example “Hello”) from your "
        "phone to our {channel} number {number} — until you do, we send nothing there.",
        "km": "ដើម្បីទទួលសារតាម {channel} សូមផ្ញើសារណាមួយ (ឧទាហរណ៍ «សួស្តី») ពីទូរស័ព្ទរបស់អ្នក "
        "ទៅលេខ {channel} របស់យើង {number} — រហូតដល់អ្នកធ្វើដូច្នេះ យើងមិនផ្ញើអ្វីទៅទីនោះទេ។",
    },
    "confirm_number_send_unset": {
        "en": "To receive messages on {channel}, send any message (for example “Hello”) from your "
        "phone to the {channel} number the network gave you — until you do, we send nothing there.",
        "km": "ដើម្បីទទួលសារតាម {channel} សូមផ្ញើសារណាមួយ (ឧទាហរណ៍ «សួស្តី») ពីទូរស័ព្ទរបស់អ្នក "
        "ទៅលេខ {channel} ដែលបណ្ដាញបានផ្ដល់ឱ្យអ្នក — រហូតដល់អ្នកធ្វើដូច្នេះ យើងមិនផ្ញើអ្វីទៅទីនោះទេ។",
    },
    "confirm_number_open": {"en": "Open {channel} and write to us", "km": "បើក {channel} ហើយសរសេរមកយើង"},
    "confirm_number_either": {
        "en": "One message is enough, on either app.",
        "km": "សារតែមួយគឺគ្រប់គ្រាន់ហើយ តាមកម្មវិធីណាមួយក៏បាន។",
    },
    "confirm_number_why": {
        "en": "Write from the number you gave us: that is how we know it is yours, so nobody gets our "
        "messages on a number that is not theirs. Already done? Then there is nothing more to do.",
        "km": "សូមសរសេរពីលេខដែលអ្នកបានផ្ដល់ឱ្យយើង៖ នេះជារបៀបដែលយើងដឹងថាលេខនោះជារបស់អ្នក "
        "ដូច្នេះគ្មាននរណាម្នាក់ទទួលបានសាររបស់យើងតាមលេខដែលមិនមែនជារបស់ខ្លួនទេ។ "
        "បានធ្វើរួចហើយឬ? ដូច្នេះមិនចាំបាច់ធ្វើអ្វីទៀតទេ។",
    },
}


def ui(key: str, lang: Lang, **values: object) -> str:
    """A UI text; `channel_<name>` is that channel's label (its declaration)."""
    if key not in UI and key.startswith("channel_"):
        return channel_label(key.removeprefix("channel_"), lang)
    text = UI[key][lang]
    for word, field in CHANNEL_WORDS.items():
        if "{" + word + "}" in text:
            values.setdefault(word, labels(needing(channel_names(), field), lang))
    return text.format(**values) if values else text


def channel_label(name: str, lang: Lang) -> str:
    """What a person sees for a channel: its declared label; a name no longer installed as is."""
    return spec(name).label(lang) if name in channel_names() else name


def channel_choice(name: str, lang: Lang) -> str:
    """A channel's label on a form, with the countries it cannot serve: "Post (not available in
    Cambodia)"."""
    channel = spec(name)
    if not channel.unavailable_countries:
        return channel.label(lang)
    countries = either(sorted(country_name(code, lang) for code in channel.unavailable_countries), lang)
    return ui("channel_unavailable_in", lang, channel=channel.label(lang), countries=countries)
