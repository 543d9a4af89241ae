"""E-mail invitations and reminders (issue 9).

``contacts`` parses and validates a contacts CSV, ``templates`` renders the per-language
subject, plain-text and HTML bodies (Jinja, sandboxed; HTML autoescaped) with the defaults
shipped in ``defaults/<lang>/``, ``message`` builds the MIME message with the standard
library's ``email`` package, ``smtp`` sends it (``TRUSTMETER_SMTP_URL``) and classifies
the server's replies, and ``handler`` is the outbox worker's handler for kind ``email``.
Addresses and names live only in the ``contacts`` table (``survey.storage.contacts``).
"""
