"""End to end: a real mitmdump, the recording backend, a SQLite file and sequence files.

Each test names the WSO2 4.x behaviour it pins; the exact bodies come from WSO2's
`_auth_failure_handler_` and `main` sequences and its APISecurityConstants texts.
"""

from __future__ import annotations

import json
import time

from conftest import tutorial_config, wait_for

from addon.answer import WWW_AUTHENTICATE

MISSING_BODY = (
    '{"code":"900902","message":"Missing Credentials","description":"Invalid Credentials. '
    "Make sure your API invocation call has a header: 'Authorization : Bearer ACCESS_TOKEN' "
    "or 'Authorization : Basic ACCESS_TOKEN' or 'ApiKey : API_KEY'\"}"
)
INVALID_BODY = (
    '{"code":"900901","message":"Invalid Credentials","description":"Access failure for API: '
    "/testcustomheader/1.0.0, version: 1.0.0 status: (900901) - Invalid Credentials. "
    'Make sure you have provided the correct security credentials"}'
)
FORBIDDEN_BODY = (
    '{"code":"900908","message":"Resource forbidden ","description":"Access failure for API: '
    '/testcustomheader/1.0.0, version: 1.0.0 status: (900908) - Resource forbidden "}'
)
NOT_FOUND_BODY = (
    '{"code":"404","type":"Status report","message":"Not Found",'
    '"description":"The requested resource is not available."}'
)


def call(gateway, token, path="/testcustomheader/1.0.0", **kwargs):
    headers = [("Custom", "Bearer 1234")]
    if token is not None:
        headers.insert(0, ("Authorization", f"Bearer {token}"))
    return gateway.request("GET", path, headers, **kwargs)


def test_tutorial_custom_token_reaches_backend(tutorial, backend):
    """WSO2 tutorial 'Passing a custom authorization token to the backend'."""
    token = tutorial.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = tutorial.start()

    response = call(gateway, token)

    assert response.status == 200
    assert response.text == "Request Received"
    [received] = backend.requests
    assert received.header_values("Authorization") == ["Bearer 1234"]
    assert received.header("Custom") is None
    assert all(token not in value for _, value in received.headers)
    assert received.path == "/"


def test_tutorial_over_tls_on_the_same_port(tutorial, backend):
    """The gateway's HTTPS port answers the same call (mitmproxy detects TLS)."""
    token = tutorial.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = tutorial.start()

    response = call(gateway, token, tls=True)

    assert response.status == 200
    assert response.text == "Request Received"


def test_missing_credentials_900902(tutorial, backend):
    """No Authorization header: 401, code 900902, WWW-Authenticate; backend not called."""
    gateway = tutorial.start()

    response = call(gateway, None)

    assert response.status == 401
    assert response.text == MISSING_BODY
    assert response.header("WWW-Authenticate") == WWW_AUTHENTICATE
    assert response.header("Content-Type") == "application/json; charset=UTF-8"
    assert backend.requests == []


def test_authorization_without_bearer_is_900902(tutorial, backend):
    """An Authorization header with no Bearer part counts as missing credentials."""
    gateway = tutorial.start()

    response = gateway.request("GET", "/testcustomheader/1.0.0", {"Authorization": "Basic YTpi"})

    assert response.status == 401
    assert json.loads(response.body)["code"] == "900902"
    assert backend.requests == []


def test_unknown_token_900901_echoes_request_headers(tutorial, backend):
    """An unknown token: 401 900901; the error response echoes Custom, as WSO2's does."""
    tutorial.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = tutorial.start()

    response = call(gateway, "not-a-token")

    assert response.status == 401
    assert response.text == INVALID_BODY
    assert response.header("WWW-Authenticate") == WWW_AUTHENTICATE
    assert response.header("Custom") == "Bearer 1234"
    assert response.header("Authorization") is None
    assert backend.requests == []


def test_expired_token_900901(tutorial, backend):
    """A token past its expiry time is 900901, like an unknown one."""
    token = tutorial.app_with_token(
        "DefaultApplication", "TestCustomHeader", validity=60, now=time.time() - 120
    )
    gateway = tutorial.start()

    response = call(gateway, token)

    assert response.status == 401
    assert response.text == INVALID_BODY
    assert backend.requests == []


def test_token_revoked_while_running_900901(tutorial, backend):
    """A revocation made while the gateway runs applies to the next request."""
    token = tutorial.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = tutorial.start()
    assert call(gateway, token).status == 200

    with tutorial.registry() as registry:
        assert registry.revoke_token(token)
    response = call(gateway, token)

    assert response.status == 401
    assert response.text == INVALID_BODY
    assert len(backend.requests) == 1


def test_token_issued_while_running_is_accepted(tutorial, backend):
    """A token issued after the gateway started works on the next request."""
    gateway = tutorial.start()
    token = tutorial.app_with_token("DefaultApplication", "TestCustomHeader")

    assert call(gateway, token).status == 200


