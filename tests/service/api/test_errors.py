"""Everything a client can get wrong ends in a clear JSON error with the right status."""

from __future__ import annotations

import json

import pytest

from tests.service.api.api_server import (
    AUTH,
    MAX_BATCH_DOCUMENTS,
    MAX_DOCUMENT_BYTES,
    MAX_REQUEST_BYTES,
)

JSON = {**AUTH, "Content-Type": "application/json"}


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    return body["error"]


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing"),
        ({"Authorization": "Bearer not-a-key-of-this-server"}, "not accepted"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing"),
        ({"Authorization": "Bearer"}, "missing"),
    ],
)
def test_scan_without_a_valid_key_is_401(client, headers, why):
    for path in ("/v1/scan", "/v1/scan/batch"):
        body = {"text": "x"} if path == "/v1/scan" else {"documents": []}
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        error = error_of(response)
        assert error["code"] == "unauthorized" and why in error["message"]
    assert client.get("/v1/index", headers=headers).status_code == 401
    assert client.post("/v1/admin/reload", headers=headers).status_code == 401


def test_body_over_the_limit_is_413_by_content_length(client):
    text = "a" * (MAX_REQUEST_BYTES + 10)
    response = client.post("/v1/scan", content=json.dumps({"text": text}), headers=JSON)

    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "request_too_large" and str(MAX_REQUEST_BYTES) in error["message"]


def test_body_over_the_limit_is_413_while_streaming(client):
    def chunks():  # no Content-Length: the limit must hold as bytes arrive
        yield b'{"text": "'
        for _ in range(MAX_REQUEST_BYTES // 65536 + 2):
            yield b"a" * 65536
        yield b'"}'

    response = client.post("/v1/scan", content=chunks(), headers=JSON)

    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"


def test_document_over_the_limit_is_413(client):
    response = client.post(
        "/v1/scan", json={"text": "é" * (MAX_DOCUMENT_BYTES // 2 + 1)}, headers=AUTH
    )

    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "document_too_large"
    assert f"{MAX_DOCUMENT_BYTES + 2} bytes" in error["message"]


def test_batch_over_the_limit_is_413(client):
    documents = [{"text": "x"}] * (MAX_BATCH_DOCUMENTS + 1)
    response = client.post("/v1/scan/batch", json={"documents": documents}, headers=AUTH)

    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "batch_too_large" and str(MAX_BATCH_DOCUMENTS) in error["message"]


def test_empty_batch_is_an_empty_answer(client):
    response = client.post("/v1/scan/batch", json={"documents": []}, headers=AUTH)
    assert response.json() == {"count": 0, "results": []}


def test_malformed_json_is_422_with_the_position(client):
    response = client.post("/v1/scan", content=b'{"text": "unclosed', headers=JSON)

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_json" and "not valid JSON" in error["message"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/scan", {"text": 42}, "body.text"),
        ("/v1/scan", {"text": None}, "body.text"),
        ("/v1/scan", {"id": "x"}, "body.text"),
        ("/v1/scan", {"text": "x", "id": 7}, "body.id"),
        ("/v1/scan", {"text": "x", "metadata": [1, 2]}, "body.metadata"),
        ("/v1/scan", {"text": "x", "txt": "typo"}, "body.txt"),
        ("/v1/scan", ["x"], "body"),
        ("/v1/scan/batch", {"documents": "x"}, "body.documents"),
        ("/v1/scan/batch", {"documents": [{"text": 1}]}, "body.documents.0.text"),
    ],
)
def test_wrong_types_are_422_naming_the_field(client, path, body, field):
    response = client.post(path, json=body, headers=AUTH)

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert field in error["message"]
    assert error["details"] and all(set(d) == {"loc", "msg", "type"} for d in error["details"])


def test_invalid_utf8_is_rejected_with_a_message(client):
    response = client.post("/v1/scan", content=b'{"text": "caf\xe9 au lait"}', headers=JSON)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_utf8"
    assert "not valid UTF-8" in error["message"] and "0xe9" in error["message"]


def test_lone_surrogate_text_is_422(client):
    response = client.post("/v1/scan", content=b'{"text": "a \\udc80 b"}', headers=JSON)

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_text" and "U+DC80" in error["message"]


def test_body_that_is_not_declared_json_is_415(client):
    for headers in ({"Content-Type": "text/plain"}, {}):
        response = client.post("/v1/scan", content=b'{"text": "x"}', headers={**AUTH, **headers})

        assert response.status_code == 415
        error = error_of(response)
        assert error["code"] == "unsupported_media_type"
        assert "Content-Type: application/json" in error["message"]


def test_unknown_path_and_method_are_json_errors(client):
    missing = client.get("/v1/nothing-here", headers=AUTH)
    wrong_method = client.get("/v1/scan", headers=AUTH)

    assert (missing.status_code, error_of(missing)["code"]) == (404, "not_found")
    assert (wrong_method.status_code, error_of(wrong_method)["code"]) == (405, "method_not_allowed")


NASTY_BODIES = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"{}",
    b'{"text": "\\u0000\\u0000"}',
    b'{"text": "x", "metadata": {"score": NaN}}',
    b'{"text": "x", "metadata": {"big": 1e999}}',
    b'{"text": "x", "id": "\\ud800"}',
    b'{"text": "x", "metadata": {"k": "\\udfff"}}',
    b'{"text": "x", "metadata": {"n": ' + b"9" * 5000 + b"}}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"documents": [' + b"{}," * 1000 + b"{}]}",
    b"\xef\xbb\xbf" + b'{"text": "bom"}',
    b"\xff\xfe{\x00}\x00",
    b'{"text": "\xed\xa0\x80"}',
]


@pytest.mark.parametrize("body", NASTY_BODIES, ids=range(len(NASTY_BODIES)))
@pytest.mark.parametrize("path", ["/v1/scan", "/v1/scan/batch"])
def test_no_body_a_client_can_send_gives_a_500(client, path, body):
    for content_type in ("application/json", "text/plain"):
        response = client.post(path, content=body, headers={**AUTH, "Content-Type": content_type})

        assert response.status_code < 500, (response.status_code, response.text)
        if response.status_code != 200:
            assert error_of(response)["code"]


def test_scan_works_after_all_those_errors(client):
    response = client.post("/v1/scan", json={"text": "still here"}, headers=AUTH)
    assert response.status_code == 200
