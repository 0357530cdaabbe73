"""The apictl project loader: what it reads from each shape, and its load errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from addon.config import check_config, load_config
from addon.context import MessageContext
from addon.headers import TransportHeaders
from addon.reload import snapshot

PROJECTS = Path(__file__).resolve().parent / "projects"
V3 = "TestCustomHeader-1.0.0"
V40 = "Orders-2.0"
V41 = "PizzaShack-1.10"


@pytest.fixture
def space(tmp_path, monkeypatch):
    """A folder with a sequences folder; errors name files relative to it."""
    (tmp_path / "sequences").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def project(space: Path, name: str, entry_extra: str = "") -> Path:
    folder = space / "projects" / name
    shutil.copytree(PROJECTS / name, folder)
    (space / "gateway.yaml").write_text(
        f"apis:\n  - project: projects/{name}\n{entry_extra}"
    )
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def problems(space: Path) -> list[str]:
    config, errors = check_config(space / "gateway.yaml")
    assert config is None
    return [str(e) for e in errors]


def run(api, method: str, target: str, sequence) -> MessageContext:
    ctx = MessageContext(TransportHeaders(), method, "/")
    ctx.properties["REST_METHOD"] = method
    ctx.properties["API_ELECTED_RESOURCE"] = target
    sequence.mediate(ctx)
    return ctx


# What each shape yields ---------------------------------------------------------------


def test_3x_project_fields(space):
    """3.x: identity from id, context from contextTemplate, endpoints from the JSON string
    in endpointConfig, resources from swagger.yaml, sequences from Sequences/."""
    project(space, V3)

    [api] = load_config(space / "gateway.yaml").apis

    assert api.label == "TestCustomHeader:v1.0.0"
    assert api.full_context == "/testcustomheader/1.0.0"
    assert api.endpoint.url == "http://127.0.0.1:9/"
    assert api.sandbox_endpoint.url == "http://127.0.0.1:9/"
    assert api.security == ("oauth2",)
    assert api.throttling_tier is None
    assert api.cors.enable is False
    assert [(r.target, r.verbs, r.auth_type) for r in api.resources] == [
        ("/*", ("GET", "POST"), "Application & Application User"),
        ("/public", ("GET",), "None"),
    ]
    assert api.in_sequence.name == "TokenExchange"
    assert api.in_sequence.file.endswith("in-sequence/Custom/TokenExchange.xml")
    assert api.out_sequence.name == "MarkResponse"
    assert api.fault_sequence is None
    assert api.source == f"projects/{V3}/Meta-information/api.yaml:1"


def test_40_json_project_fields(space):
    """4.0 in JSON: data.* fields, operations, API tier, schemes, mediationPolicies."""
    project(space, V40)

    [api] = load_config(space / "gateway.yaml").apis

    assert api.label == "Orders:v2.0"
    assert api.full_context == "/orders/2.0"
    assert api.default_version is True
    assert api.endpoint.url == "http://127.0.0.1:9/orders-api"
    assert api.sandbox_endpoint is None
    assert api.security == ("oauth2", "api_key")
    assert api.throttling_tier == "50KPerMin"
    assert [(r.target, r.verbs, r.scopes) for r in api.resources] == [
        ("/items", ("GET", "POST"), ()),
        ("/items/{itemId}", ("GET",), ("orders:read",)),
        ("/status", ("GET",), ()),
    ]
    assert api.resources[2].auth_type == "None"
    assert api.resources[1].kind == "uri-template"
    assert api.in_sequence.file.endswith("in-sequence/Custom/TokenExchange.xml")
    assert api.out_sequence.file.endswith("out-sequence/AddOutHeader.xml")


def test_41_project_fields(space):
    """4.1+: an unquoted version 1.10 stays the text 1.10, not the float 1.1."""
    project(space, V41)

    [api] = load_config(space / "gateway.yaml").apis

    assert api.version == "1.10"
    assert api.full_context == "/pizzashack/1.10"
    assert api.cors.allow_origins == ("https://shop.example.com",)
    assert api.cors.allow_credentials is True
    assert api.cors.allow_methods == ("GET", "POST")
    assert api.in_sequence.name == "PizzaShack:v1.10--In"
    assert api.out_sequence.name == "PizzaShack:v1.10--Out"
    assert api.fault_sequence is None


def test_policies_run_api_level_first(space):
    """WSO2 renders API-level policies before the switch on the elected operation."""
    project(space, V41)
    [api] = load_config(space / "gateway.yaml").apis

    ctx = run(api, "GET", "/menu", api.in_sequence)

    policies = [s.summary for s in ctx.trace if s.summary.startswith("policy ")]
    assert policies == [
        "policy AddRequestHeader v1 (API level)",
        "policy TokenExchange v1 (GET /menu)",
        "policy MarkOrder v1 (GET /menu)",
    ]
    assert ctx.headers.get("X-Policy-Order") == "api,operation"


def test_operation_policies_need_verb_and_resource(space):
    """The switch case is METHOD_resource: another verb on the same path runs none."""
    project(space, V41)
    [api] = load_config(space / "gateway.yaml").apis

    ctx = run(api, "POST", "/menu", api.in_sequence)

    policies = [s.summary for s in ctx.trace if s.summary.startswith("policy ")]
    assert policies == ["policy AddRequestHeader v1 (API level)"]


def test_entry_endpoint_overrides_project(space):
    """The gateway.yaml entry's endpoints replace the project's, as apictl's params file does."""
    project(
        space,
        V41,
        "    production_endpoint: http://127.0.0.1:8081/local\n",
    )

    [api] = load_config(space / "gateway.yaml").apis

    assert api.endpoint.url == "http://127.0.0.1:8081/local"
    assert api.sandbox_endpoint is None


