"""Secrets of every shape the issue found leaking are redacted. Every secret here is built at
run time from pieces, so no file of this repository holds a real-looking secret whole."""

from __future__ import annotations

import pandas as pd
import pytest

import cellsync
from cellsync.redact import MASK, redact
from helpers import recorded, run


def made_up(prefix: str = "", n: int = 20) -> str:
    """A secret-looking value assembled now (never written whole in this file)."""
    return prefix + "".join("Zq7" [i % 3] + "x9Kp"[i % 4] for i in range(n // 2))


def shape(kind: str) -> tuple[str, str]:
    """(code, the secret in it) for each shape the issue lists."""
    s = made_up()
    shapes = {
        "environ": (f'os.environ["AWS_SECRET_ACCESS_KEY"] = "{s}"', s),
        "environ single quotes": (f"os.environ['MY_API_TOKEN']='{s}'", s),
        "odbc": (f'conn = pyodbc.connect("DRIVER={{SQL Server}};SERVER=db;UID=ann;PWD={s};")', s),
        "odbc password": (f"cs = 'Server=db;User Id=ann;Password={s};Encrypt=yes'", s),
        "url query": (f'requests.get("https://api.example.org/v1?user=ann&password={s}&x=1")', s),
        "url token query": (f'url = "https://h.example.org/feed?access_token={s}"', s),
        "dsn with @ in password": (f'engine = create_engine("postgresql://ann:{s[:6]}@{s[6:]}@db.example.org/prod")', f"{s[:6]}@{s[6:]}"),
        "pem without end": ("key = '''-----BEGIN RSA " + "PRIVATE KEY-----\n" + s * 3 + "\n" + s * 2 + "\n'''", s * 3),
        "pw": (f'pw = "{s}"', s),
        "passwd": (f"passwd='{s}'", s),
        "pwd": (f'PWD = "{s}"', s),
        "token": (f'Token = "{s}"', s),
        "secret": (f'SECRET="{s}"', s),
        "api_key": (f'Api_Key = "{s}"', s),
        "apikey": (f'APIKEY = "{s}"', s),
        "dict key": (f'creds = {{"password": "{s}", "user": "ann"}}', s),
        "dict key pw": (f"cfg = {{'pw': '{s}'}}", s),
        "keyword argument": (f'connect(host="db", password="{s}")', s),
    }
    return shapes[kind]


SHAPES = ["environ", "environ single quotes", "odbc", "odbc password", "url query", "url token query",
          "dsn with @ in password", "pem without end", "pw", "passwd", "pwd", "token", "secret", "api_key",
          "apikey", "dict key", "dict key pw", "keyword argument"]


@pytest.mark.parametrize("kind", SHAPES)
def test_each_shape_is_redacted(kind):
    code, secret = shape(kind)
    out = redact(code)
    assert secret not in out, out
    assert MASK in out
    # no piece of it either (the part after an '@' once leaked)
    for piece in secret.split("@"):
        assert piece not in out, out


def test_harmless_code_is_left_alone():
    code = ('df = df[df.token_count > 3]\npw_col = "pw"\nuser = "ann"\n'
            'os.environ["HOME"] = "/home/ann"\nurl = "https://example.org/?page=2&sort=name"')
    assert redact(code) == code


def test_secrets_leave_no_trace_in_code_error_or_explanation(shell):
    """Through a real shell: the stored code, the error text and the explanation's details."""
    secret = made_up()
    run(shell, f'import os\nos.environ["AWS_SECRET_ACCESS_KEY"] = "{secret}"\n'
               f'df = pd.DataFrame({{"a": [1, 2]}})\nraise ValueError("bad PWD={secret};")')
    st = recorded(shell)
    dump = repr(st.timeline()) + repr(st.explanations())
    assert secret not in dump
    cell = st.cells()[-1]
    assert MASK in cell.code and cell.status == "error"


def test_a_secret_named_column_is_counted_only_and_not_persisted(shell):
    run(shell, "users = pd.DataFrame({'name': ['ann', 'bob', 'cy'], 'Password': ['" + made_up() + "', None, 'x" + made_up() + "'],"
               " 'ssn': ['12' + '3-45-6789', None, None]})")
    st = recorded(shell)
    (v,) = st.versions(frame="users")
    cols = {c.name: c for c in v.profile.columns}
    for name, count in (("Password", 2), ("ssn", 1)):
        c = cols[name]
        assert (c.count, c.missing) == (count, 3 - count)
        assert c.top_values == () and c.min is None and c.length is None and c.unique is None
        assert c.note.startswith("counts only")
    assert cols["name"].top_values  # an ordinary column is profiled as before
    back = st.load_frame(v.id)
    assert set(back.attrs["cellsync_not_persisted"]) == {"Password", "ssn"}
    assert back["Password"].isna().all()
    pd.testing.assert_series_equal(back["name"], shell.user_ns["users"]["name"])


def test_a_setting_profiles_secret_named_columns_in_full(shell, monkeypatch):
    monkeypatch.setattr(cellsync.settings, "profile_secret_columns", True)
    run(shell, "tokens = pd.DataFrame({'token': ['a', 'a', 'b']})")
    st = recorded(shell)
    (v,) = st.versions(frame="tokens")
    assert [(t.value, t.count) for t in v.profile.columns[0].top_values] == [("a", 2), ("b", 1)]
    assert st.load_frame(v.id)["token"].tolist() == ["a", "a", "b"]
