"""The two error families of the gateway.

`GatewayError` is a failure the gateway answers the way WSO2 answers it: it carries the
WSO2 error code, message, description and HTTP status, and names the fault sequence that
builds the response. `ConfigError` is a problem in the configuration or in a sequence
file: it names the file, line and column and says what to do instead. Anything else
raised while a flow is handled is a bug, which the hook boundary answers with a 500.
"""

from __future__ import annotations


class GatewayError(Exception):
    """A WSO2 error response: code, message, description and HTTP status."""

    def __init__(
        self,
        code: str,
        message: str,
        description: str,
        status: int,
        *,
        handler: str = "_auth_failure_handler_",
        properties: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.description = description
        self.status = status
        self.handler = handler
        # Extra message-context properties and transport headers that the handler
        # sets before its sequence runs (e.g. NEXT_ACCESS_UTC_TIME, Retry-After).
        self.properties = properties or {}
        self.headers = headers or {}


class ConfigError(Exception):
    """A problem in a config or sequence file, with its location and a hint."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.hint = hint

    @property
    def location(self) -> str:
        """`file:line:column`, with the parts that are known."""
        parts = [self.file or "<config>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigErrors(ConfigError):
    """Several configuration problems found in one pass, reported together."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(
            first.message,
            file=first.file,
            line=first.line,
            column=first.column,
            hint=first.hint,
        )
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(ConfigError.__str__(e) for e in self.errors)


class MediationFault(Exception):
    """A run-time failure inside a sequence; WSO2 hands it to the fault sequence."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
