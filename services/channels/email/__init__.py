"""The email channel: SMTP via aiosmtplib, certificate PDF attached."""
