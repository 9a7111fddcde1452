"""The real langchain-openai client against an OpenAI-compatible server on 127.0.0.1 written
here: success, streaming, 500, timeout, malformed JSON, a reply that invents a number; and
redaction of what it receives. Plus LangChain's fake chat models."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from cellsync.config import Settings
from cellsync.explain import build_facts, explain
from cellsync.explain.ask import ask
from cellsync.explain.chains import ExplainError, llm_runnable, make_model
from cellsync.store import TimelineEntry
from helpers import entries, recorded, run

SECRET = "sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4"


class Stub:
    """Answers /v1/chat/completions with the next planned behaviour."""

    def __init__(self):
        self.plan: list = []
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(body)
                kind, payload = stub.plan.pop(0) if stub.plan else ("json", {"summary": "ok", "details": "", "caveats": []})
                if kind == "status":
                    self.send_response(payload)
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "boom"}}')
                    return
                if kind == "sleep":
                    time.sleep(payload)
                    kind, payload = "json", {"summary": "late", "details": "", "caveats": []}
                content = payload if isinstance(payload, str) else json.dumps(payload)
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for i in range(0, len(content), 7):
                        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                                 "choices": [{"index": 0, "delta": {"content": content[i:i + 7]}, "finish_reason": None}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                    return
                reply = {"id": "c", "object": "chat.completion", "created": 0, "model": body.get("model"),
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def stub():
    s = Stub()
    yield s
    s.close()


@pytest.fixture
def cfg(stub, monkeypatch):
    monkeypatch.setenv("CELLSYNC_LLM_API_KEY", "sk-test")
    return Settings(explain_base_url=stub.url, explain_timeout=2)


FACTS_ENTRY = {
    "id": 1, "execution_count": 4, "status": "ok", "error": None, "session_id": "s1", "cell_id": None,
    "notebook": None, "started_at": "2026-01-01T00:00:00", "duration_s": 0.1,
    "code": f'client = Client(api_key="{SECRET}")\npatients = patients.dropna(subset=["income"])',
    "frames": [{"name": "patients", "version": "v2", "change": "rebound", "parent": "patients", "rows_before": 2000, "rows_after": 1763,
                "rows_removed": 237, "rows_added": 0, "row_identity": "index", "reordered": False, "columns_added": [],
                "columns_removed": [], "columns_renamed": {}, "dtype_changes": {}, "values_changed": {}, "n_cols": 9, "note": None}],
    "segments": [{"frame": "patients", "segment": "age >= 80", "name": "80 and over", "rows_before": 361, "rows_after": 238,
                  "rows_removed": 123, "rows_added": 0, "rows_left": 0, "rows_entered": 0, "removal_rate": 123 / 361,
                  "overall_removal_rate": 237 / 2000, "values_changed": {}, "flagged": True, "note": None}],
    "metrics": [],
}


@pytest.fixture
def facts():
    return build_facts(TimelineEntry.from_dict(FACTS_ENTRY))


GOOD = {"summary": "Removed the 237 patients with no recorded income (11.9%), but 34% of patients over 80: flagged.",
        "details": "dropna removes rows.", "caveats": ["check the elderly"]}


def test_success_through_the_real_client(stub, cfg, facts):
    stub.plan = [("json", GOOD)]
    ex = explain(facts, "openai:gpt-test", cfg)
    assert ex.model == "openai:gpt-test" and ex.summary == GOOD["summary"] and ex.note is None
    assert ex.unverified_numbers == () and ex.caveats == ("check the elderly",)
    sent = json.dumps(stub.requests)
    assert stub.requests[0]["model"] == "gpt-test"
    assert "237" in sent and SECRET not in sent and "REDACTED" in sent


def test_fenced_json_is_accepted(stub, cfg, facts):
    stub.plan = [("json", "```json\n" + json.dumps(GOOD) + "\n```")]
    assert explain(facts, "openai:gpt-test", cfg).summary == GOOD["summary"]


def test_streaming_through_the_real_client(stub, cfg, facts):
    stub.plan = [("json", GOOD)]
    chain = llm_runnable(make_model("openai:gpt-test", cfg))
    chunks = list(chain.stream({"facts": facts}))
    assert stub.requests[0]["stream"] is True
    assert len(chunks) > 1 and chunks[-1]["summary"] == GOOD["summary"]


@pytest.mark.parametrize(
    "plan, note",
    [
        ([("status", 500)], "error code: 500"),
        ([("sleep", 4)], "Timeout"),
        ([("json", "this is not json at all")], "failed"),
        ([("json", {"details": "no summary"})], "no summary"),
    ],
)
def test_failures_keep_the_offline_summary_with_a_note(stub, cfg, facts, plan, note):
    stub.plan = list(plan)
    started = time.monotonic()
    ex = explain(facts, "openai:gpt-test", cfg)
    assert time.monotonic() - started < 6  # the timeout holds; no retries pile up
    assert ex.model == "offline" and "237 of its 2,000 rows" in ex.summary
    assert note.lower() in ex.note.lower()


def test_an_invented_number_is_refused_twice_then_offline(stub, cfg, facts):
    invented = {"summary": "Removed 412 patients, 40% of them over 80.", "details": "", "caveats": []}
    stub.plan = [("json", invented), ("json", invented)]
    ex = explain(facts, "openai:gpt-test", cfg)
    assert ex.model == "offline" and "412" in ex.note and "40%" in ex.note
    assert "numbers that are not in the facts (412, 40%)" in json.dumps(stub.requests[1])  # asked again


def test_an_invented_number_corrected_on_the_second_try(stub, cfg, facts):
    stub.plan = [("json", {"summary": "Removed 412 patients.", "details": "", "caveats": []}), ("json", GOOD)]
    ex = explain(facts, "openai:gpt-test", cfg)
    assert ex.model == "openai:gpt-test" and ex.summary == GOOD["summary"]


def test_fake_chat_models_take_the_same_path(facts):
    llm = FakeListChatModel(responses=[json.dumps(GOOD)])
    assert explain(facts, "fake", llm=llm).summary == GOOD["summary"]


def test_missing_provider_or_key_is_one_clear_message(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("CELLSYNC_LLM_API_KEY", raising=False)
    with pytest.raises(ExplainError, match="not installed.*langchain.anthropic|langchain-anthropic"):
        make_model("anthropic:claude-x", Settings())
    with pytest.raises(ExplainError, match="no API key for 'openai:gpt-4o-mini'.*OPENAI_API_KEY"):
        make_model("openai:gpt-4o-mini", Settings())
    with pytest.raises(ExplainError, match="cannot use model"):
        make_model("nonsense-provider:thing", Settings())


def test_the_notebook_gets_llm_summaries_in_the_background(shell, stub, monkeypatch):
    import cellsync

    monkeypatch.setenv("CELLSYNC_LLM_API_KEY", "sk-test")
    monkeypatch.setattr(cellsync.settings, "explain_model", "openai:gpt-test")
    monkeypatch.setattr(cellsync.settings, "explain_base_url", stub.url)
    stub.plan = [("json", {"summary": "Created a table of 3 rows.", "details": "", "caveats": []})]
    run(shell, f'token = "{SECRET}"\ndf = pd.DataFrame({{"a": [1, 2, 3]}})')
    store = recorded(shell)
    (cell,) = entries(store)
    assert (cell["summary_model"], cell["summary"]) == ("openai:gpt-test", "Created a table of 3 rows.")
    assert SECRET not in json.dumps(stub.requests)
    assert SECRET not in (store.path / "cellsync.db").read_bytes().decode("latin-1")
    # the same facts again: the cached summary, no second request
    n = len(stub.requests)
    from cellsync.explain import explain_store
    from cellsync.store import Store

    writable = Store(store.path)
    list(explain_store(writable, model="openai:gpt-test"))
    writable.close()
    assert len(stub.requests) == n


def test_ask_with_an_llm_checks_numbers_and_citations(stub, cfg, shell):
    run(shell, "df = pd.DataFrame({'a': range(10)})")
    run(shell, "df = df[df.a > 3]")
    store = recorded(shell)
    counts = [c["execution_count"] for c in entries(store)]
    stub.plan = [("json", f"The filter in [cell {counts[1]}] removed 4 rows; [cell 99] removed 17.")]
    answer = ask(store, "which cell removed rows?", "openai:gpt-test", cfg)
    assert answer.cells == (counts[1],)
    assert "[cell 99: no such cell]" in answer.text and "17 (unverified)" in answer.text
    assert answer.unverified_numbers == ("17",)


def test_row_values_reach_an_llm_only_when_allowed(shell, stub, monkeypatch):
    import cellsync

    monkeypatch.setenv("CELLSYNC_LLM_API_KEY", "sk-test")
    monkeypatch.setattr(cellsync.settings, "explain_model", "openai:gpt-test")
    monkeypatch.setattr(cellsync.settings, "explain_base_url", stub.url)
    # the value is built at run time, so it is in the data but not in the code
    run(shell, "df = pd.DataFrame({'name': ['Zy' + 'xwvut Q.', 'Ab' + 'cdef R.'], 'a': [1, 2]})")
    run(shell, "df['name'] = df['name'].str.upper()")
    recorded(shell)
    assert stub.requests and "Zyxwvut" not in json.dumps(stub.requests) and "ZYXWVUT" not in json.dumps(stub.requests)
    monkeypatch.setattr(cellsync.settings, "explain_sample_values", True)
    run(shell, "df['name'] = df['name'].str.lower()")
    recorded(shell)
    assert "zyxwvut q." in json.dumps(stub.requests[-1])
