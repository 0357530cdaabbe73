"""The message body as mediators see it, parsed only when a mediator needs it.

Synapse evaluates XPath against a SOAP envelope. For a REST call the envelope's body
holds the payload that the message builder made from the HTTP body:

- XML: the document element (a SOAP envelope in the request is used as it is);
- JSON: the `<jsonObject>`/`<jsonArray>` mapping of `jsonxml`;
- `text/plain`: `<text xmlns="http://ws.apache.org/commons/ns/payload">`;
- form data: `<xformValues>` with one element per field;
- anything else: `<binary>` of the same namespace, holding base64.

The body stays as raw bytes until an expression or mediator reads it, and it is sent
on unchanged unless a mediator replaced or changed it, or `messageType` asks for
another format. Bodies above MAX_BODY_BYTES are not parsed: reading them is a
mediation fault.
"""

from __future__ import annotations

import base64
import copy
from typing import Any
from urllib.parse import parse_qsl, urlencode

from lxml import etree

from . import jsonxml
from .xmlparse import parse_fragment

MAX_BODY_BYTES = 10 * 1024 * 1024

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
PAYLOAD_NS = "http://ws.apache.org/commons/ns/payload"

_RAW, _JSON, _XML = "raw", "json", "xml"


class PayloadError(ValueError):
    """A body that cannot be parsed, converted or is over the size limit."""


def media_type(content_type: str | None) -> str:
    """Return the media type of a Content-Type value, lower case, without parameters."""
    if not content_type:
        return ""
    return content_type.partition(";")[0].strip().lower()


def is_json_type(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind in ("application/json", "text/json") or kind.endswith("+json")


def is_xml_type(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind in ("application/xml", "text/xml") or kind.endswith("+xml")


def new_envelope(soap_ns: str = SOAP11_NS) -> etree._Element:
    """Return an empty SOAP envelope with a header and an empty body."""
    envelope = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"soapenv": soap_ns})
    etree.SubElement(envelope, f"{{{soap_ns}}}Header")
    etree.SubElement(envelope, f"{{{soap_ns}}}Body")
    return envelope


def soap_part(envelope: etree._Element, local: str) -> etree._Element | None:
    """Return the envelope's Header or Body element."""
    for child in envelope:
        if isinstance(child.tag, str) and etree.QName(child).localname == local:
            return child
    return None