def test_unsubscribed_application_900908(tutorial, backend):
    """A valid token of an application not subscribed to the API: 403 900908."""
    token = tutorial.app_with_token("OtherApp", None)
    gateway = tutorial.start()

    response = call(gateway, token)

    assert response.status == 403
    assert response.text == FORBIDDEN_BODY
    assert response.header("WWW-Authenticate") is None
    assert backend.requests == []


def test_no_matching_api_404(tutorial, backend):
    """A path under no API context gets the main sequence's 404 JSON."""
    token = tutorial.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = tutorial.start()

    for path in ("/nothing", "/testcustomheader/1.0.0x", "/testcustomheader"):
        response = call(gateway, token, path=path)
        assert response.status == 404, path
        assert response.text == NOT_FOUND_BODY
    assert backend.requests == []


def test_postfix_and_query_reach_backend(workspace, backend):
    """REST_URL_POSTFIX (path after context/version, query kept) joins the endpoint."""
    workspace.write_config(
        f"""\
apis:
  - name: Orders
    context: /orders
    version: v2
    endpoint: {backend.url}/api/
"""
    )
    token = workspace.app_with_token("App", "Orders", version="v2")
    gateway = workspace.start()

    response = gateway.request(
        "POST", "/orders/v2/items/7?x=1&y=%2F", {"Authorization": f"Bearer {token}"}, b"{}"
    )

    assert response.status == 401  # the tutorial backend refuses anything but 1234
    [received] = backend.requests
    assert received.method == "POST"
    assert received.path == "/api/items/7?x=1&y=%2F"
    assert received.body == b"{}"
    assert received.header("Authorization") is None


def test_other_authorization_parts_are_kept(workspace, backend):
    """`Bearer <app token>,Basic <x>`: WSO2 removes the bearer part and forwards the rest."""
    workspace.write_config(tutorial_config(backend.url).replace("    in_sequence: TokenExchange\n", ""))
    token = workspace.app_with_token("App", "TestCustomHeader")
    gateway = workspace.start()

    gateway.request(
        "GET", "/testcustomheader/1.0.0", {"Authorization": f"bearer {token},Basic YTpi"}
    )

    [received] = backend.requests
    assert received.header_values("Authorization") == ["Basic YTpi"]


