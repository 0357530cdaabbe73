"""WSO2's reading of the Authorization header (carbon-apimgt OAuthAuthenticator)."""

import pytest

from addon.auth import extract_bearer


@pytest.mark.parametrize(
    ("value", "token", "remaining"),
    [
        ("Bearer abc", "abc", ""),
        ("bearer abc", "abc", ""),
        ("BEARER abc", "abc", ""),
        ("Bearer  abc", "abc", ""),
        ('Bearer "abc"', "abc", ""),
        ("Bearer abc,Basic YTpi", "abc", "Basic YTpi"),
        ("Bearer abc, Basic YTpi", "abc", "Basic YTpi"),
        ("Basic YTpi, Bearer abc", "abc", "Basic YTpi"),
        ("Basic YTpi", None, "Basic YTpi"),
        ("Bearer", None, "Bearer"),
        ("Bearer ", None, "Bearer"),
        ("", None, ""),
        ("abc", None, "abc"),
        ("Basic YTpi; Bearer abc", "abc", ""),
    ],
)
def test_extract_bearer_follows_wso2_split_rule(value, token, remaining):
    """Split on commas, then spaces; the word after `Bearer` (any case) is the token."""
    found = extract_bearer(value)
    assert found.token == token
    assert found.remaining == remaining


def test_extract_bearer_last_word_wins_within_a_part():
    """WSO2 keeps overwriting the token with each later word of the same part."""
    assert extract_bearer("Bearer one two").token == "two"


def test_extract_bearer_two_bearer_parts_removes_both():
    """Each part that carried a bearer token is removed from what is forwarded."""
    found = extract_bearer("Bearer a, Bearer b, Digest x")
    assert found.token == "b"
    assert found.remaining == "Digest x"
