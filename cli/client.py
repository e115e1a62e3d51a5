"""A framecast frontend over HTTP, as the command uses it: every non-2xx answer becomes a
ServerError carrying the server's message and the field it names."""

from __future__ import annotations

import json
import mimetypes
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse


class ServerError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def __str__(self) -> str:
        field = f" (field: {self.param})" if self.param else ""
        return f"{self.message}{field}"


def _raise_for_error(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        raise ServerError(response.status_code, error.get("message") or response.reason_phrase, error.get("param"), error.get("code"))
    except (ValueError, KeyError, TypeError):
        raise ServerError(response.status_code, f"{response.status_code} {response.reason_phrase}: {response.text[:200]}") from None


class Frontend:
    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = 60.0):
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ServerError(0, f"cannot reach {self.http.base_url}: {error}") from None
        _raise_for_error(response)
        return response.json()

    def models(self) -> list[dict]:
        return self._json("GET", "/v1/models")["data"]

    def create_video(self, fields: dict[str, Any], image: str | None = None) -> dict:
        """A new job. `image`: a local file (uploaded), or an http(s) or data: URL."""
        if image is None or image.startswith(("http://", "https://", "data:")):
            body = fields | ({"input_reference": image} if image else {})
            return self._json("POST", "/v1/videos", json=body)
        path = Path(image)
        if not path.is_file():
            raise ServerError(0, f"--image {image}: no such file", "input_reference")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        # Lists and objects (lora, nvext) travel as JSON text, which the frontend reads back.
        form = {key: (None, json.dumps(value) if isinstance(value, (list, dict)) else str(value)) for key, value in fields.items()}
        with path.open("rb") as handle:
            return self._json("POST", "/v1/videos", files=form | {"input_reference": (path.name, handle, content_type)})

    def remix(self, video_id: str, fields: dict) -> dict:
        return self._json("POST", f"/v1/videos/{video_id}/remix", json=fields)

    def video(self, video_id: str) -> dict:
        return self._json("GET", f"/v1/videos/{video_id}")

    def videos(self, limit: int = 20) -> list[dict]:
        return self._json("GET", "/v1/videos", params={"limit": limit})["data"]

    def delete(self, video_id: str) -> dict:
        return self._json("DELETE", f"/v1/videos/{video_id}")

    def follow(self, video_id: str) -> Iterator[dict]:
        """The video object at every change, until it completes, fails or is deleted."""
        import json

        with connect_sse(self.http, "GET", f"/v1/videos/{video_id}/events", timeout=httpx.Timeout(60, read=None)) as source:
            _raise_for_error(source.response)
            for event in source.iter_sse():
                if event.event == "deleted":
                    return
                yield json.loads(event.data)

    def watch(self, video_id: str) -> Iterator[dict]:
        """follow(), read in another thread: the caller's thread only waits on a queue, where
        Ctrl-C always reaches it (a read blocked deep in the HTTP stack may not give way)."""
        updates: queue.Queue = queue.Queue()

        def pump() -> None:
            try:
                for video in self.follow(video_id):
                    updates.put(video)
                updates.put(None)
            except Exception as error:  # handed to the caller's thread
                updates.put(error)

        threading.Thread(target=pump, name=f"follow {video_id}", daemon=True).start()
        while True:
            try:
                item = updates.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    def download(self, video_id: str, path: Path, variant: str = "video") -> int:
        """The stored output written to `path` (through a partial file); its size."""
        partial = path.with_name(path.name + ".partial")
        params = {} if variant == "video" else {"variant": variant}
        with self.http.stream("GET", f"/v1/videos/{video_id}/content", params=params) as response:
            if not response.is_success:
                response.read()
                _raise_for_error(response)
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        partial.replace(path)
        return path.stat().st_size

    def images(self, fields: dict[str, Any]) -> dict:
        return self._json("POST", "/v1/images/generations", json=fields | {"response_format": "b64_json"}, timeout=None)
