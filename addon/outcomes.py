"""Outcomes of a flow, with the mitmweb mark for each one.

Every part of the gateway that decides a flow's fate names it with one of these
constants: the log line, `flow.metadata`, the flow comment and the mark all use them.
A gateway error is classified by the WSO2 sequence that builds its response (`handler`).
"""

from __future__ import annotations

FORWARDED = "forwarded"
REJECTED = "rejected"  # an authentication failure: 900901, 900902, 900908...
THROTTLED = "throttled"
MEDIATION_FAULT = "mediation-fault"  # the fault sequence builds the response
NO_API = "no-api"  # no API matches the request, so the main sequence returns 404
BACKEND_FAILURE = (
    "backend-failure"  # the backend was unreachable or broke the connection
)
INTERNAL_ERROR = "internal-error"  # a bug in the gateway; the client gets a 500
REJECTED_AT_EDGE = "rejected-at-edge"  # a malformed or oversize request: 400, 413, 431
PREFLIGHT = "preflight"  # a CORS preflight the gateway answered itself
RESOURCE_MISMATCH = "resource-mismatch"  # no resource or verb of the API matches: 404, 405
RESPONDED = "responded"  # a sequence answered the client itself (respond, loopback)
DROPPED = "dropped"  # a drop mediator ended the flow: 202 in the request flow
LOOPBACK = "loopback"  # a loopback mediator sent the request back as the response

# The WSO2 sequence that builds the response to a GatewayError, and its outcome.
HANDLER_OUTCOMES = {
    "_auth_failure_handler_": REJECTED,
    "_throttle_out_handler_": THROTTLED,
    "fault": MEDIATION_FAULT,
    "main": NO_API,
    "_resource_mismatch_handler_": RESOURCE_MISMATCH,
    "_production_key_error_": REJECTED,
    "_sandbox_key_error_": REJECTED,
}

# mitmproxy's emoji names; mitmweb shows the emoji beside the flow's path.
MARKS = {
    FORWARDED: ":white_check_mark:",
    REJECTED: ":no_entry:",
    THROTTLED: ":hourglass:",
    MEDIATION_FAULT: ":boom:",
    NO_API: ":grey_question:",
    BACKEND_FAILURE: ":electric_plug:",
    INTERNAL_ERROR: ":fire:",
    REJECTED_AT_EDGE: ":no_entry_sign:",
    PREFLIGHT: ":left_right_arrow:",
    RESOURCE_MISMATCH: ":grey_question:",
    RESPONDED: ":leftwards_arrow_with_hook:",
    DROPPED: ":wastebasket:",
    LOOPBACK: ":repeat:",
}


def outcome_of_handler(handler: str) -> str:
    """Return the outcome of a GatewayError whose response `handler` builds."""
    return HANDLER_OUTCOMES.get(handler, MEDIATION_FAULT)
