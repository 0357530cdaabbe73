"""The mediation of an apictl project: 3.x and 4.0 sequences, 4.1+ operation policies.

Facts from WSO2 API Manager's import and gateway-artifact code this module follows:

- 3.x names the sequences in api.yaml (`inSequence`, `outSequence`, `faultSequence`);
  4.0 lists them in `mediationPolicies` as `{name, type: IN|OUT|FAULT, shared}`. The
  file is `Sequences/<flow>-sequence/<name>.xml` for a shared sequence and
  `Sequences/<flow>-sequence/Custom/<name>.xml` for an API-specific one. The API's own
  copy is the one its flow runs, so `Custom/` is looked at first.
- 4.1+ attaches policies by `policyName` and `policyVersion` (default `v1`), per
  operation under `operationPolicies` and, from 4.3, per API under `apiPolicies`, each
  with `request`, `response` and `fault` lists. A policy is a specification
  `Policies/<name>_<version>[_<policyType>].(yaml|yml|json)` and a Synapse definition
  of the same stem, `.j2` or `.xml`. A policy that cannot be found fails the import.
- The definition is a Jinja template (Jinjava on the server), rendered with the
  attachment's `parameters`. The result is one or more mediators without a
  `<sequence>` wrapper, or a whole `<sequence>`, which then runs in place. Unprefixed
  elements are in the Synapse namespace, as they are in the template they are pasted
  into.
- A policy whose specification does not list `Synapse` in `supportedGateways` is not
  rendered for the Synapse gateway, so it does not run.
- Each flow becomes one sequence: the API-level policies first, in list order, then a
  switch on `REST_METHOD + "_" + API_ELECTED_RESOURCE` with one case per operation
  holding that operation's policies. Here the switch is a dictionary lookup with the
  same result, because each case's regex is the escaped method and template.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from .context import MessageContext
from .errors import ConfigError, ConfigErrors
from .mediation import SYNAPSE_NS
from .mediation.base import Mediator, Sequence, run_mediators
from .mediation.builder import Source, build_mediators
from .mediation.library import display_path, load_sequence_file
from .mediation.xmlparse import parse_xml

if TYPE_CHECKING:
    from .apictl import Document
    from .mediation.library import SequenceLibrary

FLOWS = ("request", "response", "fault")
# The sequences folder of each flow, and the 3.x api.yaml field that names it.
SEQUENCE_FOLDERS = {"request": "in", "response": "out", "fault": "fault"}
SEQUENCE_SUFFIX = {"request": "--In", "response": "--Out", "fault": "--Fault"}
SPEC_EXTENSIONS = (".yaml", ".yml", ".json")
DEFINITION_EXTENSIONS = (".j2", ".xml")
ATTACHMENT_FIELDS = (
    "policyName",
    "policyVersion",
    "policyType",
    "policyId",
    "parameters",
)

_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined")

# Sandboxed: a template may not reach Python internals. StrictUndefined: a parameter
# that is not given is a load error, not an empty string in the sequence.
_JINJA = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)


# Mediators -------------------------------------------------------------------------


class PolicyMediator(Mediator):
    """One attached policy: its rendered mediators, run in place."""

    __slots__ = ("mediators", "name", "where")
    tag = "policy"

    def __init__(
        self, file: str, name: str, where: str, mediators: list[Mediator]
    ) -> None:
        super().__init__(file, 1)
        self.name = name
        self.where = where
        self.mediators = tuple(mediators)

    def mediate(self, ctx: MessageContext) -> bool:
        self.record(ctx, f"policy {self.name} ({self.where})")
        return run_mediators(self.mediators, ctx)


class OperationPolicies(Mediator):
    """The operation-level policies of the elected resource and the request's verb."""

    __slots__ = ("by_operation",)
    tag = "switch"

    def __init__(
        self,
        file: str,
        line: int | None,
        by_operation: dict[tuple[str, str], list[Mediator]],
    ) -> None:
        super().__init__(file, line)
        self.by_operation = {key: tuple(value) for key, value in by_operation.items()}

    def mediate(self, ctx: MessageContext) -> bool:
        key = (
            str(ctx.properties.get("REST_METHOD")),
            str(ctx.properties.get("API_ELECTED_RESOURCE")),
        )
        mediators = self.by_operation.get(key)
        if mediators is None:
            return True
        return run_mediators(mediators, ctx)


# 3.x and 4.0 sequences -----------------------------------------------------------------


def find_sequence_file(
    project: Path, flow: str, name: str, shared: bool | None
) -> Path | None:
    """Return the sequence file `name` of `flow`: API-specific first unless `shared`."""
    folder = project / "Sequences" / f"{SEQUENCE_FOLDERS[flow]}-sequence"
    candidates = []
    if shared is not True:
        candidates.append(folder / "Custom" / f"{name}.xml")
    if shared is not False:
        candidates.append(folder / f"{name}.xml")
    return next((path for path in candidates if path.is_file()), None)


