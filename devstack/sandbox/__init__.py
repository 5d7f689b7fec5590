"""Local stand-ins for the third-party providers we cannot reach (Signal, WhatsApp, Messenger,
print-and-mail). Each provider is a module in `providers/` exposing `provider = Provider(...)`,
served under `/<name>/...` with the real API's paths and payloads. Every request is recorded, and
faults (latency, error codes, "processed but answered 429", timeouts) can be injected per rule.
"""
