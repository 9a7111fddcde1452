import pytest

from cellsync.lineage import analyse, parent_of


@pytest.mark.parametrize(
    "code, name, frames, parent",
    [
        ("df2 = df[df.a > 0]", "df2", {"df"}, "df"),
        ("df = df.dropna()", "df", {"df"}, "df"),
        ("m = pd.merge(left, right, on='k')", "m", {"left", "right"}, "left"),
        ("m = right.merge(left)", "m", {"left", "right"}, "right"),
        ("a, b = train_test_split(df, test_size=0.2)", "b", {"df"}, "df"),
        ("if flag:\n    out = src.copy()", "out", {"src"}, "src"),
        ("x += other", "x", {"x", "other"}, "x"),
        ("df = pd.read_csv('f.csv')", "df", {"df"}, None),
        ("def f():\n    hidden = df\n", "hidden", {"df"}, None),
        ("df2 = (", "df2", {"df"}, None),  # a syntax error yields no lineage, not an exception
    ],
)
def test_parent_of(code, name, frames, parent):
    assert parent_of(name, analyse(code).sources, frames.__contains__) == parent


@pytest.mark.parametrize(
    "code, reshape",
    [
        ("g = df.groupby('a').agg(n=('b', 'count'))", True),
        ("p = df.pivot_table(index='a', values='b')", True),
        ("t = df.T", True),
        ("f = df[df.a > 1].sort_values('b')", False),
        ("m = df.merge(other, on='k')", False),
    ],
)
def test_reshape_detection(code, reshape):
    name = code.split(" = ")[0]
    assert analyse(code).is_reshape(name) is reshape
