"""apictl projects served end to end: a real mitmdump, the recording backend, SQLite.

Each test copies a project of tests/projects into the workspace and points its
endpoints at the recording backend, then calls the API through the gateway.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from conftest import wait_for

PROJECTS = Path(__file__).resolve().parent / "projects"
# The projects' endpoints are on 127.0.0.1:9; 3.x writes `/` as `\/` in endpointConfig.
PLACEHOLDER_HOST = re.compile(r"127\.0\.0\.1:9(?=\\?/)")


def copy_project(workspace, backend, name: str, api_file: str) -> Path:
    """Copy project `name` into the workspace, its endpoints pointed at `backend`."""
    folder = workspace.root / "projects" / name
    shutil.copytree(PROJECTS / name, folder)
    api = folder / api_file
    host = backend.url.removeprefix("http://")
    api.write_text(PLACEHOLDER_HOST.sub(host, api.read_text()))
    workspace.write_config(f"apis:\n  - project: projects/{name}\n")
    return folder


def test_3x_project_runs_tutorial_in_sequence(workspace, backend):
    """WSO2 3.x runs the API's inSequence (TokenExchange) and outSequence from Sequences/."""
    copy_project(
        workspace, backend, "TestCustomHeader-1.0.0", "Meta-information/api.yaml"
    )
    token = workspace.app_with_token("DefaultApplication", "TestCustomHeader")
    gateway = workspace.start()

    response = gateway.request(
        "GET",
        "/testcustomheader/1.0.0/",
        {"Authorization": f"Bearer {token}", "Custom": "Bearer 1234"},
    )

    assert response.status == 200
    assert response.text == "Request Received"
    assert response.header("X-Mediated-By") == "MarkResponse"
    [received] = backend.requests
    assert received.header_values("Authorization") == ["Bearer 1234"]
    assert received.header("Custom") is None
    assert received.path == "/"


def test_3x_project_resources_from_swagger(workspace, backend):
    """3.x resources come from swagger.yaml: x-auth-type None skips authentication, and a
    verb the swagger does not list is 405."""
    copy_project(
        workspace, backend, "TestCustomHeader-1.0.0", "Meta-information/api.yaml"
    )
    gateway = workspace.start()

    public = gateway.request("GET", "/testcustomheader/1.0.0/public")
    wrong_verb = gateway.request(
        "PUT", "/testcustomheader/1.0.0/anything", {"Authorization": "Bearer x"}
    )

    assert public.status == 401  # the backend rejects a request without Bearer 1234
    [received] = backend.requests
    assert received.path == "/public"
    assert wrong_verb.status == 405


def test_40_json_project_runs_mediation_policies(workspace, backend):
    """WSO2 4.0 runs the IN and OUT sequences that mediationPolicies lists, and serves the
    default version at the context without the version."""
    copy_project(workspace, backend, "Orders-2.0", "api.json")
    token = workspace.app_with_token("ShopApp", "Orders", version="2.0")
    gateway = workspace.start()
    headers = {"Authorization": f"Bearer {token}", "Custom": "Bearer 1234"}

    versioned = gateway.request("GET", "/orders/2.0/items", headers)
    default = gateway.request("GET", "/orders/items", headers)
    no_scope = gateway.request("GET", "/orders/2.0/items/7", headers)

    assert versioned.status == 200
    assert versioned.header("X-Orders-Version") == "2.0"
    assert default.status == 200
    first, second = backend.requests
    assert first.path == "/orders-api/items"
    assert first.header_values("Authorization") == ["Bearer 1234"]
    assert first.header("Custom") is None
    assert second.path == "/orders-api/items"
    assert no_scope.status == 403
    assert b"900910" in no_scope.body


def test_41_project_runs_api_then_operation_policies(workspace, backend):
    """WSO2 4.1+ runs API-level policies before the elected operation's policies, renders
    each template with its parameters, and runs response policies on the response."""
    copy_project(workspace, backend, "PizzaShack-1.10", "api.yaml")
    token = workspace.app_with_token("PizzaApp", "PizzaShack", version="1.10")
    gateway = workspace.start()

    response = gateway.request(
        "GET",
        "/pizzashack/1.10/menu",
        {
            "Authorization": f"Bearer {token}",
            "Custom": "Bearer 1234",
            "Origin": "https://shop.example.com",
        },
    )

    assert response.status == 200
    assert response.text == "Request Received"
    assert response.header("X-Menu-Version") == "menu-1.10"
    assert response.header("Access-Control-Allow-Origin") == "https://shop.example.com"
    assert response.header("Access-Control-Allow-Credentials") == "true"
    [received] = backend.requests
    assert received.path == "/pizza/menu"
    assert received.header_values("Authorization") == ["Bearer 1234"]
    assert received.header("Custom") is None
    assert received.header("X-Pizza-Gateway") == "local"
    assert received.header("X-Policy-Order") == "api,operation"


def test_41_project_policies_follow_elected_operation(workspace, backend):
    """Operation policies run only for their own verb and resource; a policy for
    another gateway (ChoreoConnect only) is skipped, as WSO2's Synapse gateway does."""
    copy_project(workspace, backend, "PizzaShack-1.10", "api.yaml")
    token = workspace.app_with_token("PizzaApp", "PizzaShack", version="1.10")
    gateway = workspace.start()

    response = gateway.request(
        "POST",
        "/pizzashack/1.10/order/42",
        {"Authorization": f"Bearer {token}", "Custom": "Bearer 1234"},
        body=b"{}",
    )

    assert response.status == 401  # no TokenExchange on this operation
    assert response.header("X-Menu-Version") is None
    [received] = backend.requests
    assert received.path == "/pizza/order/42"
    assert received.header("X-Pizza-Gateway") == "local"
    assert received.header("X-Policy-Order") is None
    assert received.header("Custom") == "Bearer 1234"
    assert received.header("Authorization") is None


def test_policy_edit_reloads_while_running(workspace, backend):
    """An edit of a project's policy file while mitmdump runs applies to the next call.
    A broken edit is rejected with its file and line, and the last good config stays."""
    folder = copy_project(workspace, backend, "PizzaShack-1.10", "api.yaml")
    token = workspace.app_with_token("PizzaApp", "PizzaShack", version="1.10")
    gateway = workspace.start()
    headers = {"Authorization": f"Bearer {token}", "Custom": "Bearer 1234"}
    definition = folder / "Policies" / "AddRequestHeader_v1.j2"

    definition.write_text(
        '<property name="{{headerName}}" value="{{headerValue}}-2" scope="transport"/>\n'
        '<property name="policyOrder" value="api"/>\n'
    )
    assert wait_for(lambda: "reloaded after a change to" in gateway.log), gateway.log
    edited = gateway.request("GET", "/pizzashack/1.10/menu", headers)
    definition.write_text('<property name="{{headerName}}" value="{{ missing }}"/>\n')
    assert wait_for(lambda: "stays in force" in gateway.log), gateway.log
    after_broken = gateway.request("GET", "/pizzashack/1.10/menu", headers)

    assert edited.status == 200
    assert after_broken.status == 200
    first, second = backend.requests
    assert first.header("X-Pizza-Gateway") == "local-2"
    assert second.header("X-Pizza-Gateway") == "local-2"
    assert "AddRequestHeader_v1.j2:1:" in gateway.log
    assert "'missing' is undefined" in gateway.log
