"""Every way a config is refused: a ConfigError naming the file and the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load_settings, settings_from_dict

STORAGE = 'storage "lmdb" { path = "/var/lib/strongroom" }\n'
LISTENER = 'listener "tcp" { tls_disable = true }\n'
BASE = STORAGE + LISTENER


def refusal(tmp_path: Path, text: str, name: str = "s.hcl") -> ConfigError:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.source == str(path)
    assert str(caught.value).startswith(f"config {path}: ")
    return caught.value


CASES = [
    # (id, config text, dotted key, words the reason must contain)
    ("unknown top-level key", BASE + "foo = 1", "foo", "unknown key"),
    ("no workers", BASE + "workers = 0", "workers", "from 1 to 64"),
    ("too many workers", BASE + "workers = 65", "workers", "from 1 to 64"),
    ("workers as a fraction", BASE + "workers = 1.5", "workers", "whole number"),
    ("workers over inmem", 'storage "inmem" {}\n' + LISTENER + "workers = 2", "workers", "share an LMDB store"),
    ("top-level typo", BASE + "disable_mlok = true", "disable_mlok", "did you mean 'disable_mlock'"),
    ("vault-only top-level key", BASE + 'seal "awskms" {}', "seal", "does not support"),
    ("unknown listener key", STORAGE + 'listener "tcp" { adress = "1.2.3.4:1" tls_disable = true }',
     "listener.tcp.adress", "did you mean 'address'"),
    ("vault-only listener key", STORAGE + 'listener "tcp" { tls_disable = true tls_client_ca_file = "x" }',
     "listener.tcp.tls_client_ca_file", "does not support"),
    ("unknown storage key", 'storage "lmdb" { pth = "/x" }\n' + LISTENER, "storage.lmdb.pth", "did you mean 'path'"),
    ("inmem takes no keys", 'storage "inmem" { path = "/x" }\n' + LISTENER, "storage.inmem.path", "takes no keys"),
    ("bad bool string", BASE + 'ui = "yes"', "ui", "expected true or false, got 'yes'"),
    ("bool as number", STORAGE + 'listener "tcp" { tls_disable = 1 }', "listener.tcp.tls_disable", "got a number"),
    ("bad size unit", STORAGE + 'listener "tcp" { tls_disable = true max_request_size = "12XB" }',
     "listener.tcp.max_request_size", "invalid size '12XB'"),
    ("zero size", STORAGE + 'listener "tcp" { tls_disable = true max_request_size = 0 }',
     "listener.tcp.max_request_size", "greater than 0"),
    ("negative size", STORAGE + 'listener "tcp" { tls_disable = true max_request_size = -1 }',
     "listener.tcp.max_request_size", "must not be negative"),
    ("float size", 'storage "lmdb" { path = "/x" map_size = 1.5 }\n' + LISTENER, "storage.lmdb.map_size", "invalid size"),
    ("map bigger than ceiling", 'storage "lmdb" { path = "/x" map_size = "2GiB" max_map_size = "1GiB" }\n' + LISTENER,
     "storage.lmdb.max_map_size", "at least map_size"),
    ("bad duration", BASE + 'default_lease_ttl = "10x"', "default_lease_ttl", "invalid duration '10x'"),
    ("sub-second duration", STORAGE + 'listener "tcp" { tls_disable = true max_request_duration = "1.5s" }',
     "listener.tcp.max_request_duration", "whole number of seconds"),
    ("zero unseal ttl", BASE + "unseal_progress_ttl = 0", "unseal_progress_ttl", "greater than 0"),
    ("default ttl above max", BASE + 'default_lease_ttl = "48h"\nmax_lease_ttl = "24h"', "default_lease_ttl",
     "48h0m0s is longer than max_lease_ttl (24h0m0s)"),
    ("missing storage", LISTENER, "storage", "missing required block"),
    ("empty file", "", "storage", "missing required block"),
    ("two storage types", BASE + 'storage "inmem" {}', "storage", "2 storage blocks given"),
    ("two storage blocks of one type", BASE + 'storage "lmdb" { path = "/y" }', "storage", "2 storage blocks given"),
    ("unsupported storage", 'storage "consul" { path = "x" }\n' + LISTENER, "storage.consul", "unsupported storage type"),
    ("storage without label", 'storage { path = "/x" }\n' + LISTENER, "storage", "type label is missing"),
    ("storage not a block", 'storage = "lmdb"\n' + LISTENER, "storage", "expected a block like storage"),
    ("missing lmdb path", 'storage "lmdb" { map_size = "1GiB" }\n' + LISTENER, "storage.lmdb.path", "missing required key"),
    ("empty lmdb path", 'storage "lmdb" { path = "" }\n' + LISTENER, "storage.lmdb.path", "must not be empty"),
    ("missing listener", STORAGE, "listener", "missing required block"),
    ("unsupported listener", STORAGE + 'listener "unix" { address = "/run/s.sock" }', "listener.unix",
     "unsupported listener type"),
    ("listener without label", STORAGE + "listener { tls_disable = true }", "listener", "type label is missing"),
    ("tls without cert", STORAGE + 'listener "tcp" { tls_key_file = "k.pem" }', "listener.tcp.tls_cert_file",
     "missing required key: TLS is on"),
    ("tls without key", STORAGE + 'listener "tcp" { tls_cert_file = "/etc/hosts" }', "listener.tcp.tls_key_file",
     "missing required key: TLS is on"),
    ("tls explicitly on without files", STORAGE + 'listener "tcp" { tls_disable = "false" }',
     "listener.tcp.tls_cert_file", "missing required key"),
    ("tls 1.0", STORAGE + 'listener "tcp" { tls_disable = true tls_min_version = "tls10" }',
     "listener.tcp.tls_min_version", "expected one of tls12, tls13, got 'tls10'"),
    ("same address twice", STORAGE + LISTENER * 2, "listener[1].tcp.address", "already the address of listener[0].tcp"),
    ("bad log level", BASE + 'log_level = "verbose"', "log_level", "expected one of trace, debug, info, warn"),
    ("api_addr without scheme", BASE + 'api_addr = "vault.example.com:8200"', "api_addr", "expected a URL"),
    ("api_addr bad port", BASE + 'api_addr = "https://vault.example.com:99999"', "api_addr", "invalid port"),
    ("api_addr with path", BASE + 'api_addr = "https://vault.example.com/v1"', "api_addr", "scheme://host[:port] only"),
    ("api_addr with credentials", BASE + 'api_addr = "https://admin:pw@vault.example.com"', "api_addr",
     "must not contain user:password@"),
    ("api_addr not a string", BASE + "api_addr = 8200", "api_addr", "expected a string, got a number"),
    ("top-level key twice", BASE + "ui = true\nui = false", "ui", "given 2 times"),
    ("listener key twice", STORAGE + 'listener "tcp" {\n tls_disable = true\n tls_disable = true\n}',
     "listener.tcp.tls_disable", "given 2 times"),
    ("audit type", BASE + 'audit "syslog" { tag = "x" }', "audit.syslog", "unsupported audit device type"),
    ("audit path used twice", BASE + 'audit "file" "a" { file_path = "/1" }\naudit "file" "a/" { file_path = "/2" }',
     "audit[1].file.a/", "audit path 'a/' is already used by audit[0].file.a"),
    ("audit path escapes", BASE + 'audit "file" "a/../b" { options { file_path = "/1" } }', "audit.file.a/../b",
     "invalid audit path"),
    ("audit option list", BASE + 'audit "file" { file_path = ["/1"] }', "audit.file.file_path",
     "expected a string, number or bool, got a list"),
    ("audit options not a block", BASE + 'audit "file" "x" { options = "file_path=/1" }', "audit.file.x.options",
     "expected a block"),
    ("audit unknown key beside options", BASE + 'audit "file" "x" { file_path = "/1" options { mode = "0600" } }',
     "audit.file.x.file_path", "unknown key"),
    ("audit local not bool", BASE + 'audit "file" { file_path = "/1" local = "no" }', "audit.file.local",
     "expected true or false"),
    ("audit option twice", BASE + 'audit "file" "x" { options {\n mode = "1"\n mode = "2"\n} }',
     "audit.file.x.options.mode", "given 2 times"),
]


@pytest.mark.parametrize(("text", "key", "reason"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_refused_with_key_and_file(tmp_path: Path, text: str, key: str, reason: str) -> None:
    error = refusal(tmp_path, text)
    assert error.key == key
    assert str(error).startswith(f"config {tmp_path / 's.hcl'}: {key}: ")
    assert reason in error.reason


@pytest.mark.parametrize(
    "address",
    ["localhost", "127.0.0.1:70000", "::1:8200", "[::1]8200", "[zz]:1", ":8200", "999.1.1.1:80",
     "host_name:80", "1.2.3.4:-1", "1.2.3.4:", "-bad.example:80"],
)
def test_bad_listener_address(tmp_path: Path, address: str) -> None:
    error = refusal(tmp_path, STORAGE + f'listener "tcp" {{ address = "{address}" tls_disable = true }}')
    assert error.key == "listener.tcp.address"
    assert "invalid address" in error.reason


def test_tls_cert_that_does_not_exist(tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_text("k")
    error = refusal(tmp_path, STORAGE + f'listener "tcp" {{ tls_cert_file = "{tmp_path}/c.pem" tls_key_file = "{tmp_path}/k.pem" }}')
    assert error.key == "listener.tcp.tls_cert_file"
    assert error.reason == f"cannot read '{tmp_path}/c.pem': No such file or directory"


def test_tls_key_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("c")
    error = refusal(tmp_path, STORAGE + f'listener "tcp" {{ tls_cert_file = "{tmp_path}/c.pem" tls_key_file = "{tmp_path}" }}')
    assert error.key == "listener.tcp.tls_key_file"
    assert "not a regular file" in error.reason


def test_unparseable_hcl_names_file_and_position(tmp_path: Path) -> None:
    error = refusal(tmp_path, STORAGE + 'listener "tcp" {\n  address = = "127.0.0.1:8200"\n}\n')
    assert error.key is None
    assert error.reason == "cannot parse HCL: line 3, column 13: unexpected EQUAL"


def test_unparseable_json_names_file(tmp_path: Path) -> None:
    error = refusal(tmp_path, '{"storage": {"lmdb": {"path": "/x"}},}', name="s.json")
    assert error.key is None and "cannot parse JSON" in str(error)


def test_json_duplicate_key_is_refused(tmp_path: Path) -> None:
    error = refusal(
        tmp_path,
        '{"storage": {"inmem": {}}, "listener": {"tcp": {"tls_disable": true}}, "ui": true, "ui": false}',
        name="s.json",
    )
    assert (error.key, error.reason) == ("ui", "given 2 times; give it once")


def test_json_null_for_a_required_key(tmp_path: Path) -> None:
    error = refusal(tmp_path, '{"storage": {"lmdb": {"path": null}}, "listener": {"tcp": {"tls_disable": true}}}', name="s.json")
    assert (error.key, error.reason) == ("storage.lmdb.path", "expected a string, got null")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"^config {tmp_path}/absent.hcl: no such file$"):
        load_settings(tmp_path / "absent.hcl")


def test_settings_from_dict_names_its_source() -> None:
    with pytest.raises(ConfigError, match=r"^config inline: storage: missing required block"):
        settings_from_dict({}, "inline")
    with pytest.raises(ConfigError, match=r"^config inline: expected a block"):
        settings_from_dict([], "inline")  # type: ignore[arg-type]


def test_errors_do_not_echo_unknown_values(tmp_path: Path) -> None:
    # An unknown key may hold something sensitive (a Vault seal token, say): name it, never show it.
    error = refusal(tmp_path, BASE + 'seal "transit" { token = "s.hunter2-secret" }\nvault_token = "s.other-secret"')
    assert "secret" not in str(error)
    error = refusal(tmp_path, BASE + 'vault_token = "s.other-secret"')
    assert error.key == "vault_token" and "secret" not in str(error)
    error = refusal(tmp_path, BASE + 'api_addr = "https://admin:secret-pw@vault.example.com"')
    assert error.key == "api_addr" and "secret" not in str(error)
