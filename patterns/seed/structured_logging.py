"""The seed's JSON log formatter (its "Structured Logging"), as written.

(a) Adapted from the seed: nothing in the formatter. The seed's "# Setup" lines are left out:
they add a handler to a global `app` at import time; lesson 12 attaches the formatter itself.
"""

# ==== (b) The seed's code ("Structured Logging" in backend-patterns.md), as written ====
import logging
import json
from flask import request, g

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
# ==== end of the seed's code ====


# ==== (c) Harness: none; lesson 12 puts the formatter on its own handler ====
