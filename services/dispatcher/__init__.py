"""alert-dispatcher: the one router for every outbound message."""
