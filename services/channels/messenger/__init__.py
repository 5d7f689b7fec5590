"""The Messenger channel: Send API to a PSID linked through the pledge's m.me reference."""
