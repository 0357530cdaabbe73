"""Time per execution of sequences: `python -m benchmarks.mediation`.

Measures `Sequence.mediate` on fresh message contexts built before the clock starts,
for the tutorial's TokenExchange and for a 20-mediator sequence of filters, a switch,
a payloadFactory and header moves. Prints the best of several rounds, in microseconds
per execution, on one core.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from addon.context import MessageContext
from addon.headers import TransportHeaders
from addon.mediation.library import BUILTIN_FOLDER, SequenceLibrary

TWENTY = """\
<sequence xmlns="http://ws.apache.org/ns/synapse" name="Twenty">
    <property name="Custom" expression="get-property('transport', 'Custom')"/>
    <property name="Authorization" expression="get-property('Custom')" scope="transport"/>
    <property name="Custom" scope="transport" action="remove"/>
    <filter source="$trp:Accept" regex="application/json.*">
        <then><property name="wantsJson" value="true"/></then>
        <else><property name="wantsJson" value="false"/></else>
    </filter>
    <switch source="$axis2:HTTP_METHOD">
        <case regex="GET|HEAD"><property name="operation" value="read"/></case>
        <case regex="POST|PUT|PATCH"><property name="operation" value="write"/></case>
        <default><property name="operation" value="other"/></default>
    </switch>
    <header name="X-Request-Id" scope="transport" expression="$ctx:requestId"/>
    <property name="X-Api" scope="transport"
              expression="concat($ctx:SYNAPSE_REST_API, '/', $ctx:operation)"/>
    <property name="REST_URL_POSTFIX" scope="axis2"
              expression="concat('/v2', $axis2:REST_URL_POSTFIX)"/>
    <filter xpath="$ctx:wantsJson = 'true'">
        <property name="Accept" scope="transport" value="application/json"/>
    </filter>
    <payloadFactory media-type="json">
        <format>{"operation":"$1","api":"$2","client":"$3"}</format>
        <args>
            <arg expression="$ctx:operation"/>
            <arg expression="$ctx:SYNAPSE_REST_API"/>
            <arg expression="$trp:User-Agent"/>
        </args>
    </payloadFactory>
    <property name="messageType" scope="axis2" value="application/json"/>
    <header name="X-Forwarded-Api" scope="transport" action="remove"/>
    <property name="traced" value="on"/>
    <filter source="$trp:X-Debug" regex="true">
        <property name="debug" value="on"/>
    </filter>
    <property name="HTTP_METHOD" scope="axis2" expression="$axis2:HTTP_METHOD"/>
    <property name="done" value="true" type="BOOLEAN"/>
</sequence>
"""

REQUEST_HEADERS = [
    (b"Host", b"gateway.example"),
    (b"Custom", b"Bearer 1234"),
    (b"Accept", b"application/json"),
    (b"User-Agent", b"bench/1.0"),
]


def _context() -> MessageContext:
    ctx = MessageContext(
        headers=TransportHeaders.from_fields(REQUEST_HEADERS),
        method="GET",
        to="/api/1.0/items",
    )
    ctx.properties["SYNAPSE_REST_API"] = "Bench:v1.0"
    ctx.axis2["REST_URL_POSTFIX"] = "/items"
    return ctx


BATCH = 100


def measure(sequence, executions: int, rounds: int) -> float:
    """Return the best time per execution over `rounds`, in microseconds.

    Contexts are made in batches of 100, as a gateway holds only the contexts of the
    flows in progress; thousands of live contexts would make Python's garbage
    collector, not the sequence, dominate the time.
    """
    best = float("inf")
    for _ in range(rounds):
        elapsed = 0.0
        for _ in range(executions // BATCH):
            contexts = [_context() for _ in range(BATCH)]
            started = time.perf_counter()
            for ctx in contexts:
                sequence.mediate(ctx)
            elapsed += time.perf_counter() - started
        best = min(best, elapsed / (executions // BATCH * BATCH) * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    library, errors = SequenceLibrary.load(BUILTIN_FOLDER)
    if errors:
        raise SystemExit(str(errors[0]))
    token_exchange = library.get("TokenExchange")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Twenty.xml"
        path.write_text(TWENTY)
        twenty_library, errors = SequenceLibrary.load(Path(folder))
        if errors:
            raise SystemExit(str(errors[0]))
        twenty = twenty_library.get("Twenty")
        twenty_result = measure(twenty, args.executions, args.rounds)
    token_result = measure(token_exchange, args.executions, args.rounds)
    print(
        f"TokenExchange (3 mediators):     {token_result:6.2f} us per execution (target 5)"
    )
    print(
        f"Twenty (20 mediators executed):  {twenty_result:6.2f} us per execution (target 50)"
    )


if __name__ == "__main__":
    main()