def load_project_sequence(
    document: Document,
    mapping: Any,
    field: str,
    flow: str,
    name: str,
    library: SequenceLibrary,
    shared: bool | None = None,
) -> Sequence:
    """Build the sequence `name` of `flow` from the project's Sequences folder."""
    path = find_sequence_file(document.project, flow, name, shared)
    if path is None:
        where = f"Sequences/{SEQUENCE_FOLDERS[flow]}-sequence/"
        places = {
            None: f"{where}Custom/ or {where}",
            True: where,
            False: f"{where}Custom/",
        }
        raise document.error(
            mapping,
            field,
            f"names sequence {name!r}, but {name}.xml is not in {places[shared]}",
        )
    return load_sequence_file(path, library)


def sequences_v40(
    document: Document, data: Any, library: SequenceLibrary
) -> dict[str, Sequence]:
    """Build the sequences that 4.0's `mediationPolicies` lists, by flow."""
    found: dict[str, Sequence] = {}
    types = {"IN": "request", "OUT": "response", "FAULT": "fault"}
    for entry in document.list(data, "mediationPolicies"):
        name = document.string(entry, "name", required=True)
        kind = document.string(entry, "type", required=True).upper()
        if kind not in types:
            raise document.error(
                entry, "type", f"is {kind!r}; accepted: IN, OUT, FAULT"
            )
        flow = types[kind]
        if flow in found:
            raise document.error(
                entry,
                "type",
                f"lists a second {kind} sequence; an API has one per flow",
            )
        shared = document.boolean(entry, "shared", None)
        found[flow] = load_project_sequence(
            document, entry, "name", flow, name, library, shared
        )
    return found


# 4.1+ policies ----------------------------------------------------------------------


def find_policy_files(
    project: Path, name: str, version: str, policy_type: str | None
) -> tuple[Path | None, Path | None]:
    """Return the specification and definition of a policy, each None when missing."""
    folder = project / "Policies"
    stems = [f"{name}_{version}_{policy_type}"] if policy_type else []
    stems.append(f"{name}_{version}")
    for stem in stems:
        spec = next(
            (
                folder / (stem + ext)
                for ext in SPEC_EXTENSIONS
                if (folder / (stem + ext)).is_file()
            ),
            None,
        )
        if spec is None:
            continue
        definition = next(
            (
                folder / (stem + ext)
                for ext in DEFINITION_EXTENSIONS
                if (folder / (stem + ext)).is_file()
            ),
            None,
        )
        return spec, definition
    return None, None


class PolicyBuilder:
    """Builds the attached policies of one project, each file read and checked once."""

    def __init__(self, document: Document, library: SequenceLibrary) -> None:
        self.document = document
        self.library = library
        self.errors: list[ConfigError] = []

    def flow_sequences(
        self, label: str, api_policies: Any, operations: list[tuple[Any, str, str]]
    ) -> dict[str, Sequence]:
        """Return the request, response and fault sequences of the API, by flow.

        `operations` contains each operation's mapping with its verb and target.
        """
        document = self.document
        sequences: dict[str, Sequence] = {}
        for flow in FLOWS:
            head: list[Mediator] = []
            if api_policies is not None:
                for entry in document.list(api_policies, flow):
                    head.extend(self._attach(entry, flow, "API level"))
            by_operation: dict[tuple[str, str], list[Mediator]] = {}
            for operation, verb, target in operations:
                policies = operation.get("operationPolicies")
                if policies is None:
                    continue
                document.mapping(operation, "operationPolicies")
                attached: list[Mediator] = []
                for entry in document.list(policies, flow):
                    attached.extend(self._attach(entry, flow, f"{verb} {target}"))
                if attached:
                    by_operation.setdefault((verb, target), []).extend(attached)
            if not head and not by_operation:
                continue
            mediators = list(head)
            if by_operation:
                mediators.append(
                    OperationPolicies(
                        document.shown, document.line(operations[0][0]), by_operation
                    )
                )
            sequences[flow] = Sequence(
                document.shown,
                document.line(document.data),
                label + SEQUENCE_SUFFIX[flow],
                mediators,
            )
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else ConfigErrors(self.errors)
        return sequences

    def _attach(self, entry: Any, flow: str, where: str) -> list[Mediator]:
        """Return the mediator of one attachment, or nothing when it is skipped or broken."""
        try:
            policy = self._policy(entry, flow, where)
        except ConfigError as e:
            self.errors.extend(getattr(e, "errors", [e]))
            return []
        return [policy] if policy is not None else []

    def _policy(self, entry: Any, flow: str, where: str) -> PolicyMediator | None:
        document = self.document
        document.check_fields(entry, f"{flow} policy", ATTACHMENT_FIELDS)
        name = document.string(entry, "policyName", required=True)
        version = document.string(entry, "policyVersion") or "v1"
        policy_type = document.string(entry, "policyType")
        parameters = entry.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise document.error(
                entry, "parameters", "must be a mapping of parameter values"
            )
        spec_path, definition_path = find_policy_files(
            document.project, name, version, policy_type
        )
        stem = f"Policies/{name}_{version}"
        if spec_path is None:
            raise document.error(
                entry,
                "policyName",
                f"names policy {name} {version}, but its specification "
                f"{stem}.yaml (or .yml, .json) is not in the project"
                + (
                    "; common policies are not shipped with this gateway"
                    if policy_type == "common"
                    else ""
                ),
            )
        from .apictl import read_document  # the document reader lives with the loader

        spec = read_document(spec_path, document.project)
        data = (
            spec.data.get("data", spec.data)
            if isinstance(spec.data, dict)
            else spec.data
        )
        if not isinstance(data, dict):
            raise spec.error(spec.data, None, "must be a policy specification mapping")
        gateways = spec.string_list(data, "supportedGateways", required=True)
        if "Synapse" not in gateways:
            return None  # rendered only for the gateways it names
        flows = spec.string_list(data, "applicableFlows", required=True)
        if flow not in flows:
            raise document.error(
                entry,
                "policyName",
                f"attaches policy {name} {version} to the {flow} flow, but its "
                f"specification {spec.shown} allows only {', '.join(flows)}",
            )
        self._check_parameters(spec, data, entry, parameters)
        if definition_path is None:
            raise spec.error(
                data,
                "name",
                f"has no Synapse definition: {stem}.j2 (or .xml) is missing",
            )
        mediators = render_policy(definition_path, parameters, self.library)
        return PolicyMediator(
            display_path(definition_path), f"{name} {version}", where, mediators
        )

    def _check_parameters(
        self, spec: Document, data: Any, entry: Any, parameters: dict[str, Any]
    ) -> None:
        """Check the attachment's parameters against the specification's attributes."""
        for attribute in spec.list(data, "policyAttributes"):
            name = spec.string(attribute, "name", required=True)
            value = parameters.get(name)
            if value is None or value == "":
                if spec.boolean(attribute, "required", False):
                    raise self.document.error(
                        entry,
                        "parameters",
                        f"lacks {name!r}, which the specification {spec.shown} requires",
                    )
                continue
            pattern = spec.string(attribute, "validationRegex")
            if pattern is not None and re.fullmatch(pattern, str(value)) is None:
                raise self.document.error(
                    entry,
                    "parameters",
                    f"value {value!r} of {name!r} does not match {pattern!r} "
                    f"({spec.shown})",
                )


