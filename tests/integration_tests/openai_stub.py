"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests only.

``ChatOpenAI(base_url=stub.url, api_key="test")`` talks to it over real HTTP, so the
tests prove the wire round trip: the tool schemas we send, the ``tool_calls`` the
model returns, and the tool results and images we send back. The stub also checks
the requests against the rules the real API enforces (and answers 400 like it):

* every assistant message with ``tool_calls`` is followed by one ``tool`` message per
  call id;
* images appear only in ``user`` messages (OpenAI rejects them in tool results).

A script step is text (the final answer), ``{"tool_calls": [(name, args), ...],
"content": "..."}``, or a function of the request body that returns one of those.
Ids and timestamps are deterministic, so recorded cassettes are stable.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Step = str | dict[str, Any] | Callable[[dict[str, Any]], "str | dict[str, Any]"]

CREATED = 1_767_225_600  # fixed: 2026-01-01, keeps cassettes byte-stable


def tool_calls(*calls: tuple[str, dict[str, Any]], content: str | None = None) -> dict[str, Any]:
    """A script step that calls tools."""
    return {"tool_calls": list(calls), "content": content}


class OpenAIStub:
    """Serve ``POST /v1/chat/completions`` from a script; see the module docstring.

    Attributes:
        requests: Every request body received, in order.
        errors: Every protocol violation found (also answered with HTTP 400).
    """

    def __init__(self, script: list[Step], *, model: str = "stub-model") -> None:
        self.script = list(script)
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._served = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give ``ChatOpenAI`` / ``OPENAI_BASE_URL``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> OpenAIStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- protocol -----------------------------------------------------------------------

    @staticmethod
    def check(body: dict[str, Any]) -> list[str]:
        """The rules of the real API that our requests could break."""
        problems: list[str] = []
        messages = body.get("messages") or []
        for i, message in enumerate(messages):
            role = message.get("role")
            content = message.get("content")
            if (
                role != "user"
                and isinstance(content, list)
                and any(part.get("type") == "image_url" for part in content)
            ):
                problems.append(f"messages[{i}]: images are only allowed in user messages")
            if role == "assistant" and message.get("tool_calls"):
                wanted = [c["id"] for c in message["tool_calls"]]
                answers = []
                for later in messages[i + 1 :]:
                    if later.get("role") != "tool":
                        break
                    answers.append(later.get("tool_call_id"))
                if sorted(answers) != sorted(wanted):
                    problems.append(
                        f"messages[{i}]: tool_calls {wanted} must be followed by tool "
                        f"messages for each id, got {answers}"
                    )
        return problems

    def _reply(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(body)
            if self._served >= len(self.script):
                raise IndexError(f"the stub's script has only {len(self.script)} step(s)")
            step = self.script[self._served]
            self._served += 1
            n = self._served
        if callable(step):
            step = step(body)
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if isinstance(step, str):
            message["content"] = step
        else:
            message["content"] = step.get("content")
            message["tool_calls"] = [
                {
                    "id": f"call_stub_{n}_{k}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for k, (name, args) in enumerate(step["tool_calls"], 1)
            ]
        return {
            "id": f"chatcmpl-stub-{n}",
            "object": "chat.completion",
            "created": CREATED,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                }
            ],
            "usage": {"prompt_tokens": 10 * n, "completion_tokens": 5, "total_tokens": 10 * n + 5},
        }

    @staticmethod
    def _chunks(reply: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The reply as streaming chunks (for ``stream: true`` requests)."""
        message = reply["choices"][0]["message"]
        base = {k: reply[k] for k in ("id", "created", "model")}
        base["object"] = "chat.completion.chunk"
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
        yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        finish = reply["choices"][0]["finish_reason"]
        yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": stub.model}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                problems = stub.check(body)
                if problems:
                    stub.errors.extend(problems)
                    with stub._lock:
                        stub.requests.append(body)
                    message = "; ".join(problems)
                    self._send(400, {"error": {"message": message, "type": "invalid_request"}})
                    return
                try:
                    reply = stub._reply(body)
                except IndexError as exc:
                    stub.errors.append(str(exc))
                    self._send(500, {"error": {"message": str(exc), "type": "server_error"}})
                    return
                if not body.get("stream"):
                    self._send(200, reply)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for chunk in stub._chunks(reply):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        return Handler
