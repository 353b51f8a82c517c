"""config.reader: HCL and JSON text -> plain data, keeping every repeated block and key."""

from __future__ import annotations

import hcl
import pytest

from config.errors import ConfigError
from config.reader import Repeated, parse_config_text, read_config_file

TWO_LISTENERS = """
listener "tcp" { address = "127.0.0.1:8200" tls_disable = true }
listener "tcp" { address = "0.0.0.0:8201" tls_cert_file = "c.pem" }
"""


def test_pyhcl_loads_itself_merges_repeated_blocks() -> None:
    # The reason config.reader does not call hcl.loads: the first listener's address is
    # lost and its tls_disable leaks into the second. If pyhcl ever stops doing this, the
    # custom flattening can go.
    assert hcl.loads(TWO_LISTENERS) == {
        "listener": {"tcp": {"address": "0.0.0.0:8201", "tls_disable": True, "tls_cert_file": "c.pem"}}
    }


def test_repeated_blocks_are_kept_apart_in_file_order() -> None:
    data = parse_config_text(TWO_LISTENERS, "x.hcl", as_json=False)
    assert isinstance(data["listener"], Repeated)
    assert data["listener"] == [
        {"tcp": {"address": "127.0.0.1:8200", "tls_disable": True}},
        {"tcp": {"address": "0.0.0.0:8201", "tls_cert_file": "c.pem"}},
    ]


def test_single_block_is_a_dict_and_labels_nest() -> None:
    data = parse_config_text('audit "file" "to-disk" { options { file_path = "a" } }', "x.hcl", as_json=False)
    assert data == {"audit": {"file": {"to-disk": {"options": {"file_path": "a"}}}}}


def test_repeated_scalar_keys_are_kept_not_overwritten() -> None:
    data = parse_config_text("ui = true\nui = false\n", "x.hcl", as_json=False)
    assert isinstance(data["ui"], Repeated) and data["ui"] == [True, False]
    block = parse_config_text('listener "tcp" {\n a = 1\n a = 2\n}', "x.hcl", as_json=False)
    assert isinstance(block["listener"]["tcp"]["a"], Repeated)


def test_json_duplicate_keys_are_kept_like_hcl() -> None:
    data = parse_config_text('{"ui": true, "ui": false, "listener": [{"tcp": {}}]}', "x.json", as_json=True)
    assert isinstance(data["ui"], Repeated) and data["ui"] == [True, False]
    assert type(data["listener"]) is list


def test_empty_and_comment_only_hcl_is_an_empty_object() -> None:
    assert parse_config_text("", "x.hcl", as_json=False) == {}
    assert parse_config_text("# nothing\n/* here */\n", "x.hcl", as_json=False) == {}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('listener "tcp" { address = "x"', "unexpected end of file"),
        ('a = 1\nb = 2\nc = }', "line 3, column 5: unexpected RIGHTBRACE"),
        ('a = "unterminated', "Line 1"),
        ("a = 1/0", "division by zero"),
        ("a = f(1)", "cannot parse HCL"),
    ],
)
def test_unparseable_hcl_is_a_config_error_with_pyhcl_position(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, "/etc/x.hcl", as_json=False)
    assert str(caught.value).startswith("config /etc/x.hcl: cannot parse HCL: ")
    assert fragment in str(caught.value)
    assert caught.value.key is None


def test_syntax_errors_do_not_echo_token_values() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config_text('token = ["s.hunter2" "s.hunter3"]', "x.hcl", as_json=False)
    assert "hunter" not in str(caught.value)


@pytest.mark.parametrize(("text", "fragment"), [('{"a": ', "line 1 column 7"), ("[1, 2]", "must be an object")])
def test_unparseable_json_is_a_config_error(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match="config x.json: cannot parse JSON") as caught:
        parse_config_text(text, "x.json", as_json=True)
    assert fragment in str(caught.value)


def test_file_type_follows_extension_or_leading_brace(tmp_path) -> None:
    (tmp_path / "a.json").write_text('{"ui": true}')
    (tmp_path / "b.hcl").write_text("ui = true")
    (tmp_path / "c.conf").write_text('  \n{"ui": true}')
    assert read_config_file(tmp_path / "a.json") == {"ui": True}
    assert read_config_file(tmp_path / "b.hcl") == {"ui": True}
    assert read_config_file(tmp_path / "c.conf") == {"ui": True}
    (tmp_path / "d.json").write_text("ui = true")
    with pytest.raises(ConfigError, match="cannot parse JSON"):
        read_config_file(tmp_path / "d.json")


def test_missing_file_directory_and_non_utf8_are_config_errors(tmp_path) -> None:
    missing = tmp_path / "nope.hcl"
    with pytest.raises(ConfigError, match=f"^config {missing}: no such file$"):
        read_config_file(missing)
    with pytest.raises(ConfigError, match="is a directory"):
        read_config_file(tmp_path)
    (tmp_path / "latin1.hcl").write_bytes(b'log_level = "\xe9"')
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_config_file(tmp_path / "latin1.hcl")
