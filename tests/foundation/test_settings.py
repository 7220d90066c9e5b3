from __future__ import annotations

import pytest

from shared.errors import ConfigurationError
from shared.settings import PlatformName, load_settings, normalize_leanix_host


def test_nothing_configured_selects_the_embedded_default() -> None:
    settings = load_settings()
    assert settings.platform is PlatformName.LOCAL
    assert settings.uses_emulator


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme.leanix.net", "https://acme.leanix.net"),
        ("https://acme.leanix.net", "https://acme.leanix.net"),
        ("https://acme.leanix.net/", "https://acme.leanix.net"),
        ("  eu.leanix.net ", "https://eu.leanix.net"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_leanix_host_accepts_bare_and_full_forms(raw: str, expected: str) -> None:
    assert normalize_leanix_host(raw) == expected


@pytest.mark.parametrize(
    "raw", ["http://acme.leanix.net", "ftp://acme.leanix.net", "https://acme.leanix.net/x"]
)
def test_leanix_host_rejects_clear_text_and_paths(raw: str) -> None:
    with pytest.raises(ValueError, match="LEANIX_HOST"):
        normalize_leanix_host(raw)


def test_unresolved_key_vault_reference_is_rejected_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "LEANIX_API_TOKEN", "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/t/)"
    )
    with pytest.raises(ConfigurationError, match="LEANIX_API_TOKEN") as info:
        load_settings()
    assert "Key Vault" in str(info.value)


def test_invalid_setting_error_names_the_setting_and_hides_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEANIX_REQUESTS_PER_MINUTE", "lots")
    with pytest.raises(ConfigurationError, match="LEANIX_REQUESTS_PER_MINUTE"):
        load_settings()


def test_secret_values_are_listed_for_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEANIX_API_TOKEN", "LXT_secret_value_123")
    settings = load_settings()
    assert "LXT_secret_value_123" in settings.secret_values()
    assert "LXT_secret_value_123" not in repr(settings)
