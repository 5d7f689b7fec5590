"""event-scheduler: sessions, registrations and their reminders (see app.py)."""