class Payload:
    """One message body: the raw bytes, or the JSON text or XML tree that replaced them."""

    __slots__ = ("raw", "content_type", "source", "modified", "_envelope", "_json_text")

    def __init__(self, raw: bytes = b"", content_type: str | None = None) -> None:
        self.raw = raw
        self.content_type = content_type
        self.source = _RAW
        self.modified = False
        self._envelope: etree._Element | None = None
        self._json_text: str | None = None

    @property
    def empty(self) -> bool:
        """Whether there is no body at all."""
        return self.source == _RAW and not self.raw

    def is_json(self) -> bool:
        """Return whether the payload is JSON, as Synapse's `JsonUtil.hasAJsonPayload` decides."""
        if self.source == _JSON:
            return True
        if self.source == _RAW:
            return bool(self.raw) and is_json_type(self.content_type)
        body = self.body_element()
        return body is not None and etree.QName(body).localname in (
            "jsonObject",
            "jsonArray",
        )

    # Reading

    def envelope(self) -> etree._Element:
        """Return the SOAP envelope, building it from the body on first use."""
        if self._envelope is None:
            self._envelope = self._build()
        return self._envelope

    def body_element(self) -> etree._Element | None:
        """Return the first element of the SOAP body, or None when the body is empty."""
        body = soap_part(self.envelope(), "Body")
        if body is None:
            return None
        for child in body:
            if isinstance(child.tag, str):
                return child
        return None

    def json_data(self) -> Any:
        """Return the payload as JSON data; raise PayloadError when it is not JSON-like."""
        if self.source == _JSON:
            try:
                return jsonxml.loads(self._json_text or "null")
            except ValueError as e:
                raise PayloadError(f"the JSON payload is not valid: {e}") from None
        if self.source == _RAW and is_json_type(self.content_type):
            self._check_size()
            try:
                return jsonxml.loads(self.raw or b"null")
            except ValueError as e:
                raise PayloadError(f"the JSON body is not valid: {e}") from None
        element = self.body_element()
        if element is None:
            raise PayloadError("the message has no payload")
        return jsonxml.from_element(element)

    def json_text(self) -> str:
        """Return the payload as JSON text, converting XML as WSO2's formatter does."""
        if self.source == _JSON and self._json_text is not None:
            return self._json_text
        if self.source == _RAW and is_json_type(self.content_type):
            return self.raw.decode("utf-8", "replace")
        element = self.body_element()
        if element is None:
            return ""
        return jsonxml.dumps(jsonxml.from_element(element))

    def text(self) -> str:
        """Return the payload as text: the raw body, or the serialised body element."""
        if self.source == _RAW:
            return self.raw.decode("utf-8", "replace")
        if self.source == _JSON:
            return self._json_text or ""
        element = self.body_element()
        return (
            ""
            if element is None
            else etree.tostring(element, encoding="unicode", with_tail=False)
        )

    # Changing

    def set_json(self, text: str) -> None:
        """Replace the payload with JSON text.

        As in Synapse, the text is not checked here: it is sent as it is, and it is an
        error only when a later mediator reads it as JSON.
        """
        self.source = _JSON
        self._json_text = text
        self._envelope = None
        self.modified = True

    def set_body_element(self, element: etree._Element | None) -> None:
        """Replace the content of the SOAP body with `element` (or nothing)."""
        envelope = self.envelope()
        body = soap_part(envelope, "Body")
        assert body is not None
        for child in list(body):
            body.remove(child)
        body.text = None
        if element is not None:
            body.append(element)
        self.envelope_changed()

    def set_text(self, text: str) -> None:
        """Replace the payload with plain text, as a `text` payload element."""
        element = etree.Element(f"{{{PAYLOAD_NS}}}text", nsmap={None: PAYLOAD_NS})
        element.text = text
        self.set_body_element(element)

    def set_envelope(self, envelope: etree._Element) -> None:
        """Replace the whole envelope."""
        self._envelope = envelope
        self.envelope_changed()

    def envelope_changed(self) -> None:
        """Record that the envelope was changed in place; it now defines the body."""
        self.source = _XML
        self._json_text = None
        self.modified = True

    # Building

    def _check_size(self) -> None:
        if len(self.raw) > MAX_BODY_BYTES:
            raise PayloadError(
                f"the body is {len(self.raw)} bytes, over the {MAX_BODY_BYTES}-byte limit "
                "for a body that a sequence reads"
            )

    def _build(self) -> etree._Element:
        if self.source == _JSON:
            envelope = new_envelope()
            body = soap_part(envelope, "Body")
            try:
                body.append(
                    jsonxml.to_element(jsonxml.loads(self._json_text or "null"))
                )
            except ValueError as e:
                raise PayloadError(f"the JSON payload cannot be read: {e}") from None
            return envelope
        envelope = new_envelope()
        if not self.raw:
            return envelope
        self._check_size()
        body = soap_part(envelope, "Body")
        kind = media_type(self.content_type)
        try:
            if is_json_type(kind):
                body.append(jsonxml.to_element(jsonxml.loads(self.raw)))
            elif is_xml_type(kind):
                root = parse_fragment(self.raw)
                if etree.QName(root).localname == "Envelope" and etree.QName(
                    root
                ).namespace in (
                    SOAP11_NS,
                    SOAP12_NS,
                ):
                    return root
                body.append(root)
            elif kind == "text/plain":
                element = etree.SubElement(
                    body, f"{{{PAYLOAD_NS}}}text", nsmap={None: PAYLOAD_NS}
                )
                element.text = self.raw.decode("utf-8", "replace")
            elif kind == "application/x-www-form-urlencoded":
                form = etree.SubElement(body, "xformValues")
                text = self.raw.decode("utf-8", "replace")
                for name, value in parse_qsl(text, keep_blank_values=True):
                    etree.SubElement(form, jsonxml.element_name(name)).text = value
            else:
                element = etree.SubElement(
                    body, f"{{{PAYLOAD_NS}}}binary", nsmap={None: PAYLOAD_NS}
                )
                element.text = base64.b64encode(self.raw).decode("ascii")
        except ValueError as e:
            raise PayloadError(
                f"the {kind or 'request'} body cannot be read: {e}"
            ) from None
        return envelope

    # Writing

    def serialize(self, message_type: str | None) -> bytes:
        """Return the body to send, in the format `message_type` names."""
        if self.source == _RAW and (
            not message_type
            or media_type(message_type) == media_type(self.content_type)
        ):
            return self.raw
        kind = media_type(message_type or self.content_type)
        if is_json_type(kind):
            return self.json_text().encode("utf-8")
        if (
            self.source == _RAW
            and not self.modified
            and kind == media_type(self.content_type)
        ):
            return self.raw
        if self.source == _JSON and not (is_xml_type(kind) or kind in ("text/plain",)):
            return (self._json_text or "").encode("utf-8")
        element = self.body_element()
        if element is None:
            return b""
        qname = etree.QName(element)
        if kind == "text/plain":
            return "".join(element.itertext()).encode("utf-8")
        if kind == "application/x-www-form-urlencoded":
            pairs = [
                (jsonxml.key_name(etree.QName(child).localname), child.text or "")
                for child in element
                if isinstance(child.tag, str)
            ]
            return urlencode(pairs).encode("utf-8")
        if qname.namespace == PAYLOAD_NS and qname.localname == "binary":
            return base64.b64decode(element.text or "")
        if qname.namespace == PAYLOAD_NS and qname.localname == "text":
            return (element.text or "").encode("utf-8")
        if self._envelope is not None and _is_fault(element):
            return etree.tostring(self._envelope, encoding="utf-8", with_tail=False)
        return _xml_bytes(element)


def _xml_bytes(element: etree._Element) -> bytes:
    """Serialise a payload element on its own: no unused namespaces, no xml-multiple PIs."""
    copied = copy.deepcopy(element)
    for node in list(copied.iter(etree.ProcessingInstruction)):
        if node.target == "xml-multiple":
            parent = node.getparent()
            if parent is not None:
                if node.tail:
                    previous = node.getprevious()
                    if previous is not None:
                        previous.tail = (previous.tail or "") + node.tail
                    else:
                        parent.text = (parent.text or "") + node.tail
                parent.remove(node)
    etree.cleanup_namespaces(copied)
    return etree.tostring(copied, encoding="utf-8", with_tail=False)


def _is_fault(element: etree._Element) -> bool:
    qname = etree.QName(element)
    return qname.localname == "Fault" and qname.namespace in (SOAP11_NS, SOAP12_NS)
