"""The Synapse mediation language: parse sequence files once, run them per message.

`xmlparse` reads a file safely, `builder` turns its elements into mediator objects,
`expressions` compiles XPath once, `mediators` runs against a message context, and
`library` holds every sequence of the sequences folder by file name and by name.
"""

SYNAPSE_NS = "http://ws.apache.org/ns/synapse"
