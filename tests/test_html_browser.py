"""The HTML report in a real browser: headless Chromium opens a report full of hostile strings from the network,
shows them as text, runs none of them, fetches nothing, and still runs the page's own filter script.

How "nothing ran" is proven:

* every payload, if it ran, would leave a mark in the DOM: ``document.title = "PWNED"`` and an element
  ``<pwned id="pwned">``; ``--dump-dom`` prints the DOM after the page's scripts ran, and neither mark is there;
* every payload that could fetch points at a canary HTTP server on 127.0.0.1, which must see no request at all;
* the DOM holds exactly one ``<script>`` (the page's own, no ``src``), no ``<img>``/``<link>``/``<iframe>``/``<svg>``,
  no ``on*`` attribute and no link but ``#fragment`` ones, while the payloads are there as text;
* the page's own script did run (it sets ``data-filters="ready"`` on ``<body>`` and writes "Showing N of N
  results."), so a page whose scripts never run could not pass;
* a second page, with the payloads pasted in raw (as if escaping had failed), shows that the
  Content-Security-Policy alone still stops them, and a third, the same without the policy, shows that
  this test does see a payload that runs and a fetch that happens.

Chromium is the Debian package ``chromium`` (``scripts/setup`` installs it); the test skips without it, and
fails under ``CI=true``.
"""

from __future__ import annotations

import dataclasses
import http.server
import os
import re
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from realservers import require_binary

from lyncready.history import mark_changes
from lyncready.model import CheckMeta, Finding, Level, Report, Result, Severity, Status, Target, TargetKind
from lyncready.report.html import render_html

MARK = "PWNED"
# what each payload does if it runs: both leave a mark --dump-dom shows
PWN = "window.__pwned=1;document.title='PWNED';document.body.appendChild(document.createElement('pwned')).id='pwned'"
BROWSER_TIMEOUT = 60.0


# -- the canary: any request here is a fetch the report must never make ------------------------------------


