"""config.loader on good configs: HCL and JSON, the example files, dev mode, defaults."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from config import (
    AuditDeviceSettings,
    ConfigError,
    Settings,
    dev_settings,
    load_settings,
    settings_from_dict,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"

MINIMAL = """
storage "lmdb" { path = "/var/lib/strongroom" }
listener "tcp" { tls_disable = true }
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    # Only existence and readability are checked at load time, not the PEM content.
    return write(tmp_path, "server.crt", "certificate"), write(tmp_path, "server.key", "key")


def full_config(cert: Path, key: Path) -> str:
    return f"""
    storage "lmdb" {{
      path = "/srv/data"
      map_size = "512MiB"
      max_map_size = 8589934592
    }}
    listener "tcp" {{
      address = "[::1]:8300"
      tls_cert_file = "{cert}"
      tls_key_file = "{key}"
      tls_min_version = "TLS13"
      max_request_size = "1MB"
      max_request_duration = "1m30s"
      disable_unauthed_rekey_endpoints = "false"
      disable_unauthed_generate_root_endpoints = false
    }}
    disable_mlock = "TRUE"
    api_addr = "https://vault.example.com:8200"
    log_level = "WARNING"
    ui = true
    unsafe_allow_api_audit_creation = false
    default_lease_ttl = "1h"
    max_lease_ttl = 86400
    unseal_progress_ttl = "5m"
    audit "file" "to-disk" {{
      description = "main"
      local = "true"
      options {{ file_path = "/var/log/a.log" mode = "0600" log_raw = false hmac_accessor = 1 }}
    }}
    """


def test_minimal_config_gets_vault_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "s.hcl", MINIMAL))
    assert settings.storage.backend == "lmdb" and settings.storage.path == "/var/lib/strongroom"
    assert (settings.storage.map_size, settings.storage.max_map_size) == (2**30, 64 * 2**30)
    (listener,) = settings.listeners
    assert (listener.address, listener.host, listener.port) == ("127.0.0.1:8200", "127.0.0.1", 8200)
    assert listener.tls_disable and listener.tls_cert_file is None and listener.tls_key_file is None
    assert listener.tls_min_version == "tls12"
    assert listener.max_request_size == 32 * 2**20 and listener.max_request_duration == 90
    assert listener.disable_unauthed_rekey_endpoints and listener.disable_unauthed_generate_root_endpoints
    assert settings.disable_mlock is False and settings.ui is False and settings.api_addr is None
    assert settings.unsafe_allow_api_audit_creation is False
    assert settings.log_level == "info"
    assert settings.default_lease_ttl == settings.max_lease_ttl == 768 * 3600
    assert settings.unseal_progress_ttl == 600
    assert settings.audit_devices == ()
    assert settings.source == str(tmp_path / "s.hcl")


