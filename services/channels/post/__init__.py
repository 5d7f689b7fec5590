"""The post channel: printed certificates by a print-and-mail API, or a local print batch."""
