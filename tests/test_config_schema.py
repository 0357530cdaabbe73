"""gateway.yaml validation: every bad field stops the load with the file, line, owner and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from addon.config import load_config
from addon.errors import ConfigError
from addon.resources import compile_resource, find_resource

BASE = """\
apis:
  - name: Orders
    context: /orders
    version: v1
    endpoint: http://127.0.0.1:1/
"""


def load(tmp_path: Path, text: str):
    (tmp_path / "sequences").mkdir(exist_ok=True)
    (tmp_path / "gateway.yaml").write_text(text)
    return load_config(tmp_path / "gateway.yaml")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("    security: [basic]\n", "API 'Orders': field 'security' contains 'basic'"),
        (
            "    throttling_tier: Huge\n",
            "API 'Orders': field 'throttling_tier' names unknown tier",
        ),
        (
            "    default_version: yes please\n",
            "field 'default_version' must be true or false",
        ),
        (
            "    auth_header: 'X Auth'\n",
            "field 'auth_header' 'X Auth' is not a valid header name",
        ),
        (
            "    sandbox_endpoint: ftp://x\n",
            "field 'sandbox_endpoint' 'ftp://x' is not an http",
        ),
        (
            "    production_endpoint: http://a/\n",
            "'production_endpoint' and 'endpoint' are both set",
        ),
        (
            "    resources:\n      - target: /a\n        verbs: [FETCH]\n",
            "API 'Orders' resource 1: field 'verbs' contains 'FETCH'",
        ),
        (
            "    resources:\n      - target: a\n        verbs: [GET]\n",
            "resource 1: field 'target' 'a' must start with '/'",
        ),
        (
            "    resources:\n      - target: /a\n        verbs: [GET]\n        auth_type: Nobody\n",
            "resource 1: field 'auth_type' is 'Nobody'; accepted values",
        ),
        (
            "    resources:\n      - target: /a\n        verbs: [GET]\n        throttling_tier: X\n",
            "resource 1: field 'throttling_tier' names unknown tier 'X'",
        ),
        (
            "    endpoint_security:\n      type: basic\n      username: u\n",
            "endpoint_security: field 'password' is missing",
        ),
        (
            "    endpoint_security:\n      type: basic\n      username: u\n"
            "      password_env: NO_SUCH_VARIABLE_SET\n",
            "names environment variable 'NO_SUCH_VARIABLE_SET', which is not set",
        ),
        (
            "    scopes: read\n",
            "API 'Orders': field 'scopes' must be a list of {name, roles} mappings",
        ),
        (
            "    scopes:\n      - name: read\n        role: [admin]\n",
            "API 'Orders' scope 1: field 'role' is unknown",
        ),
        (
            "    scopes:\n      - name: read\n      - name: read\n",
            "API 'Orders' scope 2: field 'name' 'read' is defined twice",
        ),
        (
            "    scopes:\n      - roles: [admin]\n",
            "API 'Orders' scope 1: field 'name' is missing",
        ),
        (
            "    cors:\n      allow_origin: ['*']\n",
            "API 'Orders' cors: field 'allow_origin' is unknown",
        ),
    ],
)
def test_bad_api_field_named(tmp_path, extra, expected):
    """A bad API field names the file, line, API and field."""
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, BASE + extra)

    assert expected in str(raised.value)
    assert str(raised.value).startswith(
        str(tmp_path / "gateway.yaml")
    ) or "gateway.yaml:" in str(raised.value)


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        (
            "throttling:\n  subscription_tiers:\n    - name: Gold\n      requests: 1\n",
            "WSO2 default",
        ),
        (
            "throttling:\n  subscription_tiers:\n    - name: T\n",
            "field 'requests' is missing",
        ),
        (
            "throttling:\n  api_tiers:\n    - name: T\n      requests: 1\n      time_unit: week\n",
            "field 'time_unit' is 'week'",
        ),
        (
            "key_managers:\n  - issuer: https://i/\n",
            "'certificate' or 'jwks' is needed",
        ),
        (
            "key_managers:\n  - issuer: https://i/\n    certificate: none.pem\n",
            "names 'none.pem', which does not exist",
        ),
        (
            "key_managers:\n  - issuer: https://i/\n    certificate: c.pem\n    algorithms: [HS256]\n",
            "field 'algorithms' contains 'HS256'",
        ),
        ("backend_jwt:\n  encoding: hex\n", "backend_jwt: field 'encoding' is 'hex'"),
        (
            "limits:\n  max_body_bytes: -1\n",
            "limits: field 'max_body_bytes' must be at least 0",
        ),
        ("correlation:\n  header: 5\n", "correlation: field 'header' must be a string"),
    ],
)
def test_bad_global_field_named(tmp_path, top, expected):
    """A bad gateway-wide field names its section and field."""
    (tmp_path / "c.pem").write_text("not a key")
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, top + BASE)

    assert expected in str(raised.value)


def test_default_version_context_clash_rejected(tmp_path):
    """Two APIs may not both be served at one context."""
    text = (
        BASE
        + "    default_version: true\n"
        + BASE.replace("apis:\n", "")
        .replace("version: v1", "version: v2")
        .replace("Orders", "Other")
        .replace("    endpoint", "    default_version: true\n    endpoint")
    )

    with pytest.raises(ConfigError, match="is served at /orders"):
        load(tmp_path, text)


@pytest.mark.parametrize(
    ("targets", "path", "elected", "variables"),
    [
        (["/*", "/orders"], "/orders", "/orders", {}),
        (["/*", "/orders/*"], "/orders/1/x", "/orders/*", {}),
        (["/orders/*", "/orders/1/*"], "/orders/1/x", "/orders/1/*", {}),
        (["/*"], "/", "/*", {}),
        (["/orders"], "/orders/?a=1", "/orders", {}),
        (["/img/*.jpg"], "/img/a.jpg", "/img/*.jpg", {}),
        (
            ["/o/{id}", "/o/{id}/{sub}"],
            "/o/7/x",
            "/o/{id}/{sub}",
            {"id": "7", "sub": "x"},
        ),
        (["/o/{id}"], "/o/7/?q=1", "/o/{id}", {"id": "7"}),
        (["/o/{id}"], "/o/7/x", None, {}),
        (["/f/{+path}"], "/f/a/b/c", "/f/{+path}", {"path": "a/b/c"}),
        (["/o/{id}", "/o/*"], "/o/7", "/o/*", {}),
    ],
)
def test_synapse_dispatch_order(targets, path, elected, variables):
    """URL mappings (exact, then longest prefix) before uri-templates, in resource order."""
    resources = [compile_resource(target, ("GET",)) for target in targets]

    match = find_resource(resources, path)

    if elected is None:
        assert match is None
    else:
        assert match is not None
        assert match.resource.target == elected
        assert match.variables == variables
