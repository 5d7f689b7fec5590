"""The Signal channel: signal-cli-rest-api, certificate PNG as an attachment."""
