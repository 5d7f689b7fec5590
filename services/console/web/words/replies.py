"""Words of the replies inbox (services/console/web/replies.py, templates/replies/)."""

from __future__ import annotations

from shared.contracts.languages import Lang

WORDS: dict[str, dict[Lang, str]] = {
    "replies_title": {"en": "Replies", "km": "ការឆ្លើយតប"},
    "replies_intro": {
        "en": "What people wrote to us on chat channels, newest first. Answer on the same channel, or mark a reply handled when nothing more is needed.",
        "km": "អ្វីដែលមនុស្សបានសរសេរមកយើងតាមបណ្តាញជជែក ថ្មីបំផុតមុនគេ។ ឆ្លើយតបតាមបណ្តាញដដែល ឬសម្គាល់ការឆ្លើយតបថាបានដោះស្រាយរួច នៅពេលមិនត្រូវការអ្វីបន្ថែមទៀត។",
    },
    "replies_filter": {"en": "Which replies", "km": "ការឆ្លើយតបណាខ្លះ"},
    "replies_show_open": {"en": "Not handled", "km": "មិនទាន់ដោះស្រាយ"},
    "replies_show_handled": {"en": "Handled", "km": "បានដោះស្រាយ"},
    "replies_show_all": {"en": "All", "km": "ទាំងអស់"},
    "replies_none_open": {
        "en": "No reply is waiting to be handled.",
        "km": "គ្មានការឆ្លើយតបណាកំពុងរង់ចាំការដោះស្រាយទេ។",
    },
    "replies_none_handled": {
        "en": "No reply is marked handled.",
        "km": "គ្មានការឆ្លើយតបណាត្រូវបានសម្គាល់ថាបានដោះស្រាយទេ។",
    },
    "replies_none_all": {"en": "Nobody has written to us yet.", "km": "មិនទាន់មាននរណាម្នាក់សរសេរមកយើងនៅឡើយទេ។"},
    "replies_of_member": {
        "en": "Replies of member {member} only.",
        "km": "តែការឆ្លើយតបរបស់សមាជិក {member} ប៉ុណ្ណោះ។",
    },
    "replies_everyone": {"en": "Show everyone's", "km": "បង្ហាញរបស់អ្នកទាំងអស់"},
    "replies_older": {"en": "Older replies", "km": "ការឆ្លើយតបចាស់ៗ"},
    "replies_heading": {"en": "{channel}, {when}", "km": "{channel}, {when}"},
    "replies_from": {"en": "From", "km": "ពី"},
    "replies_unknown_sender": {
        "en": "a number we hold for no member",
        "km": "លេខដែលមិនមែនជារបស់សមាជិកណាម្នាក់",
    },
    "replies_member_page": {"en": "member page", "km": "ទំព័រសមាជិក"},
    "replies_received": {"en": "Received", "km": "បានទទួល"},
    "replies_channel": {"en": "Channel", "km": "បណ្តាញ"},
    "replies_stop": {"en": "STOP: they asked for no more messages", "km": "ឈប់៖ ពួកគេបានស្នើមិនឱ្យផ្ញើសារទៀត"},
    "replies_handled_by": {
        "en": "Handled by {name} on {when}",
        "km": "បានដោះស្រាយដោយ {name} នៅ {when}",
    },
    "replies_not_handled": {"en": "Not handled yet", "km": "មិនទាន់ដោះស្រាយ"},
    "replies_answered_count": {"en": "Answered ({count})", "km": "បានឆ្លើយតប ({count})"},
    "replies_open": {"en": "Open and answer", "km": "បើក និងឆ្លើយតប"},
    "replies_mark_handled": {"en": "Mark handled", "km": "សម្គាល់ថាបានដោះស្រាយ"},
    "replies_mark_unhandled": {"en": "Mark not handled", "km": "សម្គាល់ថាមិនទាន់ដោះស្រាយ"},
    "replies_back": {"en": "All replies", "km": "ការឆ្លើយតបទាំងអស់"},
    "replies_reply_title": {"en": "Reply on {channel}", "km": "ការឆ្លើយតបតាម {channel}"},
    "replies_text": {"en": "What they wrote", "km": "អ្វីដែលពួកគេបានសរសេរ"},
    "replies_answers": {"en": "Answers given", "km": "ចម្លើយដែលបានផ្តល់"},
    "replies_no_answers": {"en": "Nobody has answered yet.", "km": "មិនទាន់មាននរណាម្នាក់ឆ្លើយតបនៅឡើយទេ។"},
    "replies_answer_by": {"en": "{name}, {when}", "km": "{name}, {when}"},
    "replies_answer_unreadable": {
        "en": "(no longer readable: the person's data was erased)",
        "km": "(មិនអាចអានបានទៀតទេ៖ ទិន្នន័យរបស់បុគ្គលនោះត្រូវបានលុប)",
    },
    "replies_delivery": {"en": "Delivery: {state}", "km": "ការបញ្ជូន៖ {state}"},
    "replies_delivery_not_yet": {"en": "on its way to the channel", "km": "កំពុងធ្វើដំណើរទៅកាន់បណ្តាញ"},
    "replies_answer": {"en": "Answer", "km": "ឆ្លើយតប"},
    "replies_answer_label": {"en": "Your answer", "km": "ចម្លើយរបស់អ្នក"},
    "replies_answer_hint": {
        "en": "Plain text, at most 1,000 characters. It goes once, on {channel}, to the address they wrote from.",
        "km": "អត្ថបទធម្មតា យ៉ាងច្រើន ១០០០ តួអក្សរ។ វាត្រូវបានផ្ញើតែម្តង តាម {channel} ទៅកាន់អាសយដ្ឋានដែលពួកគេបានសរសេរមក។",
    },
    "replies_send": {"en": "Send answer", "km": "ផ្ញើចម្លើយ"},
    "replies_answer_required": {"en": "Write an answer.", "km": "សូមសរសេរចម្លើយ។"},
    "replies_answer_too_long": {
        "en": "Make the answer at most 1,000 characters long.",
        "km": "សូមធ្វើឱ្យចម្លើយមានយ៉ាងច្រើន ១០០០ តួអក្សរ។",
    },
    "replies_window_hours": {
        "en": "An answer is possible for {hours} more hours (until {until}).",
        "km": "អាចឆ្លើយតបបានរយៈពេល {hours} ម៉ោងទៀត (រហូតដល់ {until})។",
    },
    "replies_window_minutes": {
        "en": "An answer is possible for {minutes} more minutes (until {until}).",
        "km": "អាចឆ្លើយតបបានរយៈពេល {minutes} នាទីទៀត (រហូតដល់ {until})។",
    },
    "replies_window_none": {
        "en": "{channel} has no time limit for answers.",
        "km": "{channel} មិនមានកំណត់ពេលវេលាសម្រាប់ការឆ្លើយតបទេ។",
    },
    "replies_window_closed": {
        "en": "No answer is possible any more: {channel} allows free text only within 24 hours of the person's last message, and that time ended on {until}. It opens again when they write.",
        "km": "មិនអាចឆ្លើយតបបានទៀតទេ៖ {channel} អនុញ្ញាតអត្ថបទសេរីតែក្នុងរយៈពេល ២៤ ម៉ោងបន្ទាប់ពីសារចុងក្រោយរបស់បុគ្គលនោះ ហើយពេលវេលានោះបានបញ្ចប់នៅ {until}។ វានឹងបើកម្តងទៀតនៅពេលពួកគេសរសេរមក។",
    },
    "replies_cannot_answer": {
        "en": "Answers cannot be sent on {channel}.",
        "km": "មិនអាចផ្ញើចម្លើយតាម {channel} បានទេ។",
    },
    "replies_refused": {
        "en": "The answer was not sent.",
        "km": "ចម្លើយមិនត្រូវបានផ្ញើទេ។",
    },
    "replies_not_handed_over": {
        "en": "The answer was not sent: the message service did not take it. Nothing went out; send it again in a moment.",
        "km": "ចម្លើយមិនត្រូវបានផ្ញើទេ៖ សេវាសារមិនបានទទួលវាទេ។ គ្មានអ្វីត្រូវបានផ្ញើចេញទេ; សូមផ្ញើម្តងទៀតបន្តិចក្រោយ។",
    },
    "replies_your_text": {
        "en": "What you wrote (copy it if you need it):",
        "km": "អ្វីដែលអ្នកបានសរសេរ (ចម្លងវា ប្រសិនបើអ្នកត្រូវការ)៖",
    },
    "replies_done_answered": {
        "en": "Your answer is on its way. It shows below with its delivery.",
        "km": "ចម្លើយរបស់អ្នកកំពុងធ្វើដំណើរ។ វាបង្ហាញខាងក្រោមជាមួយការបញ្ជូនរបស់វា។",
    },
    "replies_done_already": {
        "en": "This answer was given already: it was not sent again.",
        "km": "ចម្លើយនេះត្រូវបានផ្តល់រួចហើយ៖ វាមិនត្រូវបានផ្ញើម្តងទៀតទេ។",
    },
    "replies_done_handled": {"en": "Marked handled.", "km": "បានសម្គាល់ថាបានដោះស្រាយ។"},
    "replies_done_unhandled": {"en": "Marked not handled.", "km": "បានសម្គាល់ថាមិនទាន់ដោះស្រាយ។"},
    "replies_state_waiting": {"en": "waiting", "km": "កំពុងរង់ចាំ"},
    "replies_state_pending": {"en": "pending", "km": "កំពុងដំណើរការ"},
    "replies_state_retrying": {"en": "retrying", "km": "កំពុងព្យាយាមម្តងទៀត"},
    "replies_state_unknown": {"en": "outcome unknown", "km": "មិនដឹងលទ្ធផល"},
    "replies_state_sent": {"en": "sent", "km": "បានផ្ញើ"},
    "replies_state_delivered": {"en": "delivered", "km": "បានទទួល"},
    "replies_state_failed_permanent": {"en": "failed", "km": "បរាជ័យ"},
    "replies_state_dead_lettered": {"en": "dead letter", "km": "សារបរាជ័យ"},
    "replies_state_skipped": {"en": "not sent", "km": "មិនបានផ្ញើ"},
}