def test_policy_file_named_without_type(space):
    """A policyType of api finds <name>_<version>.* when no _api file exists."""
    folder = project(space, V41)
    for suffix in ("yaml", "j2"):
        source = folder / "Policies" / f"TokenExchange_v1_api.{suffix}"
        source.rename(folder / "Policies" / f"TokenExchange_v1.{suffix}")

    [api] = load_config(space / "gateway.yaml").apis

    assert api.in_sequence is not None


# Load errors -------------------------------------------------------------------------


# The production endpoint of the 4.x project as exported.
HTTP_PRODUCTION = (
    "    endpoint_type: http\n"
    "    production_endpoints:\n"
    "      url: http://127.0.0.1:9/pizza\n"
)


def test_load_balance_endpoint_needs_list(space):
    """A 4.x load_balance endpointConfig lists its members as {url} mappings."""
    folder = project(space, V41)
    edit(folder / "api.yaml", "endpoint_type: http", "endpoint_type: load_balance")

    assert problems(space) == [
        f"projects/{V41}/api.yaml:38:5: field 'production_endpoints' must be a list "
        "of {url: ...} for endpoint_type load_balance"
    ]


def test_load_balance_endpoint_loads(space):
    """apictl's load_balance shape: production_endpoints is a list, round robin."""
    folder = project(space, V41)
    edit(
        folder / "api.yaml",
        HTTP_PRODUCTION,
        "    endpoint_type: load_balance\n"
        "    algoClassName: org.apache.synapse.endpoints.algorithms.RoundRobin\n"
        "    sessionManagement: none\n"
        "    failOver: \"False\"\n"
        "    production_endpoints:\n"
        "      - url: http://127.0.0.1:9/a\n"
        "      - url: http://127.0.0.1:9/b\n",
    )
    edit(
        folder / "api.yaml",
        "    sandbox_endpoints:\n      url: http://127.0.0.1:9/pizza-sandbox\n",
        "    sandbox_endpoints:\n      - url: http://127.0.0.1:9/s\n",
    )

    [api] = load_config(space / "gateway.yaml").apis

    group = api.production_group
    assert group.kind == "load_balance"
    assert [m.url for m in group.members] == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
    assert group.failover is False
    assert group.name == "PizzaShack--v1.10_APIproductionEndpoint"
    assert api.endpoint.url == "http://127.0.0.1:9/a"
    assert [m.url for m in api.sandbox_group.members] == ["http://127.0.0.1:9/s"]


def test_load_balance_session_rejected(space):
    """Session affinity (sessionManagement) is not emulated, so it stops the load."""
    folder = project(space, V41)
    edit(
        folder / "api.yaml",
        HTTP_PRODUCTION,
        "    endpoint_type: load_balance\n"
        "    sessionManagement: http\n"
        "    production_endpoints:\n"
        "      - url: http://127.0.0.1:9/a\n",
    )

    assert problems(space) == [
        f"projects/{V41}/api.yaml:38:5: field 'sessionManagement' is 'http'; "
        "session affinity is not supported"
    ]


def test_3x_failover_endpoint_loads(space):
    """A 3.x failover endpointConfig: the primary, then production_failovers."""
    folder = project(space, V3)
    edit(
        folder / "Meta-information/api.yaml",
        '"endpoint_type":"http"',
        '"endpoint_type":"failover","production_failovers":'
        '[{"url":"http://127.0.0.1:9/backup"}]',
    )

    [api] = load_config(space / "gateway.yaml").apis

    group = api.production_group
    assert group.kind == "failover"
    assert group.members[0].url == api.endpoint.url
    assert group.members[1].url == "http://127.0.0.1:9/backup"