def test_every_key_is_read_and_typed(tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    settings = load_settings(write(tmp_path, "s.hcl", full_config(cert, key)))
    assert settings.storage == dataclasses.replace(
        settings.storage, backend="lmdb", path="/srv/data", map_size=512 * 2**20, max_map_size=8 * 2**30
    )
    (listener,) = settings.listeners
    assert (listener.host, listener.port) == ("::1", 8300)
    assert not listener.tls_disable
    assert (listener.tls_cert_file, listener.tls_key_file) == (str(cert), str(key))
    assert listener.tls_min_version == "tls13"
    assert (listener.max_request_size, listener.max_request_duration) == (10**6, 90)
    assert listener.disable_unauthed_rekey_endpoints is False
    assert listener.disable_unauthed_generate_root_endpoints is False
    assert settings.disable_mlock is True and settings.ui is True
    assert settings.api_addr == "https://vault.example.com:8200"
    assert settings.log_level == "warn"
    assert (settings.default_lease_ttl, settings.max_lease_ttl, settings.unseal_progress_ttl) == (3600, 86400, 300)
    assert settings.audit_devices == (
        AuditDeviceSettings(
            type="file",
            path="to-disk/",
            description="main",
            local=True,
            options={"file_path": "/var/log/a.log", "mode": "0600", "log_raw": False, "hmac_accessor": 1},
        ),
    )


def test_json_config_gives_the_same_settings(tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    from_hcl = load_settings(write(tmp_path, "s.hcl", full_config(cert, key)))
    as_json = {
        "storage": {"lmdb": {"path": "/srv/data", "map_size": "512MiB", "max_map_size": 8589934592}},
        "listener": [
            {
                "tcp": {
                    "address": "[::1]:8300",
                    "tls_cert_file": str(cert),
                    "tls_key_file": str(key),
                    "tls_min_version": "TLS13",
                    "max_request_size": "1MB",
                    "max_request_duration": "1m30s",
                    "disable_unauthed_rekey_endpoints": "false",
                    "disable_unauthed_generate_root_endpoints": False,
                }
            }
        ],
        "disable_mlock": "TRUE",
        "api_addr": "https://vault.example.com:8200",
        "log_level": "WARNING",
        "ui": True,
        "unsafe_allow_api_audit_creation": False,
        "default_lease_ttl": "1h",
        "max_lease_ttl": 86400,
        "unseal_progress_ttl": "5m",
        "audit": [
            {
                "file": {
                    "to-disk": {
                        "description": "main",
                        "local": "true",
                        "options": {
                            "file_path": "/var/log/a.log",
                            "mode": "0600",
                            "log_raw": False,
                            "hmac_accessor": 1,
                        },
                    }
                }
            }
        ],
    }
    json_path = write(tmp_path, "s.json", json.dumps(as_json))
    from_json = load_settings(json_path)
    assert from_json == dataclasses.replace(from_hcl, source=str(json_path))


def test_two_listeners_stay_two_with_their_own_settings(tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    text = MINIMAL + f"""
    listener "tcp" {{ address = "0.0.0.0:8201" tls_cert_file = "{cert}" tls_key_file = "{key}" }}
    """
    first, second = load_settings(write(tmp_path, "s.hcl", text)).listeners
    assert (first.address, first.tls_disable, first.tls_cert_file) == ("127.0.0.1:8200", True, None)
    assert (second.address, second.tls_disable, second.tls_cert_file) == ("0.0.0.0:8201", False, str(cert))


def test_listeners_on_port_zero_may_share_a_host(tmp_path: Path) -> None:
    text = 'storage "inmem" {}\n' + 'listener "tcp" { address = "127.0.0.1:0" tls_disable = true }\n' * 2
    assert [l.port for l in load_settings(write(tmp_path, "s.hcl", text)).listeners] == [0, 0]


def test_relative_paths_resolve_against_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "tls").mkdir()
    write(work / "tls", "c.pem", "c")
    write(work / "tls", "k.pem", "k")
    config = write(tmp_path, "s.hcl", """
    storage "lmdb" { path = "./data" }
    listener "tcp" { tls_cert_file = "tls/c.pem" tls_key_file = "tls/k.pem" }
    """)
    monkeypatch.chdir(work)
    settings = load_settings(config)
    assert settings.storage.path == str(work / "data")
    assert settings.listeners[0].tls_cert_file == str(work / "tls" / "c.pem")


def test_inmem_storage_and_grown_max_map_size(tmp_path: Path) -> None:
    inmem = load_settings(write(tmp_path, "a.hcl", 'storage "inmem" {}\nlistener "tcp" { tls_disable = true }'))
    assert inmem.storage.backend == "inmem" and inmem.storage.path is None
    big = load_settings(write(tmp_path, "b.hcl", MINIMAL.replace('" }', '" map_size = "100GiB" }', 1)))
    assert big.storage.map_size == big.storage.max_map_size == 100 * 2**30


def test_short_audit_form_takes_the_type_as_path(tmp_path: Path) -> None:
    text = MINIMAL + """
    audit "file" { path = "/var/log/strongroom/audit.log" mode = "0600" format = "json" description = "d" }
    """
    (device,) = load_settings(write(tmp_path, "s.hcl", text)).audit_devices
    assert (device.type, device.path, device.description, device.local) == ("file", "file/", "d", False)
    assert dict(device.options) == {"path": "/var/log/strongroom/audit.log", "mode": "0600", "format": "json"}


def test_several_audit_devices_keep_file_order(tmp_path: Path) -> None:
    text = MINIMAL + """
    audit "file" "b" { options { file_path = "/b" } }
    audit "file" "a/nested/" { options { file_path = "/a" } }
    audit "file" { file_path = "stdout" }
    """
    devices = load_settings(write(tmp_path, "s.hcl", text)).audit_devices
    assert [(d.path, d.options["file_path"]) for d in devices] == [("b/", "/b"), ("a/nested/", "/a"), ("file/", "stdout")]


def test_openbao_documented_json_audit_shape() -> None:
    # The JSON form from OpenBao's "Declarative Audit Devices" page.
    data = {
        "storage": {"inmem": {}},
        "listener": {"tcp": {"tls_disable": True}},
        "audit": [{"file": {"to-stdout": {"description": "never fails", "options": {"file_path": "/dev/stdout", "log_raw": "true"}}}}],
    }
    (device,) = settings_from_dict(data, "inline").audit_devices
    assert (device.path, device.description, dict(device.options)) == (
        "to-stdout/", "never fails", {"file_path": "/dev/stdout", "log_raw": "true"},
    )


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "s.hcl", MINIMAL + 'audit "file" { file_path = "x" }'))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.ui = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.audit_devices[0].options["file_path"] = "/elsewhere"  # type: ignore[index]


