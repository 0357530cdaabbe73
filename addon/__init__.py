"""A mitmproxy addon that acts as the WSO2 API Manager gateway on a developer's machine."""