def test_3x_unknown_endpoint_type_rejected(space):
    folder = project(space, V3)
    edit(
        folder / "Meta-information/api.yaml",
        '"endpoint_type":"http"',
        '"endpoint_type":"awslambda"',
    )

    [problem] = problems(space)

    assert problem.startswith(
        f"projects/{V3}/Meta-information/api.yaml:54:1: field 'endpointConfig'"
    )
    assert "'awslambda'" in problem


def test_mutual_ssl_rejected(space):
    folder = project(space, V41)
    edit(folder / "api.yaml", "    - oauth2\n", "    - oauth2\n    - mutualssl\n")

    assert problems(space) == [
        f"projects/{V41}/api.yaml:21:3: field 'securityScheme' contains 'mutualssl': "
        "mutual SSL is not supported"
    ]


def test_unknown_security_scheme_rejected(space):
    folder = project(space, V3)
    edit(
        folder / "Meta-information/api.yaml",
        "apiSecurity: oauth2,",
        "apiSecurity: oauth3,",
    )

    [problem] = problems(space)

    assert "field 'apiSecurity' contains unknown scheme 'oauth3'" in problem


def test_41_basic_auth_and_scope_bindings(space):
    """4.x api.yaml: `basic_auth` in securityScheme; scopes bind roles via `bindings`."""
    folder = project(space, V41)
    edit(folder / "api.yaml", "    - oauth2\n", "    - oauth2\n    - basic_auth\n")
    edit(
        folder / "api.yaml",
        "  scopes: []\n",
        "  scopes:\n"
        "    - scope:\n"
        "        name: menu:read\n"
        "        displayName: menu:read\n"
        "        bindings: [admin, Internal/subscriber]\n"
        "      shared: false\n"
        "    - scope: {name: open}\n",
    )

    [api] = load_config(space / "gateway.yaml").apis

    assert api.security == ("oauth2", "basic_auth")
    assert api.scope_roles == (
        ("menu:read", ("admin", "Internal/subscriber")),
        ("open", ()),
    )


def test_3x_swagger_scope_bindings(space):
    """3.x swagger: scopes of the `default` scheme, roles from `x-scopes-bindings`."""
    folder = project(space, V3)
    edit(
        folder / "Meta-information/swagger.yaml",
        "          scopes: {}\n",
        "          scopes:\n"
        "            orders:read: read orders\n"
        "            orders:any: anything\n"
        "          x-scopes-bindings:\n"
        "            orders:read: admin, clerk\n",
    )
    edit(
        folder / "Meta-information/api.yaml",
        "apiSecurity: oauth2,",
        "apiSecurity: oauth2,basic_auth,",
    )

    [api] = load_config(space / "gateway.yaml").apis

    assert "basic_auth" in api.security
    assert api.scope_roles == (("orders:read", ("admin", "clerk")), ("orders:any", ()))


def test_missing_policy_is_an_error(space):
    """WSO2's import fails when an attached policy cannot be found."""
    folder = project(space, V41)
    (folder / "Policies" / "MarkOrder_v1.yaml").unlink()

    assert problems(space) == [
        f"projects/{V41}/api.yaml:59:13: field 'policyName' names policy MarkOrder v1, "
        "but its specification Policies/MarkOrder_v1.yaml (or .yml, .json) is not in "
        "the project"
    ]


def test_missing_definition_is_an_error(space):
    folder = project(space, V41)
    (folder / "Policies" / "MarkOrder_v1.j2").unlink()

    [problem] = problems(space)

    assert problem.startswith(f"projects/{V41}/Policies/MarkOrder_v1.yaml:")
    assert (
        "has no Synapse definition: Policies/MarkOrder_v1.j2 (or .xml) is missing"
        in problem
    )


def test_missing_template_parameter_points_into_template(space):
    """StrictUndefined: a parameter the template uses and api.yaml omits is an error."""
    folder = project(space, V41)
    edit(
        folder / "api.yaml",
        "              step: operation\n",
        "              other: x\n",
    )
    edit(
        folder / "Policies" / "MarkOrder_v1.yaml",
        "      required: true\n",
        "      required: false\n",
    )

    assert problems(space) == [
        f"projects/{V41}/Policies/MarkOrder_v1.j2:1:1: template parameter: 'step' is "
        "undefined (give it under the policy's parameters in api.yaml)"
    ]


