"""Lesson 01's evidence: the REST status-code contract, also measured by bench/rest_api.py."""

from __future__ import annotations

from flask.testing import FlaskClient


def status_code_checks(client: FlaskClient, headers: dict[str, str]) -> dict[str, bool]:
    """Run the REST contract against a client (fresh demo data, ids 1..n); which checks hold."""
    created = client.post("/api/markets", json={"name": "Contract check"}, headers=headers)
    location = created.headers.get("Location", "")
    fetched = client.get(location) if location else None
    deleted = client.delete(location or "/api/markets/0", headers=headers)
    not_allowed = client.patch("/api/markets")
    checks = {
        "list answers 200": client.get("/api/markets").status_code == 200,
        "limit above 100 is 400": client.get("/api/markets?limit=10000000").status_code == 400,
        "non-numeric limit is 400": client.get("/api/markets?limit=abc").status_code == 400,
        "negative offset is 400": client.get("/api/markets?offset=-1").status_code == 400,
        "unknown status is 400": client.get("/api/markets?status=bogus").status_code == 400,
        "get missing is 404": client.get("/api/markets/999999").status_code == 404,
        "create is 201": created.status_code == 201,
        "create has Location": location.startswith("/api/markets/"),
        "Location answers 200": fetched is not None and fetched.status_code == 200,
        "delete is 204": deleted.status_code == 204,
        "204 has empty body": deleted.get_data() == b"",
        "deleted is gone (404)": client.get(location).status_code == 404,
        "update missing is 404": client.put("/api/markets/999999", json={"name": "x"},
                                            headers=headers).status_code == 404,
        "delete missing is 404": client.delete("/api/markets/999999",
                                               headers=headers).status_code == 404,
        "wrong method is 405": not_allowed.status_code == 405,
        "405 has Allow": "GET" in not_allowed.headers.get("Allow", ""),
        "malformed JSON is 400": client.post("/api/markets", data="{bad", headers=headers,
                                             content_type="application/json").status_code == 400,
        "non-JSON body is 415": client.post("/api/markets", data="name=x", headers=headers,
                                            content_type="text/plain").status_code == 415,
        "unknown field is 422": client.post("/api/markets", json={"name": "x", "volume": 1},
                                            headers=headers).status_code == 422,
        "missing name is 422": client.post("/api/markets", json={},
                                           headers=headers).status_code == 422,
    }
    return checks
