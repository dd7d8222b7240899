"""Answered requests are counted by service, method, route template and status."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from redress.metrics import HTTP_REQUESTS
from redress.service import CountRequests


def _count(service: str, method: str, path: str, status: str) -> float:
    return HTTP_REQUESTS.labels(service, method, path, status)._value.get()


def test_requests_are_counted_by_route_template_and_status() -> None:
    app = FastAPI()
    app.add_middleware(CountRequests, service="counting-test")

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        if thing_id == 0:
            raise HTTPException(404, "no such thing")
        return {"thing_id": thing_id}

    client = TestClient(app)
    assert client.get("/things/1").json() == {"thing_id": 1}
    assert client.get("/things/2").status_code == 200
    assert client.get("/things/0").status_code == 404
    assert client.get("/things/x").status_code == 422
    assert client.get("/elsewhere").status_code == 404

    assert _count("counting-test", "GET", "/things/{thing_id}", "200") == 2
    assert _count("counting-test", "GET", "/things/{thing_id}", "404") == 1
    assert _count("counting-test", "GET", "/things/{thing_id}", "422") == 1
    assert _count("counting-test", "GET", "unmatched", "404") == 1