def test_required_parameter_checked_against_spec(space):
    folder = project(space, V41)
    edit(folder / "api.yaml", "          headerValue: local\n", "")

    [problem] = problems(space)

    assert problem.startswith(f"projects/{V41}/api.yaml:")
    assert "lacks 'headerValue', which the specification" in problem


def test_parameter_validation_regex(space):
    folder = project(space, V41)
    edit(folder / "api.yaml", "headerName: X-Pizza-Gateway", "headerName: X Pizza")

    [problem] = problems(space)

    assert "value 'X Pizza' of 'headerName' does not match" in problem


def test_broken_policy_xml_has_line_and_column(space):
    folder = project(space, V41)
    (folder / "Policies" / "AddRequestHeader_v1.j2").write_text(
        '<property name="{{headerName}}" value="{{headerValue}}" scope="transport"/>\n'
        '  <script language="js">x</script>\n'
    )

    assert problems(space) == [
        f"projects/{V41}/Policies/AddRequestHeader_v1.j2:2:3: mediator <script> is not "
        "supported: it runs JavaScript inside WSO2's JVM (see docs/mediation.md for the "
        "supported mediators)"
    ]


def test_policy_in_wrong_flow_rejected(space):
    folder = project(space, V41)
    edit(
        folder / "api.yaml",
        "        response:\n          - policyName: SetResponseHeader",
        "        response:\n          - policyName: MarkOrder",
    )

    [problem] = problems(space)

    assert "attaches policy MarkOrder v1 to the response flow" in problem


def test_3x_missing_sequence_file(space):
    folder = project(space, V3)
    shutil.rmtree(folder / "Sequences" / "out-sequence")

    assert problems(space) == [
        f"projects/{V3}/Meta-information/api.yaml:33:1: field 'outSequence' names "
        "sequence 'MarkResponse', but MarkResponse.xml is not in "
        "Sequences/out-sequence/Custom/ or Sequences/out-sequence/"
    ]


def test_40_shared_sequence_not_taken_from_custom(space):
    """A shared 4.0 sequence lives in Sequences/<flow>-sequence/, not in Custom/."""
    folder = project(space, V40)
    out = folder / "Sequences" / "out-sequence"
    (out / "Custom").mkdir()
    (out / "AddOutHeader.xml").rename(out / "Custom" / "AddOutHeader.xml")

    [problem] = problems(space)

    assert (
        "names sequence 'AddOutHeader', but AddOutHeader.xml is not in Sequences/out-sequence/"
        in problem
    )


def test_unknown_operation_tier(space):
    folder = project(space, V40)
    edit(
        folder / "api.json",
        '"throttlingPolicy": "Unlimited", "scopes": ["orders:read"]',
        '"throttlingPolicy": "Platinum", "scopes": ["orders:read"]',
    )

    [problem] = problems(space)

    assert problem.startswith(f"projects/{V40}/api.json:52:")
    assert "field 'throttlingPolicy' names unknown tier 'Platinum'" in problem


def test_invalid_json_has_line_and_column(space):
    folder = project(space, V40)
    edit(folder / "api.json", '"name": "Orders",', '"name": "Orders"')

    [problem] = problems(space)

    assert problem.startswith(f"projects/{V40}/api.json:7:5: invalid JSON:")


def test_endpoint_security_needs_entry_credentials(space):
    """Exports blank the backend password, so BASIC needs the entry's endpoint_security."""
    folder = project(space, V3)
    edit(
        folder / "Meta-information/api.yaml",
        "endpointSecured: false",
        "endpointSecured: true",
    )

    [problem] = problems(space)

    assert "field 'endpointSecured' enables BASIC endpoint security" in problem
    (space / "gateway.yaml").write_text(
        f"apis:\n  - project: projects/{V3}\n"
        "    endpoint_security: {type: basic, username: svc, password: pw}\n"
    )
    [api] = load_config(space / "gateway.yaml").apis
    assert api.endpoint_security.username == "svc"


OAUTH_V41 = """\
    endpoint_security:
      production:
        enabled: true
        type: OAUTH
        grantType: CLIENT_CREDENTIALS
        tokenUrl: http://127.0.0.1:9/token
        clientId: gateway-client
        clientSecret: ""
"""


