"""gateway.yaml validation: one clear message naming the file, line, API and field."""

import pytest

from addon.config import load_config, versioned_context
from addon.errors import ConfigError


def write(tmp_path, text, sequences=True):
    (tmp_path / "sequences").mkdir(exist_ok=True)
    if sequences:
        (tmp_path / "sequences" / "Seq.xml").write_text(
            '<sequence xmlns="http://ws.apache.org/ns/synapse" name="Named">'
            '<property name="a" value="b"/></sequence>'
        )
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return path


API = """\
apis:
  - name: A
    context: /a
    version: 1.0.0
    endpoint: http://127.0.0.1:1/
"""


def test_valid_config_loads_api_and_sequences(tmp_path):
    config = load_config(write(tmp_path, API + "    in_sequence: Seq\n"))
    [api] = config.apis
    assert api.full_context == "/a/1.0.0"
    assert api.label == "A:v1.0.0"
    assert api.in_sequence.name == "Named"
    assert load_config(write(tmp_path, API + "    in_sequence: Named\n")).apis[0].in_sequence


@pytest.mark.parametrize(
    ("context", "version", "full"),
    [("/a", "1.0.0", "/a/1.0.0"), ("/a/", "v1", "/a/v1"), ("/{version}/a", "2", "/2/a"),
     ("/a/{version}", "3", "/a/3")],
)
def test_versioned_context_follows_publisher_rule(context, version, full):
    """WSO2 appends /{version} unless the context already places it."""
    assert versioned_context(context, version) == full


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (API + "    endpoint_url: x\n", "gateway.yaml:6: API 'A': field 'endpoint_url' is unknown"),
        (API.replace("    version: 1.0.0\n", ""), "gateway.yaml:2: API 'A': field 'version' is missing"),
        (API.replace("1.0.0", "1.0"), "gateway.yaml:4: API 'A': field 'version' must be a string"),
        (API.replace("context: /a", "context: a"), "field 'context' 'a' must start with '/'"),
        (API.replace("http://127.0.0.1:1/", "ftp://x"), "gateway.yaml:5: API 'A': field 'endpoint'"),
        (API + "    in_sequence: Nope\n", "field 'in_sequence' names sequence 'Nope'"),
        (API + API[6:], "is served at /a/1.0.0, as 'A' is"),
        ("apis:\n  - name: [\n", "gateway.yaml:"),
        ("api: []\n", "unknown top-level field 'api'"),
        ("apis: {}\n", "'apis' must be a list"),
        ("- 1\n", "the top level must be a mapping"),
    ],
)
def test_bad_config_names_line_api_and_field(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert message in str(caught.value)


def test_version_hint_says_to_quote(tmp_path):
    with pytest.raises(ConfigError, match='quote it: version: "1.0"'):
        load_config(write(tmp_path, API.replace("1.0.0", "1.0")))


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_broken_sequence_in_folder_stops_load(tmp_path):
    path = write(tmp_path, API)
    (tmp_path / "sequences" / "Broken.xml").write_text("<sequence")
    with pytest.raises(ConfigError, match="Broken.xml:1"):
        load_config(path)


def test_duplicate_sequence_names_are_an_error(tmp_path):
    path = write(tmp_path, API)
    (tmp_path / "sequences" / "Other.xml").write_text(
        '<sequence xmlns="http://ws.apache.org/ns/synapse" name="Named"/>'
    )
    with pytest.raises(ConfigError, match="sequence name 'Named' is also declared"):
        load_config(path)


def test_duplicate_yaml_key_is_an_error(tmp_path):
    """YAML keeps the last of two equal keys silently; the gateway reports both lines."""
    text = API.replace("    version: 1.0.0\n", "    version: 1.0.0\n    version: 9.9.9\n")
    with pytest.raises(ConfigError, match=r"gateway.yaml:5:5: invalid YAML: duplicate key 'version' \(first at line 4\)"):
        load_config(write(tmp_path, text))


def test_endpoint_with_credentials_is_an_error(tmp_path):
    """Credentials in an endpoint URL would be printed and never sent; WSO2 uses endpoint_security."""
    text = API.replace("http://127.0.0.1:1/", "http://svc:secret@127.0.0.1:1/")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert "must not contain user:password" in str(caught.value)
    assert "http://svc:****@127.0.0.1:1/" in str(caught.value)
    assert "secret" not in str(caught.value)
