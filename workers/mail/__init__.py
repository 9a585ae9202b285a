"""Mail to users: the ``mail.send`` job (``actors.py``) renders a template and hands the
message to the configured sender (``senders.py``): SMTP, or one ``.eml`` file per message
in a folder (the embedded default)."""
