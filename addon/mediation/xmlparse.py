"""Parse sequence files with DTDs, entities and network access turned off.

lxml has changed its entity defaults between releases, so the parser options are set
explicitly. A DOCTYPE is rejected outright: Synapse sequences never need one, and an
internal subset is how entity expansion and external references get in.
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from ..errors import ConfigError

MAX_SEQUENCE_BYTES = 1024 * 1024


def _parser(keep_comments_and_pis: bool = False) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=not keep_comments_and_pis,
        remove_pis=not keep_comments_and_pis,
    )


def parse_xml(source: bytes, file: str) -> etree._Element:
    """Parse `source` (the text of `file`) and return its root element."""
    if len(source) > MAX_SEQUENCE_BYTES:
        raise ConfigError(
            f"file is {len(source)} bytes, over the {MAX_SEQUENCE_BYTES}-byte limit "
            "for a sequence",
            file=file,
        )
    try:
        root = etree.fromstring(source, _parser())
    except etree.XMLSyntaxError as e:
        line, column = e.position if e.position else (e.lineno, None)
        message = re.sub(r", line \d+, column \d+$", "", e.msg or "syntax error")
        raise ConfigError(
            f"not well-formed XML: {message}", file=file, line=line, column=column
        ) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise ConfigError(
            "a DOCTYPE declaration is not allowed in a sequence",
            file=file,
            line=1,
            hint="remove the <!DOCTYPE ...> line",
        )
    for node in root.iter(etree.Entity):
        raise ConfigError(
            f"entity reference &{node.name}; is not allowed in a sequence",
            file=file,
            line=node.sourceline,
        )
    return root


def parse_xml_file(path: Path, shown_as: str | None = None) -> etree._Element:
    """Read and parse the file at `path`; errors name it as `shown_as`."""
    name = shown_as or str(path)
    try:
        source = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read file: {e.strerror}", file=name) from None
    return parse_xml(source, name)


def column_of(lines: list[str], element: etree._Element) -> int | None:
    """Return the 1-based column where `element`'s start tag begins, if it can be found.

    lxml records the line of an element but not its column, so the column is found by
    searching that source line for the tag name.
    """
    line = element.sourceline
    if line is None or not 0 < line <= len(lines):
        return None
    local = etree.QName(element).localname
    text = lines[line - 1]
    for prefix in (element.prefix,):
        tag = f"<{prefix}:{local}" if prefix else f"<{local}"
        index = text.find(tag)
        if index >= 0:
            return index + 1
    return None


def parse_fragment(text: str | bytes) -> etree._Element:
    """Parse XML that a message carries or a mediator builds; raise ValueError if invalid.

    The same rules as for sequence files apply: no DOCTYPE, no entity references, no
    network access.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        root = etree.fromstring(data, _parser(keep_comments_and_pis=True))
    except etree.XMLSyntaxError as e:
        raise ValueError(e.msg or "syntax error") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise ValueError("a DOCTYPE declaration is not allowed")
    for node in root.iter(etree.Entity):
        raise ValueError(f"entity reference &{node.name}; is not allowed")
    return root
