"""Webhooks: a signed POST to each configured receiver when an operation ends.

    settings.py   MIGRATEWAY_WEBHOOKS, checked before the service starts
    message.py    the body: the event, the operation as GET /operations/<id> shows it, a text line
    signing.py    the Migrateway-Signature header (HMAC-SHA256 over "<timestamp>.<body>")
    transport.py  one POST, its status code or what went wrong
    worker.py     the thread that finds what to send, sends it, and retries with backoff

Each delivery is a row of the operation log's store (api/service/oplog/deliveries.py), so a
delivery a dead process left unmade is made by the next process that looks.
"""
