"""Secrets never reach the store or an LLM: real-looking keys of every common shape."""

import pytest

from cellsync.redact import MASK, redact

KEYS = {
    "openai": "sk-proj-Zx81KqP0vLmN3bR7tY5wQ2eA9sD4fG6hJ",
    "anthropic": "sk-ant-api03-Qw7Er8Ty9Ui0Op1As2Df3Gh4Jk5Lz6",
    "github": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "github_pat": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstu",
    "slack": "xoxb-2048-1024-abcdefABCDEF0123",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "google": "AIzaSyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1v",
    "huggingface": "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


@pytest.mark.parametrize("kind", list(KEYS))
def test_token_shapes(kind):
    code = f'client = make_client("{KEYS[kind]}")\nprint("done")'
    out = redact(code)
    assert KEYS[kind] not in out and MASK in out and 'print("done")' in out


@pytest.mark.parametrize(
    "code, secret",
    [
        ('engine = create_engine("postgresql://analyst:Tr0ub4dor&3@db.internal:5432/clinic")', "Tr0ub4dor&3"),
        ("uri = 'mongodb+srv://svc:pa55word@cluster0.example.net/db'", "pa55word"),
        ('db_password = "correct horse battery staple"', "correct horse battery staple"),
        ("API_KEY='abc123def456'", "abc123def456"),
        ('config = {"secret": "s3cr3t-value", "rows": 10}', "s3cr3t-value"),
        ('connect(user="ann", password="hunter2")', "hunter2"),
        ("%env OPENAI_API_KEY=plainvalue123", "plainvalue123"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"),
    ],
)
def test_credentials_and_secret_named_values(code, secret):
    assert secret not in redact(code)


@pytest.mark.parametrize(
    "code",
    [
        'df = df.dropna(subset=["income"])',
        'token_count = df["tokens"].sum()',
        'key = "age"',
        'url = "https://example.org/data.csv"',
        'token = os.environ["TOKEN"]',
    ],
)
def test_ordinary_code_is_left_alone(code):
    assert redact(code) == code
