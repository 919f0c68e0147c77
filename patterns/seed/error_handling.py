"""The seed's centralized error handlers (its "Centralized Error Handler"), as written.

(a) Adapted from the seed: nothing; the snippet runs as it stands. The harness puts the handlers
on a bare app with three small routes, so lesson 09 can show what they answer.
"""

# ==== (b) The seed's code ("Centralized Error Handler" in backend-patterns.md), as written ====
# app/errors.py

from flask import jsonify
from marshmallow import ValidationError

class ApiError(Exception):
    def __init__(self, message: str, status_code: int = 400):
        self.message = message
        self.status_code = status_code
        super().__init__(message)

def register_error_handlers(app):
    @app.errorhandler(ApiError)
    def handle_api_error(error):
        return jsonify({
            'success': False,
            'error': error.message
        }), error.status_code

    @app.errorhandler(ValidationError)
    def handle_validation_error(error):
        return jsonify({
            'success': False,
            'error': 'Validation failed',
            'details': error.messages
        }), 400

    @app.errorhandler(Exception)
    def handle_unexpected_error(error):
        app.logger.exception('Unexpected error')
        return jsonify({
            'success': False,
            'error': 'Internal server error'
        }), 500
# ==== end of the seed's code ====


# ==== (c) Harness: the app lesson 09 runs the handlers on ====
from flask import Flask, request

from patterns.seed.harness import bare_app


def seed_app() -> Flask:
    """A bare app with the seed's handlers: a market lookup, an echo of a JSON body, a crash."""
    # Its log goes nowhere unless a lesson captures it (capture_logs(logger="seed_errors")).
    app = bare_app("seed_errors", log=True)
    register_error_handlers(app)

    @app.get("/api/markets/<int:market_id>")
    def get_market(market_id: int):
        if market_id != 1:
            raise ApiError("Not found", 404)
        return jsonify({"success": True, "data": {"id": 1}})

    @app.post("/api/echo")
    def echo():
        return jsonify({"success": True, "data": request.get_json()})

    @app.get("/api/crash")
    def crash():
        raise RuntimeError("db password=hunter2 rejected")

    return app
