"""Settings from the environment: parsed, validated, unsafe set-ups refused with a clear message."""

from __future__ import annotations

import subprocess

import pytest

from service.api.settings import ApiSettings, ApiSettingsError
from tests.service.api.api_server import CLEARANCE, KEY, SECOND_KEY


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("CLEARANCE_") and name != "CLEARANCE_DATA_DIR":
            monkeypatch.delenv(name)


def test_environment_is_read_with_comma_separated_lists(monkeypatch, tmp_path):
    monkeypatch.setenv("CLEARANCE_INDEX", str(tmp_path))
    monkeypatch.setenv("CLEARANCE_API_KEYS", f" {KEY} ,{SECOND_KEY},")
    monkeypatch.setenv("CLEARANCE_TIERS", "verbatim")
    monkeypatch.setenv("CLEARANCE_POLICY", '{"benchmark": {"review_at": 0.4}}')
    monkeypatch.setenv("CLEARANCE_MAX_BATCH_DOCUMENTS", "64")

    settings = ApiSettings.from_env()

    assert settings.index == tmp_path
    assert settings.key_values() == (KEY, SECOND_KEY)
    assert KEY not in repr(settings)  # keys are secrets, never printed
    assert settings.scan_settings().tiers == ("verbatim",)
    assert settings.scan_policy().benchmark.review_at == 0.4
    assert settings.scan_policy().benchmark.remove_at == 0.8
    assert settings.max_batch_documents == 64


def test_cli_options_override_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CLEARANCE_TIERS", "verbatim,paraphrase")
    monkeypatch.setenv("CLEARANCE_AUTH", "disabled")

    settings = ApiSettings.from_env(index=tmp_path, tiers="verbatim", port=None)

    assert settings.tiers == ("verbatim",) and settings.port == 8000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "CLEARANCE_API_KEYS"),
        ({"CLEARANCE_API_KEYS": "short"}, "shorter than 16 characters"),
        ({"CLEARANCE_AUTH": "disabled", "CLEARANCE_HOST": "0.0.0.0"}, "for local use"),
        ({"CLEARANCE_AUTH": "maybe"}, "CLEARANCE_AUTH"),
        ({"CLEARANCE_AUTH": "disabled", "CLEARANCE_TIERS": "verbatim,fuzzy"}, "CLEARANCE_TIERS"),
        (
            {"CLEARANCE_AUTH": "disabled", "CLEARANCE_POLICY": '{"benchmark": {"strictness": 1}}'},
            "CLEARANCE_POLICY: unknown threshold",
        ),
        (
            {"CLEARANCE_AUTH": "disabled", "CLEARANCE_POLICY": '{"poetry": {}}'},
            "unknown corpus kind",
        ),
        (
            {"CLEARANCE_AUTH": "disabled", "CLEARANCE_MAX_DOCUMENT_BYTES": "20000000"},
            "larger than CLEARANCE_MAX_REQUEST_BYTES",
        ),
        ({"CLEARANCE_AUTH": "disabled", "CLEARANCE_REQUEST_TIMEOUT_S": "0"}, "TIMEOUT_S"),
    ],
)
def test_unsafe_or_invalid_settings_are_refused(monkeypatch, tmp_path, env, message):
    monkeypatch.setenv("CLEARANCE_INDEX", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ApiSettingsError) as refused:
        ApiSettings.from_env()

    assert message in str(refused.value)


def test_missing_index_is_named():
    with pytest.raises(ApiSettingsError, match="CLEARANCE_INDEX: Field required"):
        ApiSettings.from_env(auth="disabled")


def test_auth_disabled_on_loopback_is_allowed(tmp_path):
    for host in ("127.0.0.1", "localhost", "::1"):
        assert ApiSettings.from_env(index=tmp_path, auth="disabled", host=host).auth == "disabled"


def test_serve_refuses_to_start_without_keys(tmp_path):
    result = subprocess.run(
        [str(CLEARANCE), "serve", "--index", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "no API keys: set CLEARANCE_API_KEYS" in " ".join(result.stderr.split())


def test_serve_refuses_a_folder_that_is_not_an_index(tmp_path, monkeypatch):
    monkeypatch.setenv("CLEARANCE_AUTH", "disabled")
    result = subprocess.run(
        [str(CLEARANCE), "serve", "--index", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "is not a Clearance index" in " ".join(result.stderr.split())  # rich wraps lines