def render_policy(
    path: Path, parameters: dict[str, Any], library: SequenceLibrary
) -> list[Mediator]:
    """Render the Jinja definition at `path` with `parameters` and build its mediators."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read file: {e.strerror}", file=shown) from None
    try:
        rendered = _JINJA.from_string(text).render(parameters)
    except jinja2.TemplateSyntaxError as e:
        raise ConfigError(
            f"invalid Jinja template: {e.message}", file=shown, line=e.lineno
        ) from None
    except jinja2.UndefinedError as e:
        line, column = _find_name(text, e.message or "")
        raise ConfigError(
            f"template parameter: {e.message}",
            file=shown,
            line=line,
            column=column,
            hint="give it under the policy's parameters in api.yaml",
        ) from None
    except jinja2.TemplateError as e:
        raise ConfigError(f"template failed to render: {e}", file=shown) from None
    except Exception as e:  # noqa: BLE001 - a template's own run-time error, e.g. 1/0
        # Policy templates are the user's input: any failure while rendering one is a
        # problem in that file, reported as such, never a traceback.
        raise ConfigError(
            f"template failed to render: {type(e).__name__}: {e}",
            file=shown,
            hint="policy templates may use parameters, conditions and loops, "
            "not include, import or extends",
        ) from None
    return build_fragment(rendered, shown, path.parent, library)


def build_fragment(
    rendered: str, shown: str, folder: Path, library: SequenceLibrary
) -> list[Mediator]:
    """Build the mediators of a rendered policy: top-level mediators or one <sequence>.

    The fragment is wrapped on its own first line, so the lines of errors are the
    lines of the rendered text.
    """
    declaration = _XML_DECLARATION.match(rendered)
    if declaration is not None:
        rendered = " " * declaration.end() + rendered[declaration.end() :]
    wrapped = f'<sequence xmlns="{SYNAPSE_NS}">{rendered}</sequence>'
    root = parse_xml(wrapped.encode("utf-8"), shown)
    source = Source(shown, rendered.splitlines(), folder=folder, library=library)
    mediators = build_mediators(root, source)
    if source.unsupported:
        raise (
            source.unsupported[0]
            if len(source.unsupported) == 1
            else ConfigErrors(source.unsupported)
        )
    return mediators


def _find_name(text: str, message: str) -> tuple[int | None, int | None]:
    """Return the line and column where the undefined name of `message` is used."""
    match = _UNDEFINED_NAME.search(message)
    if match is None:
        return None, None
    pattern = re.compile(r"\{[{%][^}]*\b" + re.escape(match.group(1)) + r"\b")
    for number, line in enumerate(text.splitlines(), start=1):
        found = pattern.search(line)
        if found is not None:
            return number, found.start() + 1
    return None, None
