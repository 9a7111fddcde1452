"""Secrets out of code before it is stored or sent anywhere.

Covers API keys and tokens with well-known shapes, credentials inside connection strings, and
string values assigned to names that look like secrets (`password = "..."`, `API_KEY=...`).
"""

from __future__ import annotations

import re

MASK = "***REDACTED***"

_TOKEN_PATTERNS = [
    r"sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}",  # OpenAI / Anthropic style
    r"gh[pousr]_[A-Za-z0-9]{20,}",  # GitHub
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"xox[abprs]-[A-Za-z0-9\-]{10,}",  # Slack
    r"AKIA[0-9A-Z]{16}",  # AWS access key id
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API key
    r"hf_[A-Za-z0-9]{30,}",  # Hugging Face
    r"eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}",  # JWT
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
    # a key pasted without its END line: the BEGIN line and every base64 line after it
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:\s*\n[ \t]*[A-Za-z0-9+/=]{8,})*",
]
_TOKENS = re.compile("|".join(f"(?:{p})" for p in _TOKEN_PATTERNS))
# scheme://user:password@host  ->  scheme://user:***@host; the password runs to the *last* '@'
# before the host (a password may hold '@': the part after it once leaked)
_URL_CREDENTIALS = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@'\"]+:)(?P<pw>[^\s'\"]+)(?=@[^\s@'\"/?#]+(?:[/?#:'\"\s]|$))")
# a short name on its own or as a suffix (pw, db_pwd; not pw_col), or a name containing a secret word
_SECRET_NAME = (r"(?:[A-Za-z0-9]+_)*(?:pw|pwd)\b|"
                r"[A-Za-z_]*(?:passw(?:or)?d|passwd|pwd|secret|token|api_?key|apikey|access_?key|private_?key|credentials?|auth)[A-Za-z0-9_]*")
# os.environ["NAME"] = "value" / d['NAME'] = 'value'
_SECRET_ITEM = re.compile(
    rf"(?P<head>\[\s*(?P<q>['\"])(?:{_SECRET_NAME})(?P=q)\s*\]\s*=\s*)(?P<quote>['\"])(?P<value>[^'\"\n]+)(?P=quote)",
    re.IGNORECASE,
)
# KEY=value; inside connection strings (ODBC PWD=...;) and URL queries (?password=...&)
_SECRET_PAIR = re.compile(
    rf"(?P<head>(?:^|[;?&\s'\"])(?:{_SECRET_NAME})=)(?P<value>[^;&\s'\"]+)",
    re.IGNORECASE,
)
# name = "value"  /  name: "value"  /  "name": "value"  /  name="value" (keyword argument)
_SECRET_ASSIGN = re.compile(
    rf"(?P<head>(?P<q>['\"]?)\b(?:{_SECRET_NAME})(?P=q)\s*[:=]\s*)(?P<quote>['\"])(?P<value>[^'\"\n]+)(?P=quote)",
    re.IGNORECASE,
)
# KEY=value in shell-style lines: %env, %set_env, !export, export, or a bare NAME=value line
_SECRET_ENV = re.compile(
    rf"(?P<head>^[ \t]*(?:%env\s+|%set_env\s+|!\s*export\s+|export\s+)?(?:{_SECRET_NAME})\s*=\s*)(?P<value>[^\s'\"]+)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


def redact(text: str | None) -> str | None:
    if not text:
        return text
    text = _TOKENS.sub(MASK, text)
    text = _URL_CREDENTIALS.sub(lambda m: m.group("head") + MASK, text)
    text = _SECRET_ITEM.sub(lambda m: f"{m.group('head')}{m.group('quote')}{MASK}{m.group('quote')}", text)
    text = _SECRET_PAIR.sub(lambda m: m.group(0) if m.group("value").startswith("*") else m.group("head") + MASK, text)
    text = _SECRET_ASSIGN.sub(
        lambda m: f"{m.group('head')}{m.group('quote')}{MASK}{m.group('quote')}", text
    )
    text = _SECRET_ENV.sub(
        lambda m: m.group(0) if m.group("value").startswith(("*", "os.", "getenv")) or "(" in m.group("value") or "[" in m.group("value")
        else m.group("head") + MASK,
        text,
    )
    return text


# frame columns whose values are secrets or identifiers: profiled as counts only, not persisted
_SECRET_COLUMN = re.compile(
    r"passw(?:or)?d|passwd|\bpwd|secret|token|api_?key|apikey|access_?key|private_?key|credential"
    r"|\bssn\b|social_?security|credit_?card|card_?number|\bcvv\b|\biban\b",
    re.IGNORECASE,
)


def secret_column(label) -> bool:
    """A column named like a secret (`password`, `api_token`, `SSN`, `credit_card`...)."""
    text = "_".join(map(str, label)) if isinstance(label, tuple) else str(label)
    return bool(_SECRET_COLUMN.search(text.replace("_", " ") + " " + text))