def test_oauth_endpoint_security_from_entry(space):
    """An enabled 4.x OAUTH endpoint security takes its secret from the entry."""
    folder = project(space, V41)
    anchor = "  endpointImplementationType:"
    edit(folder / "api.yaml", anchor, OAUTH_V41 + anchor)

    [problem] = problems(space)

    assert "field 'enabled' enables OAUTH endpoint security" in problem
    assert "type: oauth, token_url, client_id" in problem
    (space / "gateway.yaml").write_text(
        f"apis:\n  - project: projects/{V41}\n"
        "    endpoint_security: {type: oauth, token_url: 'http://127.0.0.1:9/token',"
        " client_id: c, client_secret: s}\n"
    )
    [api] = load_config(space / "gateway.yaml").apis
    assert api.endpoint_security.type == "oauth"
    assert api.endpoint_security.token_url == "http://127.0.0.1:9/token"


def test_oauth_endpoint_security_type_mismatch(space):
    """BASIC in the entry cannot stand in for an OAUTH endpoint security."""
    folder = project(
        space, V41, "    endpoint_security: {type: basic, username: svc, password: pw}\n"
    )
    anchor = "  endpointImplementationType:"
    edit(folder / "api.yaml", anchor, OAUTH_V41 + anchor)

    [problem] = problems(space)

    assert problem.endswith(
        "field 'enabled' enables OAUTH endpoint security, but the gateway.yaml "
        "entry's endpoint_security has type 'basic'"
    )


def test_project_folder_not_found(space):
    (space / "gateway.yaml").write_text("apis:\n  - project: projects/Nothing\n")

    assert problems(space) == [
        "gateway.yaml:2: API project: field 'project' names 'projects/Nothing', which "
        "is not a folder (projects/Nothing)"
    ]


def test_folder_without_api_yaml(space):
    (space / "projects" / "Empty").mkdir(parents=True)
    (space / "gateway.yaml").write_text("apis:\n  - project: projects/Empty\n")

    [problem] = problems(space)

    assert "is not an apictl project" in problem


def test_non_http_api_rejected(space):
    folder = project(space, V41)
    edit(folder / "api.yaml", "  type: HTTP\n", "  type: WS\n")

    [problem] = problems(space)

    assert "field 'type' is 'WS'; only HTTP (REST) APIs are supported" in problem


# Hot reload and check -----------------------------------------------------------------


def test_snapshot_watches_project_files(space):
    folder = project(space, V41)
    before = snapshot(space / "gateway.yaml", space / "sequences")

    definition = folder / "Policies" / "MarkOrder_v1.j2"
    definition.write_text(definition.read_text() + "\n")
    after = snapshot(space / "gateway.yaml", space / "sequences")

    assert str(definition) in before
    assert str(folder / "api.yaml") in before
    assert before[str(definition)] != after[str(definition)]


def test_check_command_reports_project_problems(space):
    """`python -m addon check` names the file inside the project, its line and column."""
    folder = project(space, V41)
    edit(folder / "api.yaml", "endpoint_type: http", "endpoint_type: awslambda")

    result = subprocess.run(
        [sys.executable, "-m", "addon", "check"],
        cwd=space,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=30,
    )

    assert result.returncode == 1
    assert result.stdout.startswith(
        f"projects/{V41}/api.yaml:37:5: field 'endpoint_type'"
    )
    assert result.stderr == "check: 1 problem(s) in 1 file(s)\n"


@pytest.mark.parametrize(
    "statement", ['{% include "/etc/passwd" %}', "{{ 1 / 0 }}", '{% import "x" as y %}']
)
def test_template_runtime_error_is_a_file_problem(space, statement):
    """A policy template that fails while rendering is reported with its file, never a traceback."""
    folder = project(space, V41)
    template = folder / "Policies" / "MarkOrder_v1.j2"
    template.write_text(statement + "\n" + template.read_text())

    [problem] = problems(space)

    assert problem.startswith(f"projects/{V41}/Policies/MarkOrder_v1.j2: template failed to render")


def test_41_max_tps_is_the_hard_limit(space):
    """4.x `maxTps` (production, sandbox) becomes the API's backend hard limit."""
    folder = project(space, V41)
    edit(
        folder / "api.yaml",
        "  isDefaultVersion: false\n",
        "  isDefaultVersion: false\n  maxTps:\n    production: 20\n    sandbox: 5\n",
    )

    [api] = load_config(space / "gateway.yaml").apis

    assert api.max_tps.production == 20
    assert api.max_tps.sandbox == 5


def test_41_bad_max_tps_named(space):
    folder = project(space, V41)
    edit(
        folder / "api.yaml",
        "  isDefaultVersion: false\n",
        "  isDefaultVersion: false\n  maxTps:\n    production: many\n",
    )

    [problem] = problems(space)

    assert problem.startswith(f"projects/{V41}/api.yaml:13:")
    assert "API 'PizzaShack' maxTps: field 'production' must be a whole number" in problem