@dataclass
class Canary:
    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def canary() -> Iterator[Canary]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b"document.title='PWNED'"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Canary(f"http://127.0.0.1:{server.server_address[1]}", hits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- a report full of hostile strings -----------------------------------------------------------------------


def hostile_report(canary: str) -> tuple[Report, dict[Any, Any]]:
    script = f"<script>{PWN}</script>"
    img = f'<img src=x onerror="{PWN}">'
    option43 = f"\x01\x10https://pool.contoso.test/{script}\x02\x04{img}"
    check = CheckMeta(
        id="dhcp_option43",
        title=f"DHCP option 43 carries the provisioning URL {img}",
        target_kind=TargetKind.DHCP,
        severity=Severity.FAIL,
        description="The phone finds its certificate provisioning service through option 43.",
        remediation=f'Set option 43 on the scope. <a href="javascript:{PWN}">more</a>',
        references=(f"{canary}/ref", f'<a href="{canary}/a">docs</a>'),
    )
    web = CheckMeta(
        id="web_http80",
        title="Certificate provisioning answers over plain HTTP",
        target_kind=TargetKind.WEB,
        severity=Severity.FAIL,
        description="The phone downloads the root chain anonymously over HTTP 80.",
        remediation="Open TCP 80 on the load balancer to the web services.",
    )
    results = (
        Result(
            check_id="dhcp_option43",
            target="<script>window.__pwned=1</script>",
            target_kind=TargetKind.DHCP,
            status=Status.FAIL,
            summary=f'option 43 points at <a href="javascript:{PWN}">javascript:{PWN}</a>',
            findings=(
                Finding("option43_url_invalid", Level.FAIL, f"option 43 sub-option 1 is {option43!r} {script}", {}),
                Finding("option43_text", Level.INFO, f'<iframe src="{canary}/iframe"></iframe>{script}', {}),
            ),
            evidence={
                "option_43": option43,
                "img": img,
                "svg": f'<svg onload="{PWN}"><use href="{canary}/svg"/></svg>',
                "remote": f'<img src="{canary}/img"><link rel="stylesheet" href="{canary}/css">',
                "script_src": f'<script src="{canary}/js"></script>',
                "breakout": f"</pre></details></td></tr></tbody></table>{script}",
                "style": f"<style>body{{background:url({canary}/bg)}}</style>",
                "meta": f'<meta http-equiv="refresh" content="0;url={canary}/refresh">',
            },
            fix=f"</code></pre>{script}\noption 43 = 01:10:...",
            origins=(f"DHCP option 43 {script}",),
            site=f'HQ <svg onload="{PWN}">',
            muted="",
        ),
        Result(
            check_id="web_http80",
            target=f"pool.contoso.test:80{img}",
            target_kind=TargetKind.WEB,
            status=Status.FAIL,
            summary="HTTP 404 for /CertProv/CertProvisioningService.svc",
            evidence={"status": 404, "body": f'<html><body onload="{PWN}">{script}</body></html>'},
            site=f'HQ <svg onload="{PWN}">',
            muted=f"accepted until the new load balancer {script}",
        ),
        Result(
            check_id="dhcp_option43",
            target="eth0 INFORM",
            target_kind=TargetKind.DHCP,
            status=Status.PASS,
            summary="option 43 points at https://pool.contoso.test/CertProv",
            site="Branch",
        ),
        Result(
            check_id="web_http80",
            target="pool.contoso.test:80",
            target_kind=TargetKind.WEB,
            status=Status.WARN,
            summary=f'slow answer <form action="{canary}/form"><button>go</button></form>',
            site="Branch",
        ),
    )
    report = Report(
        tool_version="0.1.0",
        started_at="2024-05-01T10:00:00+00:00",
        finished_at="2024-05-01T10:00:03+00:00",
        duration=3.0,
        arguments={"domains": [f"</title>{script}contoso.test"], "nameservers": ["10.0.0.5"]},
        plugins=(),
        checks=(check, web),
        targets=(Target(TargetKind.WEB, f"pool.contoso.test{script}", 443, origins=(f"DHCP option 43 {img}",)),),
        results=results,
        notes=(f'<base href="{canary}/">', f'<object data="{canary}/object"></object>'),
    )
    # the last run: the option 43 failure was a pass (so it regressed), the Branch warning was not there (new)
    before = (dataclasses.replace(results[0], status=Status.PASS), results[1], results[2])
    return report, dict(mark_changes(report, dataclasses.replace(report, results=before)))


# -- the browser ---------------------------------------------------------------------------------------------


def chromium(binary: str, tmp: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    args = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *extra,
        url,
    ]
    env = {**os.environ, "HOME": str(tmp)}  # nothing written to the real home (crash reports, caches)
    proc = subprocess.run(args, capture_output=True, text=True, timeout=BROWSER_TIMEOUT, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@dataclass
class Dom:
    """What --dump-dom printed: every element with its attributes, the text, the title, the scripts."""

    elements: list[tuple[str, dict[str, str]]]
    text: str
    title: str
    scripts: list[str]

    def find(self, tag: str) -> list[dict[str, str]]:
        return [attrs for t, attrs in self.elements if t == tag]

    def by_id(self, element_id: str) -> list[str]:
        return [t for t, attrs in self.elements if attrs.get("id") == element_id]


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.title: list[str] = []
        self.scripts: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        if tag == "script":
            self.scripts.append("")
        self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            while self.open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        current = self.open[-1] if self.open else ""
        if current == "script":
            self.scripts[-1] += data
        elif current == "title":
            self.title.append(data)
        else:
            self.text.append(data)


def dump_dom(binary: str, tmp: Path, page: Path) -> Dom:
    proc = chromium(binary, tmp, page.as_uri(), "--dump-dom")
    assert proc.stdout.lstrip().startswith("<!DOCTYPE html>"), proc.stdout[:200]
    parser = _Parser()
    parser.feed(proc.stdout)
    parser.close()
    return Dom(parser.elements, "".join(parser.text), "".join(parser.title), parser.scripts)


def png_info(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values of the decoded pixels (1-2 for a blank page)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return size[0], size[1], len(set(zlib.decompress(idat)))


def own_script(page: str) -> str:
    m = re.search(r"<script>(.*?)</script>\n</body>", page, re.S)
    assert m is not None
    return m.group(1)


def assert_nothing_ran(dom: Dom) -> None:
    assert dom.title != MARK  # a payload that ran sets the title to exactly this (the page shows it as text)
    assert not dom.by_id("pwned") and not dom.find("pwned")


def assert_own_script_ran(dom: Dom, results: int) -> None:
    body = dom.find("body")
    assert len(body) == 1 and body[0].get("data-filters") == "ready", body
    assert "js" in dom.find("html")[0].get("class", "").split()
    assert f"Showing {results} of {results} results." in dom.text


# -- the tests -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> str:
    return require_binary("chromium")


def test_hostile_strings_are_shown_never_run_and_nothing_is_fetched(
    browser: str, canary: Canary, tmp_path: Path
) -> None:
    report, changes = hostile_report(canary.url)
    page = render_html(report, changes)
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")

    dom = dump_dom(browser, tmp_path, path)

    # nothing ran: no mark of any payload, and the page's own script is the only script
    assert_nothing_ran(dom)
    assert dom.scripts == [own_script(page)]
    assert all("src" not in attrs for attrs in dom.find("script"))
    for tag in ("img", "link", "iframe", "svg", "object", "embed", "base", "form", "style", "meta"):
        found = dom.find(tag)
        if tag == "style":
            assert len(found) == 1  # the page's own
        elif tag == "meta":
            assert all(a.get("http-equiv", "").lower() != "refresh" for a in found)
        else:
            assert found == [], tag
    for tag, attrs in dom.elements:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        assert not any("javascript:" in v.lower() for v in attrs.values()), (tag, attrs)
        if "href" in attrs:
            assert tag == "a" and attrs["href"].startswith("#"), (tag, attrs)
    assert dom.find("a"), "the matrix and the changes link to the results"
    # ... while every payload is on the page, as text
    for text in (
        "<script>window.__pwned=1</script>",  # the target
        f'<img src=x onerror="{PWN}">',  # evidence (in the JSON dump: quotes escaped)
        f"javascript:{PWN}",  # the summary
        f"DHCP option 43 <script>{PWN}</script>",  # the origin of a target from option 43
        f"accepted until the new load balancer <script>{PWN}</script>",  # a mute reason
        f"</code></pre><script>{PWN}</script>",  # the fix line
    ):
        assert text.replace('"', '\\"') in dom.text or text in dom.text, text
    assert dom.title == f"lyncready report: </title><script>{PWN}</script>contoso.test"
    # the page's own script did run
    assert_own_script_ran(dom, len(report.results))

    # the screenshot a person would see
    shot = tmp_path / "report.png"
    proc = chromium(browser, tmp_path, path.as_uri(), f"--screenshot={shot}", "--window-size=1280,2000")
    data = shot.read_bytes()
    width, height, colours = png_info(data)
    assert (width, height) == (1280, 2000), proc.stderr[-500:]
    assert len(data) > 10_000 and colours > 20  # not a blank page

    assert canary.hits == []  # neither run fetched anything


def test_the_policy_alone_stops_an_injection_that_escaped_escaping(
    browser: str, canary: Canary, tmp_path: Path
) -> None:
    report, changes = hostile_report(canary.url)
    page = render_html(report, changes)
    injected = (
        f"<script>{PWN}</script>"
        f'<img src="{canary.url}/img" onerror="{PWN}">'
        f'<link rel="stylesheet" href="{canary.url}/css">'
        f'<script src="{canary.url}/js"></script>'
        f'<iframe src="{canary.url}/iframe"></iframe>'
        f'<div style="background:url({canary.url}/bg)">x</div>'
    )
    assert page.count("<body>") == 1
    raw = page.replace("<body>", "<body>" + injected)
    guarded = tmp_path / "guarded.html"
    guarded.write_text(raw, encoding="utf-8")

    dom = dump_dom(browser, tmp_path, guarded)
    assert_nothing_ran(dom)
    assert_own_script_ran(dom, len(report.results))
    assert canary.hits == []

    # the same page without its policy: the payloads run and fetch, and this test sees it
    policy = re.compile(r'<meta http-equiv="Content-Security-Policy" content="[^"]*">\n')
    assert len(policy.findall(raw)) == 1
    exposed = tmp_path / "exposed.html"
    exposed.write_text(policy.sub("", raw), encoding="utf-8")
    dom = dump_dom(browser, tmp_path, exposed)
    assert dom.title == MARK and dom.by_id("pwned")
    assert_own_script_ran(dom, len(report.results))
    assert {"/img", "/css", "/js"} <= set(canary.hits), canary.hits
