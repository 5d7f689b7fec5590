"""Words of the sessions pages (services/console/web/sessions.py)."""

from __future__ import annotations

from shared.contracts.languages import Lang

WORDS: dict[str, dict[Lang, str]] = {
    # the calendar
    "sessions_title": {"en": "Sessions", "km": "វគ្គ"},
    "sessions_intro": {
        "en": "Hearings, UN review milestones, planning sessions and forums. People register on the public site; "
        "Samleng sends them the confirmation, the join link and reminders.",
        "km": "សវនាការ ដំណាក់កាលនៃការពិនិត្យរបស់អង្គការសហប្រជាជាតិ វគ្គរៀបចំផែនការ និងវេទិកា។ "
        "មនុស្សចុះឈ្មោះនៅលើគេហទំព័រសាធារណៈ ហើយ Samleng ផ្ញើការបញ្ជាក់ តំណចូលរួម និងការរំលឹកទៅពួកគេ។",
    },
    "sessions_new": {"en": "Schedule a session", "km": "កំណត់កាលវិភាគវគ្គថ្មី"},
    "sessions_upcoming": {"en": "Coming up", "km": "វគ្គខាងមុខ"},
    "sessions_past": {"en": "Past sessions", "km": "វគ្គកន្លងមក"},
    "sessions_drafts": {"en": "Drafts (not published)", "km": "សេចក្តីព្រាង (មិនទាន់ផ្សព្វផ្សាយ)"},
    "sessions_none_upcoming": {"en": "No session is coming up.", "km": "មិនមានវគ្គខាងមុខទេ។"},
    "sessions_none_past": {"en": "No past sessions.", "km": "មិនមានវគ្គកន្លងមកទេ។"},
    "sessions_times_in": {"en": "Times are in {zone}.", "km": "ម៉ោងបង្ហាញតាម {zone}។"},
    "sessions_col_when": {"en": "When", "km": "ពេលវេលា"},
    "sessions_col_session": {"en": "Session", "km": "វគ្គ"},
    "sessions_col_status": {"en": "Status", "km": "ស្ថានភាព"},
    "sessions_col_registered": {"en": "Registered", "km": "បានចុះឈ្មោះ"},
    "sessions_col_waitlisted": {"en": "Waiting list", "km": "បញ្ជីរង់ចាំ"},
    "sessions_col_capacity": {"en": "Seats", "km": "កៅអី"},
    "sessions_col_updated": {"en": "Last saved", "km": "រក្សាទុកចុងក្រោយ"},
    "sessions_unlimited": {"en": "no limit", "km": "គ្មានដែនកំណត់"},
    "sessions_untitled": {"en": "(no title yet)", "km": "(មិនទាន់មានចំណងជើង)"},
    # kinds, modes, statuses
    "sessions_kind_hearing": {"en": "Hearing", "km": "សវនាការ"},
    "sessions_kind_un-review": {"en": "UN review", "km": "ការពិនិត្យរបស់អង្គការសហប្រជាជាតិ"},
    "sessions_kind_planning": {"en": "Planning session", "km": "វគ្គរៀបចំផែនការ"},
    "sessions_kind_forum": {"en": "Forum", "km": "វេទិកា"},
    "sessions_mode_online": {"en": "Online", "km": "តាមអនឡាញ"},
    "sessions_mode_in-person": {"en": "In person", "km": "ដោយផ្ទាល់"},
    "sessions_mode_hybrid": {"en": "Online and in person", "km": "តាមអនឡាញ និងដោយផ្ទាល់"},
    "sessions_status_scheduled": {"en": "Scheduled", "km": "បានកំណត់កាលវិភាគ"},
    "sessions_status_rescheduled": {"en": "New time", "km": "ពេលវេលាថ្មី"},
    "sessions_status_cancelled": {"en": "Cancelled", "km": "បានលុបចោល"},
    "sessions_status_completed": {"en": "Held", "km": "បានប្រារព្ធ"},
    "sessions_state_registered": {"en": "Registered", "km": "បានចុះឈ្មោះ"},
    "sessions_state_waitlisted": {"en": "Waiting list", "km": "បញ្ជីរង់ចាំ"},
    "sessions_state_cancelled": {"en": "Cancelled", "km": "បានលុបចោល"},
    # the form
    "sessions_form_new": {"en": "Schedule a session", "km": "កំណត់កាលវិភាគវគ្គថ្មី"},
    "sessions_form_draft": {"en": "Draft session", "km": "សេចក្តីព្រាងវគ្គ"},
    "sessions_form_edit": {"en": "Change or reschedule: {title}", "km": "ផ្លាស់ប្តូរ ឬកំណត់ពេលវេលាថ្មី៖ {title}"},
    "sessions_form_edit_hint": {
        "en": "New times reschedule the session: every registrant is told at once. Other changes reach "
        "registrants in their next message.",
        "km": "ពេលវេលាថ្មីនឹងកំណត់វគ្គនេះឡើងវិញ៖ អ្នកចុះឈ្មោះទាំងអស់នឹងទទួលដំណឹងភ្លាមៗ។ "
        "ការផ្លាស់ប្តូរផ្សេងទៀតនឹងទៅដល់អ្នកចុះឈ្មោះក្នុងសារបន្ទាប់របស់ពួកគេ។",
    },
    "sessions_kind": {"en": "Kind of session", "km": "ប្រភេទវគ្គ"},
    "sessions_kind_fixed": {"en": "Kind of session: {kind}", "km": "ប្រភេទវគ្គ៖ {kind}"},
    "sessions_texts": {"en": "Title and description", "km": "ចំណងជើង និងការពិពណ៌នា"},
    "sessions_in_english": {"en": "In English", "km": "ជាភាសាអង់គ្លេស"},
    "sessions_in_khmer": {"en": "In Khmer", "km": "ជាភាសាខ្មែរ"},
    "sessions_title_en": {"en": "Title (English)", "km": "ចំណងជើង (អង់គ្លេស)"},
    "sessions_title_km": {"en": "Title (Khmer)", "km": "ចំណងជើង (ខ្មែរ)"},
    "sessions_description_en": {"en": "Description (English)", "km": "ការពិពណ៌នា (អង់គ្លេស)"},
    "sessions_description_km": {"en": "Description (Khmer)", "km": "ការពិពណ៌នា (ខ្មែរ)"},
    "sessions_when": {"en": "When", "km": "ពេលវេលា"},
    "sessions_time_zone": {"en": "Time zone of these times", "km": "តំបន់ម៉ោងនៃពេលវេលាទាំងនេះ"},
    "sessions_starts_at": {"en": "Starts", "km": "ចាប់ផ្តើម"},
    "sessions_ends_at": {"en": "Ends", "km": "បញ្ចប់"},
    "sessions_datetime_hint": {
        "en": "Date and time, e.g. 2027-03-06 19:00",
        "km": "កាលបរិច្ឆេទ និងម៉ោង ឧ. 2027-03-06 19:00",
    },
    "sessions_where": {"en": "Where and how to join", "km": "ទីកន្លែង និងរបៀបចូលរួម"},
    "sessions_mode": {"en": "How people take part", "km": "របៀបដែលមនុស្សចូលរួម"},
    "sessions_place": {"en": "Place", "km": "ទីកន្លែង"},
    "sessions_place_hint": {
        "en": "Needed in person or hybrid. Registrants and the public page see it only from the release time below.",
        "km": "ត្រូវការសម្រាប់ការចូលរួមដោយផ្ទាល់ ឬចម្រុះ។ អ្នកចុះឈ្មោះ និងទំព័រសាធារណៈឃើញវាតែចាប់ពីពេលបញ្ចេញខាងក្រោម។",
    },
    "sessions_join_link": {"en": "Join link", "km": "តំណចូលរួម"},
    "sessions_join_link_hint": {
        "en": "An https:// link (Zoom, Jitsi…). Kept secret: only registrants receive it, at the release time.",
        "km": "តំណ https:// (Zoom, Jitsi…)។ រក្សាជាការសម្ងាត់៖ មានតែអ្នកចុះឈ្មោះទេដែលទទួលបាន នៅពេលបញ្ចេញ។",
    },
    "sessions_join_link_release_at": {
        "en": "Release the join link and place at",
        "km": "បញ្ចេញតំណចូលរួម និងទីកន្លែងនៅ",
    },
    "sessions_release_hint": {"en": "Empty: 24 hours before the start.", "km": "ទុកទទេ៖ ២៤ ម៉ោងមុនពេលចាប់ផ្តើម។"},
    "sessions_registration": {"en": "Registration", "km": "ការចុះឈ្មោះ"},
    "sessions_registration_opens_at": {"en": "Registration opens", "km": "ការចុះឈ្មោះបើក"},
    "sessions_opens_hint": {"en": "Empty: now.", "km": "ទុកទទេ៖ ឥឡូវនេះ។"},
    "sessions_registration_closes_at": {"en": "Registration closes", "km": "ការចុះឈ្មោះបិទ"},
    "sessions_closes_hint": {"en": "Empty: at the start.", "km": "ទុកទទេ៖ នៅពេលចាប់ផ្តើម។"},
    "sessions_capacity": {"en": "Seats", "km": "ចំនួនកៅអី"},
    "sessions_capacity_hint": {
        "en": "Empty: no limit. When full, new registrations go on the waiting list.",
        "km": "ទុកទទេ៖ គ្មានដែនកំណត់។ នៅពេលពេញ ការចុះឈ្មោះថ្មីនឹងស្ថិតក្នុងបញ្ជីរង់ចាំ។",
    },
    "sessions_reminders": {"en": "Reminders before the start", "km": "ការរំលឹកមុនពេលចាប់ផ្តើម"},
    "sessions_reminders_other": {
        "en": "Other reminders, in minutes before the start",
        "km": "ការរំលឹកផ្សេងទៀត គិតជានាទីមុនពេលចាប់ផ្តើម",
    },
    "sessions_reminders_other_hint": {
        "en": "Separated by commas, e.g. 30, 120",
        "km": "បំបែកដោយក្បៀស ឧ. 30, 120",
    },
    "sessions_reminder_seconds": {
        "en": "Rehearsal: reminders in seconds before the start",
        "km": "ការហាត់សម៖ ការរំលឹកគិតជាវិនាទីមុនពេលចាប់ផ្តើម",
    },
    "sessions_reminder_seconds_hint": {
        "en": "For rehearsals and tests only. When filled, it replaces the reminders above. Separated by commas.",
        "km": "សម្រាប់តែការហាត់សម និងការសាកល្បងប៉ុណ្ណោះ។ បើបំពេញ វាជំនួសការរំលឹកខាងលើ។ បំបែកដោយក្បៀស។",
    },
    "sessions_save_draft": {"en": "Save as draft", "km": "រក្សាទុកជាសេចក្តីព្រាង"},
    "sessions_publish": {"en": "Publish", "km": "ផ្សព្វផ្សាយ"},
    "sessions_publish_hint": {
        "en": "Publishing puts the session on the public calendar and opens registration.",
        "km": "ការផ្សព្វផ្សាយដាក់វគ្គនេះលើប្រតិទិនសាធារណៈ ហើយបើកការចុះឈ្មោះ។",
    },
    "sessions_save_changes": {"en": "Save and tell registrants", "km": "រក្សាទុក ហើយជូនដំណឹងអ្នកចុះឈ្មោះ"},
    "sessions_back": {"en": "Back to the sessions", "km": "ត្រឡប់ទៅវគ្គ"},
    "sessions_back_session": {"en": "Back to the session", "km": "ត្រឡប់ទៅវគ្គ"},
    # field errors (the checks are the API's; these say them in the page's language)
    "sessions_error_required": {"en": "This field is required.", "km": "ត្រូវតែបំពេញចន្លោះនេះ។"},
    "sessions_error_datetime": {
        "en": "Write a date and time, e.g. 2027-03-06 19:00.",
        "km": "សូមសរសេរកាលបរិច្ឆេទ និងម៉ោង ឧ. 2027-03-06 19:00។",
    },
    "sessions_error_time_zone": {"en": "Choose a time zone from the list.", "km": "សូមជ្រើសរើសតំបន់ម៉ោងពីបញ្ជី។"},
    "sessions_error_choice": {"en": "Choose one of the options.", "km": "សូមជ្រើសរើសជម្រើសមួយ។"},
    "sessions_error_number": {"en": "Write a whole number.", "km": "សូមសរសេរចំនួនគត់។"},
    "sessions_error_numbers": {
        "en": "Write whole numbers separated by commas.",
        "km": "សូមសរសេរចំនួនគត់ដែលបំបែកដោយក្បៀស។",
    },
    "sessions_error_too_long": {
        "en": "Too long: at most {max} characters.",
        "km": "វែងពេក៖ យ៉ាងច្រើន {max} តួអក្សរ។",
    },
    "sessions_error_capacity": {"en": "Between 1 and 100,000 seats.", "km": "ចន្លោះពី ១ ដល់ ១០០ ០០០ កៅអី។"},
    "sessions_error_link": {
        "en": "The link must start with https:// or http://.",
        "km": "តំណត្រូវតែចាប់ផ្តើមដោយ https:// ឬ http://។",
    },
    "sessions_error_before-start": {
        "en": "The session must end after it starts.",
        "km": "វគ្គត្រូវតែបញ្ចប់ក្រោយពេលចាប់ផ្តើម។",
    },
    "sessions_error_place": {
        "en": "An in-person or hybrid session needs a place.",
        "km": "វគ្គដោយផ្ទាល់ ឬចម្រុះ ត្រូវការទីកន្លែង។",
    },
    "sessions_error_after-start": {
        "en": "Release the join link before the session starts.",
        "km": "សូមបញ្ចេញតំណចូលរួមមុនពេលវគ្គចាប់ផ្តើម។",
    },
    "sessions_error_before-opening": {
        "en": "Registration must close after it opens.",
        "km": "ការចុះឈ្មោះត្រូវតែបិទក្រោយពេលបើក។",
    },
    "sessions_error_reminders": {
        "en": "Reminders are different numbers between 1 minute and 60 days.",
        "km": "ការរំលឹកត្រូវជាលេខខុសៗគ្នា ចន្លោះពី ១ នាទី ដល់ ៦០ ថ្ងៃ។",
    },
    "sessions_error_past": {
        "en": "The session must start in the future.",
        "km": "វគ្គត្រូវតែចាប់ផ្តើមនៅពេលអនាគត។",
    },
    "sessions_error_text_missing": {
        "en": "Write the title in this language.",
        "km": "សូមសរសេរចំណងជើងជាភាសានេះ។",
    },
    "sessions_error_plan_text": {
        "en": "Write the Plan of Action in this language.",
        "km": "សូមសរសេរផែនការសកម្មភាពជាភាសានេះ។",
    },
    "sessions_error_pdf": {"en": "Attach a PDF file of at most 5 MB.", "km": "សូមភ្ជាប់ឯកសារ PDF យ៉ាងច្រើន 5 MB។"},
    "sessions_error_confirm": {
        "en": "Tick the box to confirm: registrants are told at once.",
        "km": "សូមធីកប្រអប់ដើម្បីបញ្ជាក់៖ អ្នកចុះឈ្មោះនឹងទទួលដំណឹងភ្លាមៗ។",
    },
    "sessions_error_closed": {
        "en": "This session is {status}: it can no longer be changed.",
        "km": "វគ្គនេះ{status}៖ មិនអាចផ្លាស់ប្តូរបានទៀតទេ។",
    },
    # the session page
    "sessions_done_published": {
        "en": "Published. Registration is open on the public site.",
        "km": "បានផ្សព្វផ្សាយ។ ការចុះឈ្មោះបានបើកនៅលើគេហទំព័រសាធារណៈ។",
    },
    "sessions_done_drafted": {
        "en": "Draft saved. It is not published.",
        "km": "បានរក្សាទុកសេចក្តីព្រាង។ វាមិនទាន់ផ្សព្វផ្សាយទេ។",
    },
    "sessions_done_changed": {"en": "Changes saved.", "km": "បានរក្សាទុកការផ្លាស់ប្តូរ។"},
    "sessions_done_rescheduled": {
        "en": "Rescheduled: every registrant is told the new time.",
        "km": "បានកំណត់ពេលវេលាថ្មី៖ អ្នកចុះឈ្មោះទាំងអស់នឹងទទួលដំណឹងពីពេលវេលាថ្មី។",
    },
    "sessions_done_cancelled": {
        "en": "Cancelled: every registrant is told.",
        "km": "បានលុបចោល៖ អ្នកចុះឈ្មោះទាំងអស់នឹងទទួលដំណឹង។",
    },
    "sessions_done_completed": {"en": "Marked as held.", "km": "បានសម្គាល់ថាបានប្រារព្ធ។"},
    "sessions_done_plan": {
        "en": "The Plan of Action is on its way to every registrant.",
        "km": "ផែនការសកម្មភាពកំពុងផ្ញើទៅអ្នកចុះឈ្មោះទាំងអស់។",
    },
    "sessions_done_registration": {
        "en": "The registration is being cancelled; the registrant is told.",
        "km": "ការចុះឈ្មោះកំពុងត្រូវបានលុបចោល៖ អ្នកចុះឈ្មោះនឹងទទួលដំណឹង។",
    },
    "sessions_pending_title": {"en": "Published: being scheduled", "km": "បានផ្សព្វផ្សាយ៖ កំពុងកំណត់កាលវិភាគ"},
    "sessions_pending": {
        "en": "The session was handed over and is being added to the calendar. This page shows it within a few seconds.",
        "km": "វគ្គនេះត្រូវបានបញ្ជូនបន្ត ហើយកំពុងត្រូវបានបញ្ចូលទៅក្នុងប្រតិទិន។ ទំព័រនេះនឹងបង្ហាញវាក្នុងរយៈពេលប៉ុន្មានវិនាទី។",
    },
    "sessions_reload": {"en": "Show it now", "km": "បង្ហាញឥឡូវនេះ"},
    "sessions_version": {"en": "Version {version}", "km": "កំណែទី {version}"},
    "sessions_public_page": {"en": "Its page on the public site", "km": "ទំព័ររបស់វានៅលើគេហទំព័រសាធារណៈ"},
    "sessions_details": {"en": "Details", "km": "ព័ត៌មានលម្អិត"},
    "sessions_join_link_set": {
        "en": "set (kept secret until its release)",
        "km": "បានកំណត់ (រក្សាជាសម្ងាត់រហូតដល់ពេលបញ្ចេញ)",
    },
    "sessions_join_link_unset": {"en": "not set yet", "km": "មិនទាន់កំណត់"},
    "sessions_release_default": {
        "en": "{when} (24 hours before the start)",
        "km": "{when} (២៤ ម៉ោងមុនពេលចាប់ផ្តើម)",
    },
    "sessions_opens_now": {"en": "As soon as it is published", "km": "ភ្លាមៗនៅពេលវាត្រូវបានផ្សព្វផ្សាយ"},
    "sessions_closes_at_start": {"en": "At the start", "km": "នៅពេលចាប់ផ្តើម"},
    "sessions_counts": {"en": "Registrations", "km": "ការចុះឈ្មោះ"},
    "sessions_seats_left": {
        "en": "{left} of {capacity} seats left",
        "km": "នៅសល់ {left} ក្នុងចំណោម {capacity} កៅអី",
    },
    "sessions_registrations": {
        "en": "Who registered (no names or contacts)",
        "km": "អ្នកដែលបានចុះឈ្មោះ (គ្មានឈ្មោះ ឬទំនាក់ទំនង)",
    },
    "sessions_registrations_audited": {
        "en": "Opening this list is recorded in the audit trail.",
        "km": "ការបើកបញ្ជីនេះត្រូវបានកត់ត្រាក្នុងកំណត់ត្រាសវនកម្ម។",
    },
    "sessions_col_number": {"en": "#", "km": "#"},
    "sessions_col_state": {"en": "State", "km": "ស្ថានភាព"},
    "sessions_col_language": {"en": "Language", "km": "ភាសា"},
    "sessions_col_channels": {"en": "Channels, in their order", "km": "បណ្តាញ តាមលំដាប់របស់ពួកគេ"},
    "sessions_col_submitted": {"en": "Registered on", "km": "បានចុះឈ្មោះនៅ"},
    "sessions_col_ideas": {"en": "Sent ideas", "km": "បានផ្ញើគំនិត"},
    "sessions_col_action": {"en": "Action", "km": "សកម្មភាព"},
    "sessions_language_en": {"en": "English", "km": "អង់គ្លេស"},
    "sessions_language_km": {"en": "Khmer", "km": "ខ្មែរ"},
    "sessions_no_registrations": {"en": "Nobody has registered yet.", "km": "មិនទាន់មាននរណាម្នាក់ចុះឈ្មោះនៅឡើយទេ។"},
    "sessions_cancel_registration": {"en": "Cancel registration {n}", "km": "លុបចោលការចុះឈ្មោះទី {n}"},
    "sessions_confirm_cancel_registration": {
        "en": "Cancel this registration?",
        "km": "លុបចោលការចុះឈ្មោះនេះឬ?",
    },
    "sessions_confirm_cancel_registration_text": {
        "en": "The registrant is told that their registration is cancelled. "
        "This cannot be undone from the console.",
        "km": "អ្នកចុះឈ្មោះនឹងទទួលដំណឹងថា ការចុះឈ្មោះរបស់ពួកគេត្រូវបានលុបចោល។ មិនអាចត្រឡប់វិញពីកុងសូលបានទេ។",
    },
    "sessions_confirm_cancel_registration_yes": {
        "en": "Yes, cancel the registration",
        "km": "បាទ/ចាស លុបចោលការចុះឈ្មោះ",
    },
    "sessions_confirm_cancel_registration_keep": {
        "en": "No, keep it",
        "km": "ទេ រក្សាទុក",
    },
    "sessions_ideas_export": {
        "en": "Download the ideas sent in advance (CSV)",
        "km": "ទាញយកគំនិតដែលបានផ្ញើជាមុន (CSV)",
    },
    "sessions_ideas_export_hint": {
        "en": "With the names registrants gave; the download is recorded in the audit trail.",
        "km": "មានឈ្មោះដែលអ្នកចុះឈ្មោះបានផ្តល់; ការទាញយកត្រូវបានកត់ត្រាក្នុងកំណត់ត្រាសវនកម្ម។",
    },
    # the schedule
    "sessions_schedule": {
        "en": "What each registrant will receive, and when",
        "km": "អ្វីដែលអ្នកចុះឈ្មោះម្នាក់ៗនឹងទទួល និងនៅពេលណា",
    },
    "sessions_schedule_hint": {
        "en": "In each registrant's language, on their first channel that works, with times in their own time zone.",
        "km": "ជាភាសារបស់អ្នកចុះឈ្មោះម្នាក់ៗ តាមបណ្តាញដំបូងរបស់ពួកគេដែលដំណើរការ ដោយម៉ោងតាមតំបន់ម៉ោងរបស់ពួកគេ។",
    },
    "sessions_col_message": {"en": "Message", "km": "សារ"},
    "sessions_col_who": {"en": "To", "km": "ទៅកាន់"},
    "sessions_msg_confirmation": {"en": "Confirmation of the registration", "km": "ការបញ្ជាក់ការចុះឈ្មោះ"},
    "sessions_msg_join-link": {"en": "How to join: the join link", "km": "របៀបចូលរួម៖ តំណចូលរួម"},
    "sessions_msg_registration-cancelled": {
        "en": "Their registration is cancelled (by them, or by you for them)",
        "km": "ការចុះឈ្មោះរបស់ពួកគេត្រូវបានលុបចោល (ដោយពួកគេ ឬដោយអ្នកជំនួសពួកគេ)",
    },
    "sessions_msg_reminder": {
        "en": "Reminder, {before} before the start",
        "km": "ការរំលឹក {before} មុនពេលចាប់ផ្តើម",
    },
    "sessions_msg_rescheduled": {"en": "New time", "km": "ពេលវេលាថ្មី"},
    "sessions_msg_cancelled": {"en": "Cancellation", "km": "ការលុបចោល"},
    "sessions_msg_promoted": {
        "en": "A seat came free: they are registered",
        "km": "មានកៅអីទំនេរ៖ ពួកគេបានចុះឈ្មោះ",
    },
    "sessions_msg_plan-of-action": {"en": "Plan of Action", "km": "ផែនការសកម្មភាព"},
    "sessions_when_registering": {"en": "When they register", "km": "នៅពេលពួកគេចុះឈ្មោះ"},
    "sessions_when_moved": {"en": "At once, if you reschedule", "km": "ភ្លាមៗ ប្រសិនបើអ្នកកំណត់ពេលវេលាថ្មី"},
    "sessions_when_cancelled": {"en": "At once, if you cancel", "km": "ភ្លាមៗ ប្រសិនបើអ្នកលុបចោល"},
    "sessions_when_seat": {"en": "When a seat comes free", "km": "នៅពេលមានកៅអីទំនេរ"},
    "sessions_when_withdrawn": {"en": "When it is cancelled", "km": "នៅពេលវាត្រូវបានលុបចោល"},
    "sessions_when_plan": {"en": "When you send it (below)", "km": "នៅពេលអ្នកផ្ញើវា (ខាងក្រោម)"},
    "sessions_when_released": {
        "en": "Released already: in every message from now on",
        "km": "បានបញ្ចេញរួចហើយ៖ នៅក្នុងសារទាំងអស់ចាប់ពីពេលនេះតទៅ",
    },
    "sessions_passed": {"en": "passed: not sent to new registrants", "km": "កន្លងផុតហើយ៖ មិនផ្ញើទៅអ្នកចុះឈ្មោះថ្មីទេ"},
    "sessions_carries_link": {"en": "with the join link", "km": "រួមទាំងតំណចូលរួម"},
    "sessions_carries_place": {"en": "with the place", "km": "រួមទាំងទីកន្លែង"},
    "sessions_to_registered": {"en": "Registered", "km": "អ្នកបានចុះឈ្មោះ"},
    "sessions_to_everyone": {"en": "Registered and waiting list", "km": "អ្នកបានចុះឈ្មោះ និងបញ្ជីរង់ចាំ"},
    "sessions_to_waitlisted": {"en": "Waiting list", "km": "បញ្ជីរង់ចាំ"},
    "sessions_schedule_over": {
        "en": "The session is {status}: no more reminders go out.",
        "km": "វគ្គនេះ{status}៖ គ្មានការរំលឹកទៀតទេ។",
    },
    "sessions_days": {"en": "{n} days", "km": "{n} ថ្ងៃ"},
    "sessions_day": {"en": "1 day", "km": "១ ថ្ងៃ"},
    "sessions_hours": {"en": "{n} hours", "km": "{n} ម៉ោង"},
    "sessions_hour": {"en": "1 hour", "km": "១ ម៉ោង"},
    "sessions_minutes": {"en": "{n} minutes", "km": "{n} នាទី"},
    "sessions_minute": {"en": "1 minute", "km": "១ នាទី"},
    "sessions_seconds": {"en": "{n} seconds", "km": "{n} វិនាទី"},
    # actions on the session page
    "sessions_actions": {"en": "Change the session", "km": "ផ្លាស់ប្តូរវគ្គ"},
    "sessions_edit": {"en": "Change any detail", "km": "ផ្លាស់ប្តូរព័ត៌មានលម្អិតណាមួយ"},
    "sessions_reschedule": {"en": "Reschedule", "km": "កំណត់ពេលវេលាថ្មី"},
    "sessions_reschedule_hint": {
        "en": "Every registrant is told the new time at once; reminders follow the new time.",
        "km": "អ្នកចុះឈ្មោះទាំងអស់នឹងទទួលដំណឹងពីពេលវេលាថ្មីភ្លាមៗ ហើយការរំលឹកនឹងតាមពេលវេលាថ្មី។",
    },
    "sessions_reschedule_button": {
        "en": "Reschedule and tell registrants",
        "km": "កំណត់ពេលវេលាថ្មី ហើយជូនដំណឹងអ្នកចុះឈ្មោះ",
    },
    "sessions_cancel": {"en": "Cancel the session", "km": "លុបចោលវគ្គ"},
    "sessions_cancel_confirm": {
        "en": "Yes, cancel it and tell every registrant now",
        "km": "បាទ/ចាស លុបចោលវា ហើយជូនដំណឹងអ្នកចុះឈ្មោះទាំងអស់ឥឡូវនេះ",
    },
    "sessions_cancel_button": {"en": "Cancel the session", "km": "លុបចោលវគ្គ"},
    "sessions_complete": {"en": "Mark as held", "km": "សម្គាល់ថាបានប្រារព្ធ"},
    "sessions_complete_hint": {
        "en": "After the session: no more reminders go out. The Plan of Action can still be sent.",
        "km": "ក្រោយវគ្គ៖ គ្មានការរំលឹកទៀតទេ។ ផែនការសកម្មភាពនៅតែអាចផ្ញើបាន។",
    },
    "sessions_plan": {"en": "Plan of Action", "km": "ផែនការសកម្មភាព"},
    "sessions_plan_hint": {
        "en": "Sent to every registered person (not the waiting list), in their language; the PDF is attached to emails and linked elsewhere.",
        "km": "ផ្ញើទៅអ្នកបានចុះឈ្មោះទាំងអស់ (មិនមែនបញ្ជីរង់ចាំ) ជាភាសារបស់ពួកគេ; ឯកសារ PDF ត្រូវបានភ្ជាប់ជាមួយអ៊ីមែល និងផ្តល់ជាតំណនៅកន្លែងផ្សេង។",
    },
    "sessions_plan_en": {"en": "Plan of Action (English)", "km": "ផែនការសកម្មភាព (អង់គ្លេស)"},
    "sessions_plan_km": {"en": "Plan of Action (Khmer)", "km": "ផែនការសកម្មភាព (ខ្មែរ)"},
    "sessions_plan_pdf": {
        "en": "PDF of the plan (optional, at most 5 MB)",
        "km": "ឯកសារ PDF នៃផែនការ (ស្រេចចិត្ត យ៉ាងច្រើន 5 MB)",
    },
    "sessions_plan_button": {"en": "Send the Plan of Action", "km": "ផ្ញើផែនការសកម្មភាព"},
    "sessions_plan_sent": {"en": "Sent on {when}", "km": "បានផ្ញើនៅ {when}"},
    "sessions_plan_sent_pdf": {"en": "Sent on {when}, with a PDF", "km": "បានផ្ញើនៅ {when} ជាមួយឯកសារ PDF"},
    "sessions_plan_resend_hint": {
        "en": "A corrected plan is sent again to everyone; the same plan twice is sent once.",
        "km": "ផែនការដែលបានកែតម្រូវនឹងត្រូវផ្ញើម្តងទៀតទៅគ្រប់គ្នា; ផែនការដដែលពីរដងនឹងផ្ញើតែម្តង។",
    },
}
