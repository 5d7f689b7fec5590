"""The WhatsApp channel: WhatsApp Business Cloud API, certificate image, status webhooks."""
