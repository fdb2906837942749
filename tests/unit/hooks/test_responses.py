"""Reading a vendor's response: the size cap (declared or streamed), and a non-JSON body in words."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_credits.exceptions import CreditsResponseError
from airflow_provider_credits.hooks.responses import (
    ApiResponse,
    ResponseTooLarge,
    aread_capped,
    describe_non_json,
    read_capped,
)
from tests.support.vendor_api import invoke


def chunks() -> list[bytes]:
    return [b'{"remainingCredits": 1, "pad": "', b"x" * 600, b'"}']


OVERSIZE = {
    "declared-content-length": lambda request: httpx.Response(200, content=b"{" + b" " * 600 + b"}"),
    "chunked-stream": lambda request: httpx.Response(200, stream=httpx.ByteStream(b"".join(chunks()))),
}


@pytest.mark.parametrize("respond", list(OVERSIZE.values()), ids=list(OVERSIZE))
def test_oversize_body_is_a_response_error(mode, api, make_hook, clock, respond):
    route = api.get("/api/v1/credits").mock(side_effect=respond)

    with pytest.raises(CreditsResponseError, match=r"exceeds the 500 .*cap"):
        invoke(mode, make_hook("clodura", max_response_bytes=500), "get_balance")

    assert route.call_count == 1


def streamed(content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """A response whose body is read chunk by chunk, as a hook's streamed request gives it."""
    parts = [content[i : i + 7] for i in range(0, len(content), 7)]
    return httpx.Response(200, headers=headers, stream=httpx.ByteStream(b"".join(parts)))


def test_read_capped_returns_the_whole_body_up_to_the_cap_and_closes_the_response() -> None:
    response = streamed(b'{"remaining": 12}', {"X-Credits": "12"})

    answer = read_capped(response, cap=17)

    assert (answer.status, answer.content, answer.headers["X-Credits"]) == (200, b'{"remaining": 12}', "12")
    assert response.is_closed


@pytest.mark.parametrize(
    ("response", "words"),
    [
        (httpx.Response(200, headers={"Content-Length": "18"}, content=b"x" * 18), "response of 18 bytes"),
        (streamed(b"x" * 18), "response body exceeds the 17 byte cap"),
    ],
    ids=["declared", "read"],
)
def test_read_capped_refuses_a_body_over_the_cap(response: httpx.Response, words: str) -> None:
    with pytest.raises(ResponseTooLarge, match=words):
        read_capped(response, cap=17)
    assert response.is_closed


async def test_aread_capped_reads_and_caps_like_the_sync_path() -> None:
    answer = await aread_capped(httpx.Response(200, stream=httpx.ByteStream(b"[1, 2]")), cap=6)
    assert answer.content == b"[1, 2]"

    too_long = httpx.Response(200, stream=httpx.ByteStream(b"[1, 2, 3]"))
    with pytest.raises(ResponseTooLarge):
        await aread_capped(too_long, cap=6)
    assert too_long.is_closed


@pytest.mark.parametrize(
    ("content", "headers", "described"),
    [
        (
            b"<html><title> Just a moment </title></html>",
            {},
            "an HTML page instead of JSON (title: 'Just a moment')",
        ),
        (b"<p>no title</p>", {"Content-Type": "text/html"}, "an HTML page instead of JSON (title: 'none')"),
        (b"upstream timed out", {}, "a non-JSON body: 'upstream timed out'"),
        (b"\xff" + b"y" * 300, {}, "a non-JSON body: '\ufffd" + "y" * 199 + "'"),
    ],
    ids=["html-title", "html-by-content-type", "plain-text", "cut-and-undecodable"],
)
def test_describe_non_json_names_an_html_page_by_its_title_else_quotes_the_start(
    content: bytes, headers: dict[str, str], described: str
) -> None:
    assert describe_non_json(ApiResponse(502, httpx.Headers(headers), content)) == described
