"""Making values from outside inert in each target's format: Slack mrkdwn text and links, the
Go-quoted label values of an Alertmanager group key, and HTTP header values. Pure; called by
``rendering`` and ``sending``.

An ``Alert`` holds plain text (policy, rule and resource names as uploaded, messages, summaries):
it is escaped here, once, for the format it is rendered into, never when the alert is built.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

# Slack's three control characters, as its formatting reference says to escape them (and only them)
_SLACK_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# mrkdwn has no escape for its formatting characters: they become characters that look alike
_SLACK_FORMATTING = str.maketrans(
    {
        "*": "\N{ASTERISK OPERATOR}",
        "_": "\N{MODIFIER LETTER LOW MACRON}",
        "~": "\N{TILDE OPERATOR}",
        "`": "\N{MODIFIER LETTER GRAVE ACCENT}",
    }
)
# what a URL may keep as it is inside ``<url|label>``: RFC 3986's reserved and unreserved characters
# less "|" and the angle brackets (never in a valid URL anyway), and "%" so escapes stay as they are
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"
# an HTTP header value: visible ASCII and space, percent-encoded beyond that
_HEADER_SAFE = "".join(chr(code) for code in range(0x20, 0x7F) if chr(code) != "%")
_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def slack_text(value: str) -> str:
    """``value`` as inert mrkdwn on one line: no mention (``<!channel>``, ``<@U123>``), no link, no
    bold, italics, strike or code, no quote or list (line breaks and other invisible characters
    become spaces, so a value never starts a line)."""
    visible = "".join(char if char.isprintable() else " " for char in value)
    return visible.translate(_SLACK_ENTITIES).translate(_SLACK_FORMATTING)


def slack_link(url: str, label: str) -> str:
    """``<url|label>`` for an http(s) URL, with the URL percent-encoded where Slack would read it as
    markup and ``&`` escaped; an empty string for anything that is not an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"<{quote(url, safe=_URL_SAFE).translate(_SLACK_ENTITIES)}|{slack_text(label)}>"


def go_quote(value: str) -> str:
    """``value`` in double quotes as Go's ``strconv.Quote`` writes it (how Alertmanager writes the
    label values of a group key): a quote or backslash in the value cannot end the string."""
    out = ['"']
    for char in value:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def header_value(value: str) -> str:
    """``value`` as an HTTP header value: visible ASCII kept, anything else (line breaks, non-ASCII)
    percent-encoded, so no value can add a header or make the request fail to encode."""
    return quote(value, safe=_HEADER_SAFE)
