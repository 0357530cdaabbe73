"""End to end: the gateway's error responses come from editable default sequences.

In WSO2 a user changes an error response by editing `_auth_failure_handler_.xml` (or
`fault.xml`, ...) in the sequences folder; the same works here, and a broken default
sequence stops the start as any broken sequence does.
"""

from __future__ import annotations

from conftest import tutorial_config

SYNAPSE = "http://ws.apache.org/ns/synapse"

CUSTOM_AUTH_FAILURE = f"""\
<sequence xmlns="{SYNAPSE}" name="_auth_failure_handler_">
    <payloadFactory media-type="json">
        <format>{{"error":"$1","status":"$2"}}</format>
        <args>
            <arg expression="$ctx:ERROR_MESSAGE"/>
            <arg expression="$ctx:HTTP_RESPONSE_STATUS_CODE"/>
        </args>
    </payloadFactory>
    <property name="HTTP_SC" expression="$ctx:HTTP_RESPONSE_STATUS_CODE" scope="axis2"/>
    <property name="X-Handled-By" value="my-auth-failure-handler" scope="transport"/>
    <property name="Custom" scope="transport" action="remove"/>
    <respond/>
</sequence>
"""


def test_edited_auth_failure_handler_changes_401(tutorial, backend):
    """Editing _auth_failure_handler_.xml changes the 401 answer, as in WSO2."""
    tutorial.write_sequence("_auth_failure_handler_", CUSTOM_AUTH_FAILURE)
    gateway = tutorial.start()

    response = gateway.request(
        "GET", "/testcustomheader/1.0.0", {"Custom": "Bearer 1234"}
    )

    assert response.status == 401
    assert response.text == '{"error":"Missing Credentials","status":"401"}'
    assert response.header("X-Handled-By") == "my-auth-failure-handler"
    assert response.header("Custom") is None
    assert backend.requests == []


def test_broken_default_sequence_stops_start(tutorial):
    """A default sequence that does not load stops the start, naming file and line."""
    tutorial.write_sequence(
        "fault",
        f'<sequence xmlns="{SYNAPSE}" name="fault">\n    <script language="js">x</script>\n</sequence>\n',
    )

    gateway = tutorial.start_failing()

    assert gateway.process.returncode != 0
    assert "sequences/fault.xml:2:5: mediator <script> is not supported" in gateway.log


def test_unknown_out_sequence_stops_start(tutorial, backend):
    """out_sequence must name a sequence of the folder."""
    tutorial.write_config(tutorial_config(backend.url, "    out_sequence: NoSuchOut\n"))

    gateway = tutorial.start_failing()

    assert gateway.process.returncode != 0
    assert "field 'out_sequence' names sequence 'NoSuchOut'" in gateway.log


def test_out_sequence_runs_on_tutorial_response(tutorial, backend):
    """An API's out_sequence runs on the backend's response (API-M response mediation)."""
    tutorial.write_sequence(
        "AddHeader",
        f'<sequence xmlns="{SYNAPSE}" name="AddHeader">\n'
        '    <property name="X-Backend-Said" scope="transport"'
        " expression=\"$body/*[local-name()='text']\"/>\n"
        "</sequence>\n",
    )
    tutorial.write_config(tutorial_config(backend.url, "    out_sequence: AddHeader\n"))
    token = tutorial.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = tutorial.start()

    response = gateway.request(
        "GET",
        "/testcustomheader/1.0.0",
        {"Authorization": f"Bearer {token}", "Custom": "Bearer 1234"},
    )

    assert response.status == 200
    assert response.text == "Request Received"
    assert response.header("X-Backend-Said") == "Request Received"
