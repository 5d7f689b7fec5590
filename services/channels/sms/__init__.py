"""The sms channel (its declaration: channel.toml)."""
