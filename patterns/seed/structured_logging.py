"""The seed's JSON log formatter, as written."""

# ---- the seed's formatter, unchanged below this line ----
import logging  # noqa: I001 (the seed's import order)
import json
from flask import request, g  # noqa: F401 (the seed imports request and never uses it)

class StructuredFormatter(logging.Formatter):
    def format(self, record):
        log_entry = {
            'timestamp': self.formatTime(record),
            'level': record.levelname,
            'message': record.getMessage(),
            'module': record.module,
        }

        # Add request context if available
        if hasattr(g, 'request_id'):
            log_entry['request_id'] = g.request_id

        if hasattr(g, 'current_user'):
            log_entry['user_id'] = g.current_user.id

        return json.dumps(log_entry)
# ---- end of the seed's formatter ----