def test_duplicate_authorization_never_leaks_token(workspace, backend):
    """A second Authorization header never carries the app token to the backend."""
    workspace.write_config(tutorial_config(backend.url).replace("    in_sequence: TokenExchange\n", ""))
    token = workspace.app_with_token("App", "TestCustomHeader")
    gateway = workspace.start()

    gateway.request(
        "GET",
        "/testcustomheader/1.0.0",
        [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")],
    )

    assert all(token not in value for r in backend.requests for _, value in r.headers)


def test_missing_custom_header_sends_empty_authorization(tutorial, backend):
    """A transport property set from nothing is sent as an empty header, as in Synapse."""
    token = tutorial.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = tutorial.start()

    response = gateway.request(
        "GET", "/testcustomheader/1.0.0", {"Authorization": f"Bearer {token}"}
    )

    assert response.status == 401
    [received] = backend.requests
    assert received.header_values("Authorization") == [""]


def test_header_value_with_line_break_is_not_forwarded(workspace, backend):
    """A sequence writing CR/LF into a header fails closed with a 500, nothing forwarded."""
    workspace.write_config(tutorial_config(backend.url).replace("TokenExchange", "Inject"))
    workspace.write_sequence(
        "Inject",
        '<sequence xmlns="http://ws.apache.org/ns/synapse" name="Inject">\n'
        '  <property name="X-Injected" scope="transport"\n'
        "            expression=\"concat('a', '&#13;&#10;Evil: 1')\"/>\n"
        "</sequence>\n",
    )
    token = workspace.app_with_token("App", "TestCustomHeader")
    gateway = workspace.start()

    response = call(gateway, token)

    assert response.status == 500
    assert json.loads(response.body)["message"] == "Runtime Error"
    assert backend.requests == []


def test_log_names_outcome_and_never_the_token(tutorial, backend):
    """One INFO line per request, with a token fingerprint and never the token."""
    token = tutorial.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = tutorial.start()
    call(gateway, token)
    call(gateway, "wrong-token-value")

    assert wait_for(lambda: "outcome=rejected" in gateway.log)
    assert "gateway: loaded 1 API(s): TestCustomHeader:v1.0.0" in gateway.log
    assert "gateway_db=" in gateway.log
    assert "app=DefaultApplication token=sha256:" in gateway.log
    assert "outcome=forwarded status=200" in gateway.log
    assert token not in gateway.log
    assert "wrong-token-value" not in gateway.log


def test_malformed_sequence_stops_start(tutorial):
    """A sequence that is not well-formed XML stops mitmdump, naming file and line."""
    tutorial.write_sequence(
        "TokenExchange",
        '<sequence xmlns="http://ws.apache.org/ns/synapse" name="TokenExchange">\n'
        '    <property name="Custom"\n'
        "</sequence>\n",
    )

    gateway = tutorial.start_failing()

    assert gateway.process.returncode != 0
    assert "sequences/TokenExchange.xml:3" in gateway.log
    assert "not well-formed XML" in gateway.log


def test_unsupported_mediator_stops_start(tutorial):
    """An unsupported mediator is a load error with file, line and name, never skipped."""
    tutorial.write_sequence(
        "TokenExchange",
        '<sequence xmlns="http://ws.apache.org/ns/synapse" name="TokenExchange">\n'
        '    <property name="a" value="b"/>\n'
        '    <script language="js">mc.setProperty("x", 1)</script>\n'
        "</sequence>\n",
    )

    gateway = tutorial.start_failing()

    assert gateway.process.returncode != 0
    assert "sequences/TokenExchange.xml:3:5: mediator <script> is not supported" in gateway.log


def test_bad_config_field_stops_start(tutorial, backend):
    """A bad field stops the start with one line naming the file, API and field."""
    tutorial.write_config(tutorial_config(backend.url).replace(f"{backend.url}/", "ftp://x"))

    gateway = tutorial.start_failing()

    assert gateway.process.returncode != 0
    assert "gateway.yaml:5: API 'TestCustomHeader': field 'endpoint'" in gateway.log


def test_error_response_never_carries_line_breaks(workspace, backend):
    """A header value with CR/LF that a sequence wrote never reaches the client either."""
    workspace.write_config(tutorial_config(backend.url).replace("TokenExchange", "Inject"))
    workspace.write_sequence(
        "Inject",
        '<sequence xmlns="http://ws.apache.org/ns/synapse" name="Inject">\n'
        '  <property name="X-Echo" scope="transport"\n'
        "            expression=\"translate($trp:X-In, '~', '&#10;')\"/>\n"
        "</sequence>\n",
    )
    token = workspace.app_with_token("App", "TestCustomHeader")
    gateway = workspace.start()

    response = gateway.request(
        "GET",
        "/testcustomheader/1.0.0",
        {"Authorization": f"Bearer {token}", "X-In": "a~Set-Cookie: session=attacker~"},
    )

    assert response.status == 500
    assert response.header("Set-Cookie") is None
    assert response.header("X-Echo") is None
    assert backend.requests == []


def test_sequence_sees_client_host_and_synapse_name(workspace, backend):
    """$trp:Host is the client's Host on WSO2, replaced only towards the backend; the
    Synapse API name carries the provider prefix (admin--Name:vVersion)."""
    workspace.write_config(tutorial_config(backend.url).replace("TokenExchange", "Seen"))
    workspace.write_sequence(
        "Seen",
        '<sequence xmlns="http://ws.apache.org/ns/synapse" name="Seen">\n'
        '  <property name="X-Seen-Host" scope="transport" expression="$trp:Host"/>\n'
        '  <property name="X-Seen-Api" scope="transport"'
        " expression=\"get-property('SYNAPSE_REST_API')\"/>\n"
        "</sequence>\n",
    )
    token = workspace.app_with_token("App", "TestCustomHeader")
    gateway = workspace.start()

    gateway.request(
        "GET",
        "/testcustomheader/1.0.0",
        {"Host": "api.example.com:8243", "Authorization": f"Bearer {token}"},
    )

    [received] = backend.requests
    assert received.header("X-Seen-Host") == "api.example.com:8243"
    assert received.header("Host") == backend.url.removeprefix("http://")
    assert received.header("X-Seen-Api") == "admin--TestCustomHeader:v1.0.0"


def test_send_failure_runs_api_fault_sequence(workspace, backend):
    """A header that cannot be sent is a send failure: WSO2 runs the API's fault sequence."""
    config = tutorial_config(backend.url).replace("TokenExchange", "Inject")
    workspace.write_config(config + "    fault_sequence: OwnFault\n")
    workspace.write_sequence(
        "Inject",
        '<sequence xmlns="http://ws.apache.org/ns/synapse" name="Inject">\n'
        '  <property name="X-Bad" scope="transport" value="a&#10;b"/>\n'
        "</sequence>\n",
    )
    workspace.write_sequence(
        "OwnFault",
        '<sequence xmlns="http://ws.apache.org/ns/synapse" name="OwnFault">\n'
        '  <property name="X-Bad" scope="transport" action="remove"/>\n'
        '  <property name="HTTP_SC" value="502" scope="axis2"/>\n'
        '  <payloadFactory media-type="json"><format>{"own":"$1"}</format>\n'
        '    <args><arg expression="$ctx:ERROR_CODE"/></args></payloadFactory>\n'
        "  <respond/>\n"
        "</sequence>\n",
    )
    token = workspace.app_with_token("App", "TestCustomHeader")
    gateway = workspace.start()

    response = call(gateway, token)

    assert response.status == 502
    assert json.loads(response.body) == {"own": "0"}
    assert backend.requests == []
