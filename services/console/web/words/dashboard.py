"""Words of the dashboard (services/console/web/dashboard.py)."""

from __future__ import annotations

from shared.contracts.languages import Lang

WORDS: dict[str, dict[Lang, str]] = {
    "dashboard_title": {"en": "Dashboard", "km": "ផ្ទាំងព័ត៌មាន"},
    "dashboard_period": {"en": "Period", "km": "រយៈពេល"},
    "dashboard_week": {"en": "Last 7 days", "km": "៧ ថ្ងៃចុងក្រោយ"},
    "dashboard_month": {"en": "Last 30 days", "km": "៣០ ថ្ងៃចុងក្រោយ"},
    "dashboard_show": {"en": "Show", "km": "បង្ហាញ"},
    "dashboard_range": {
        "en": "From {since} to {until}. A delivery counts here when it was created in this period; its state is the one it has now.",
        "km": "ពី {since} ដល់ {until}។ ការបញ្ជូនមួយត្រូវបានរាប់នៅទីនេះ នៅពេលវាត្រូវបានបង្កើតក្នុងរយៈពេលនេះ។ ស្ថានភាពរបស់វា គឺស្ថានភាពដែលវាមានឥឡូវនេះ។",
    },
    "dashboard_deliveries": {"en": "Deliveries per channel", "km": "ការបញ្ជូនតាមបណ្តាញនីមួយៗ"},
    "dashboard_channel": {"en": "Channel", "km": "បណ្តាញ"},
    "dashboard_requested": {"en": "Requested", "km": "បានស្នើ"},
    "dashboard_sent": {"en": "Sent", "km": "បានផ្ញើ"},
    "dashboard_delivered": {"en": "Delivered", "km": "បានទៅដល់"},
    "dashboard_failed": {"en": "Failed", "km": "បរាជ័យ"},
    "dashboard_skipped": {"en": "Skipped", "km": "បានរំលង"},
    "dashboard_in_progress": {"en": "In progress", "km": "កំពុងដំណើរការ"},
    "dashboard_failure_rate": {"en": "Failure rate", "km": "អត្រាបរាជ័យ"},
    "dashboard_warning": {"en": "Warning: above 3%", "km": "ការព្រមាន៖ លើសពី ៣%"},
    "dashboard_warnings": {
        "en": "More than 3% of deliveries failed on: {channels}.",
        "km": "ការបញ្ជូនលើសពី ៣% បានបរាជ័យនៅលើ៖ {channels}។",
    },
    "dashboard_definitions": {
        "en": "Sent includes delivered. Failure rate: failed ÷ (sent + failed), the deliveries whose outcome is known. Skipped: the channel could not reach the person (no address, unsubscribed).",
        "km": "„បានផ្ញើ“ រាប់បញ្ចូលទាំង „បានទៅដល់“។ អត្រាបរាជ័យ៖ បរាជ័យ ÷ (បានផ្ញើ + បរាជ័យ) គឺការបញ្ជូនដែលដឹងលទ្ធផលរួចហើយ។ បានរំលង៖ បណ្តាញមិនអាចទៅដល់មនុស្សនោះបានទេ (គ្មានអាសយដ្ឋាន ឬបានឈប់ជាវ)។",
    },
    "dashboard_daily": {"en": "Pledges and certificates per day", "km": "ការសន្យា និងវិញ្ញាបនបត្រ ក្នុងមួយថ្ងៃ"},
    "dashboard_date": {"en": "Date", "km": "កាលបរិច្ឆេទ"},
    "dashboard_pledges": {"en": "Pledges", "km": "ការសន្យា"},
    "dashboard_certificates": {"en": "Certificates", "km": "វិញ្ញាបនបត្រ"},
    "dashboard_total": {"en": "Total", "km": "សរុប"},
    "dashboard_days_note": {
        "en": "Dates in {zone}; the first and the last day are partial.",
        "km": "កាលបរិច្ឆេទតាមល្វែងម៉ោង {zone}។ ថ្ងៃដំបូង និងថ្ងៃចុងក្រោយ មិនពេញមួយថ្ងៃទេ។",
    },
    "dashboard_queues": {"en": "Channel queues now", "km": "ជួររង់ចាំរបស់បណ្តាញ ឥឡូវនេះ"},
    "dashboard_queues_note": {
        "en": "Waiting: requests in the channel's queues (all priorities). Oldest waiting: the oldest delivery that has no outcome yet. Workers: processes taking from the queues.",
        "km": "កំពុងរង់ចាំ៖ សំណើក្នុងជួររង់ចាំរបស់បណ្តាញ (គ្រប់អាទិភាព)។ រង់ចាំយូរជាងគេ៖ ការបញ្ជូនចាស់ជាងគេដែលមិនទាន់មានលទ្ធផល។ អ្នកធ្វើការ៖ ដំណើរការដែលយកសារពីជួររង់ចាំ។",
    },
    "dashboard_waiting": {"en": "Waiting", "km": "កំពុងរង់ចាំ"},
    "dashboard_oldest": {"en": "Oldest waiting", "km": "រង់ចាំយូរជាងគេ"},
    "dashboard_workers": {"en": "Workers", "km": "អ្នកធ្វើការ"},
    "dashboard_dead_letters": {"en": "Dead letters", "km": "សារដែលបរាជ័យ"},
    "dashboard_no_workers": {"en": "none running", "km": "គ្មានកំពុងដំណើរការ"},
    "dashboard_other_queues": {"en": "Other services' queues", "km": "ជួររង់ចាំរបស់សេវាផ្សេងទៀត"},
    "dashboard_queue": {"en": "Queue", "km": "ជួររង់ចាំ"},
    "dashboard_not_created": {"en": "not created yet", "km": "មិនទាន់បានបង្កើត"},
    "dashboard_unknown": {"en": "unknown", "km": "មិនដឹង"},
    "dashboard_nothing_waiting": {"en": "nothing waiting", "km": "គ្មានអ្វីរង់ចាំ"},
    "dashboard_broker_away": {
        "en": "The message broker did not answer: the queue counts are not shown. The deliveries above are complete.",
        "km": "កម្មវិធីចែកចាយសារមិនបានឆ្លើយតប៖ ចំនួនក្នុងជួររង់ចាំមិនត្រូវបានបង្ហាញទេ។ ការបញ្ជូនខាងលើគឺពេញលេញ។",
    },
    "dashboard_minutes": {"en": "{minutes} min", "km": "{minutes} នាទី"},
    "dashboard_hours": {"en": "{hours} h {minutes} min", "km": "{hours} ម៉ោង {minutes} នាទី"},
    "dashboard_days": {"en": "{days} d {hours} h", "km": "{days} ថ្ងៃ {hours} ម៉ោង"},
    "dashboard_since": {"en": "since {when}", "km": "តាំងពី {when}"},
    "dashboard_see_dead_letters": {"en": "See the dead letters", "km": "មើលសារដែលបរាជ័យ"},
    "dashboard_chart_daily": {
        "en": "Chart: pledges and certificates per day (the numbers are in the table below).",
        "km": "គំនូសតាង៖ ការសន្យា និងវិញ្ញាបនបត្រ ក្នុងមួយថ្ងៃ (លេខមាននៅក្នុងតារាងខាងក្រោម)។",
    },
    "dashboard_chart_channels": {
        "en": "Chart: sent and failed deliveries per channel (the numbers are in the table below).",
        "km": "គំនូសតាង៖ ការបញ្ជូនដែលបានផ្ញើ និងបរាជ័យ តាមបណ្តាញនីមួយៗ (លេខមាននៅក្នុងតារាងខាងក្រោម)។",
    },
}
