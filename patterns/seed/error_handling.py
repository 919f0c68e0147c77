"""The seed's centralized error handlers, as written, on a bare app with three small routes."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from flask.logging import default_handler
from marshmallow import ValidationError


# ---- the seed's error handlers, unchanged below this line ----
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
# ---- end of the seed's error handlers ----


def seed_app() -> Flask:
    """A bare app with the seed's handlers: a market lookup, an echo of a JSON body, a crash."""
    app = Flask("seed_errors")
    # Its log goes nowhere unless a lesson captures it (capture_logs(logger="seed_errors")).
    app.logger.removeHandler(default_handler)
    app.logger.addHandler(logging.NullHandler())
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