def test_local_example_loads() -> None:
    settings = load_settings(EXAMPLES / "local.hcl")
    assert settings.storage.backend == "lmdb" and settings.storage.path.endswith("/data")
    (listener,) = settings.listeners
    assert (listener.address, listener.tls_disable) == ("127.0.0.1:8200", True)


def test_production_example_loads_when_file_checks_are_skipped() -> None:
    settings = load_settings(EXAMPLES / "production.hcl", check_files=False)
    (listener,) = settings.listeners
    assert not listener.tls_disable
    assert listener.tls_cert_file == "/etc/strongroom/tls/strongroom.crt"
    assert listener.tls_key_file == "/etc/strongroom/tls/strongroom.key"
    assert settings.api_addr == "https://vault.example.com:8200"
    assert settings.disable_mlock is False
    (device,) = settings.audit_devices
    assert device.type == "file" and device.options["file_path"] == "/var/log/strongroom/audit.log"


def test_production_example_with_its_tls_files_in_place(tmp_path: Path) -> None:
    # The same file with its TLS paths pointed at files that exist: the check really runs.
    text = (EXAMPLES / "production.hcl").read_text().replace("/etc/strongroom/tls", str(tmp_path))
    write(tmp_path, "strongroom.crt", "c")
    write(tmp_path, "strongroom.key", "k")
    settings = load_settings(write(tmp_path, "production.hcl", text))
    assert settings.listeners[0].tls_key_file == str(tmp_path / "strongroom.key")
    (tmp_path / "strongroom.key").unlink()
    with pytest.raises(ConfigError, match=r"listener\.tcp\.tls_key_file: cannot read"):
        load_settings(tmp_path / "production.hcl")


def test_dev_settings_in_memory_and_on_disk(tmp_path: Path) -> None:
    in_memory = dev_settings()
    assert isinstance(in_memory, Settings)
    assert in_memory.storage.backend == "inmem"
    assert in_memory.listeners[0].address == "127.0.0.1:8200" and in_memory.listeners[0].tls_disable
    on_disk = dev_settings(tmp_path / "d", "[::1]:0")
    assert (on_disk.storage.backend, on_disk.storage.path) == ("lmdb", str(tmp_path / "d"))
    assert (on_disk.listeners[0].host, on_disk.listeners[0].port) == ("::1", 0)
    with pytest.raises(ConfigError, match=r"^config dev mode: listener\.tcp\.address: "):
        dev_settings(None, "localhost")


def test_workers_default_to_one_and_take_a_count(tmp_path):
    base = 'storage "lmdb" { path = "/var/lib/strongroom" }\nlistener "tcp" { tls_disable = true }\n'
    one, three = tmp_path / "one.hcl", tmp_path / "three.hcl"
    one.write_text(base)
    three.write_text(base + "workers = 3\n")
    assert load_settings(one).workers == 1
    assert load_settings(three).workers == 3
