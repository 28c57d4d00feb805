"""A stand-in for the Hugging Face Hub on the loopback interface: exactly the endpoints
huggingface_hub calls for what zoo asks of it, serving real files from folders.

- GET /api/models/{org}/{name}[/revision/{rev}]: the model info (sha, siblings);
- HEAD and GET /{org}/{name}/resolve/{rev}/{path}: a file, with ETag, X-Repo-Commit,
  Content-Length and Range support (206 with Content-Range);
- 404 with X-Error-Code RepoNotFound or EntryNotFound, as the Hub says them.

Every request is logged with the bytes of file content it sent, so a test can check that a
repo's weights were never downloaded, only their headers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"
RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class Hub:
    repos: dict[str, Path] = field(default_factory=dict)  # repo id -> folder of its files
    log: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, bytes)
    server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def files(self, repo: str) -> list[str]:
        root = self.repos[repo]
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    def sent(self, suffix: str) -> int:
        """Bytes of file content sent for paths ending in `suffix`."""
        return sum(n for _, path, n in self.log if path.endswith(suffix))


def handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self.answer(send_body=True)

        def do_HEAD(self) -> None:
            self.answer(send_body=False)

        def fail(self, code: str) -> None:
            body = json.dumps({"error": code}).encode()
            hub.log.append((self.command, self.path, 0))
            self.send_response(404)
            self.send_header("X-Error-Code", code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)

        def answer(self, send_body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            api = re.match(r"^/api/models/([^/]+/[^/]+?)(?:/revision/([^/]+))?$", path)
            if api:
                repo = api.group(1)
                if repo not in hub.repos:
                    return self.fail("RepoNotFound")
                body = json.dumps({"id": repo, "modelId": repo, "sha": COMMIT, "private": False,
                                   "siblings": [{"rfilename": f} for f in hub.files(repo)],
                                   "tags": [], "downloads": 0, "likes": 0}).encode()
                hub.log.append((self.command, path, 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)
                return None
            resolve = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
            if not resolve:
                return self.fail("RepoNotFound")
            repo, _, name = resolve.groups()
            if repo not in hub.repos:
                return self.fail("RepoNotFound")
            file = hub.repos[repo] / name
            if not file.is_file() or ".." in Path(name).parts:
                return self.fail("EntryNotFound")
            data = file.read_bytes()
            start, end, status = 0, len(data) - 1, 200
            asked = self.headers.get("Range")
            if asked and RANGE.match(asked):
                first, last = RANGE.match(asked).groups()  # type: ignore[union-attr]
                start = int(first)
                end = min(int(last), len(data) - 1) if last else len(data) - 1
                status = 206
            body = data[start:end + 1]
            # logged before it is sent: a client that has the bytes finds the entry
            hub.log.append((self.command, path, len(body) if send_body else 0))
            self.send_response(status)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()
            if send_body:  # a client that read the first bytes it wanted may hang up
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)
            return None

    return Handler


def start(hub: Hub) -> Hub:
    hub.server = ThreadingHTTPServer(("127.0.0.1", 0), handler(hub))
    threading.Thread(target=hub.server.serve_forever, daemon=True).start()
    return hub


def stop(hub: Hub) -> None:
    if hub.server is not None:
        hub.server.shutdown()
        hub.server.server_close()
