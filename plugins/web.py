"""Web checks: the phone's anonymous HTTP download of the root chain, then the HTTPS web services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

from lyncready import Check, CheckContext, Findings, Level, Outcome, Severity, Target, TargetKind, check, hookimpl
from lyncready.facts import ConnStatus, HttpQuery, HttpResponse

from ._common import SEED_ARTICLE, addresses, dns_problem

CERTPROV = "/CertProv/CertProvisioningService.svc"
WEBTICKET = "/WebTicket/WebTicketService.svc"
DEFAULT_PORTS = {"http": 80, "https": 443}


def _response_evidence(r: HttpResponse) -> dict[str, Any]:
    ev: dict[str, Any] = {"url": r.url, "address": r.address, "status": r.status.value}
    if r.code is not None:
        ev["code"] = r.code
        ev["reason_phrase"] = r.reason_phrase
        server = r.header("Server")
        if server:
            ev["server"] = server
        location = r.header("Location")
        if location:
            ev["location"] = location
        auth = r.header("WWW-Authenticate")
        if auth:
            ev["www_authenticate"] = auth
    if r.reason:
        ev["reason"] = r.reason
    ev["elapsed"] = round(r.elapsed, 4)
    return ev


async def _get_all(
    ctx: CheckContext, target: Target, scheme: str, port: int, paths: tuple[str, ...]
) -> tuple[list[HttpResponse], str]:
    answer = await addresses(ctx, target.name)
    if not answer.ok:
        return [], dns_problem(target.name, "A", answer)
    keys = [HttpQuery(scheme, a, port, target.name, p) for a in answer.addresses for p in paths]
    return await ctx.facts(keys), ""


def _url_key(url: SplitResult) -> tuple[str, str, int | None, str, str]:
    scheme = url.scheme.lower()
    return scheme, (url.hostname or "").lower(), url.port or DEFAULT_PORTS.get(scheme), url.path or "/", url.query


def redirects_to_itself(r: HttpResponse) -> bool:
    """Does the Location header name the URL that was asked (a loop no client gets out of)?"""
    location = (r.header("Location") or "").strip()
    if not location:
        return False
    try:
        return _url_key(urlsplit(r.url)) == _url_key(urlsplit(urljoin(r.url, location)))
    except ValueError:  # a Location that is no URL (a port out of range...) is no loop
        return False


CodeJudge = Callable[[Findings, HttpResponse, str, int], str]
"""Judges one HTTP status code: adds findings, returns a fix line or ""."""


async def _judge_web(
    ctx: CheckContext, target: Target, scheme: str, port: int, paths: tuple[str, ...], judge: CodeJudge
) -> tuple[Findings, dict[str, Any], str] | Outcome:
    """GET every path on every address; connection failures are judged here, status codes by ``judge``."""
    responses, why = await _get_all(ctx, target, scheme, port, paths)
    f = Findings()
    if why:
        f.add(f"{scheme}.unresolved", Level.FAIL, f"Web FQDN {target.name}: {why}", name=target.name)
        return f.outcome(f"{target.name} does not resolve", evidence={"origins": list(target.origins)})
    fix = ""
    for r in responses:
        where = f"GET {r.url} ({r.address})"
        if r.status is ConnStatus.OK and r.code is not None:
            fix = judge(f, r, where, r.code) or fix
            continue
        tag = {
            ConnStatus.REFUSED: "refused",
            ConnStatus.TIMEOUT: "timeout",
            ConnStatus.RESET: "reset",
            ConnStatus.TLS_ERROR: "tls_error",
            ConnStatus.PROTOCOL_ERROR: "not_http",
        }.get(r.status, "error")
        f.add(f"http.{tag}", Level.FAIL, f"{where}: {r.reason}", url=r.url, address=r.address)
        if r.status in (ConnStatus.REFUSED, ConnStatus.TIMEOUT, ConnStatus.RESET):
            fix = fix or f"permit tcp <phone VLAN> host {r.address} eq {port}"
    evidence = {"responses": [_response_evidence(r) for r in responses], "origins": list(target.origins)}
    return f, evidence, fix


@check(
    id="http_certprov_anonymous",
    title="Anonymous HTTP to the Certificate Provisioning service (TCP 80)",
    target_kind=TargetKind.WEB,
    severity=Severity.FAIL,
    description="""Before it trusts anything, a phone downloads the root certificate chain anonymously over plain
    HTTP from http://<web FQDN>/CertProv/CertProvisioningService.svc. A firewall or load balancer that passes
    only 443, or a web server that demands authentication (401/403) for that path, is the most common cause of
    failed PIN sign-in.""",
    remediation="""Allow TCP 80 from the phone VLANs to the web services (firewalls, and a port-80 virtual server
    on the hardware load balancer), and allow anonymous access to /CertProv/ on the internal web site.""",
    fix="permit tcp <phone VLAN> host <web services address> eq 80",
    references=(SEED_ARTICLE,),
)
async def http_certprov_anonymous(ctx: CheckContext, target: Target) -> Outcome:
    def judge(f: Findings, r: HttpResponse, where: str, code: int) -> str:
        args = {"code": code, "address": r.address}
        if code in (401, 403, 407):
            f.add(
                "http.auth_required",
                Level.FAIL,
                f"{where} answered {code} {r.reason_phrase}: phones download "
                "the root chain anonymously and are refused.",
                **args,
            )
            return f"Enable anonymous access to {CERTPROV} on {target.name} (IIS: the CertProv virtual directory)"
        if 200 <= code < 300 or code in (400, 405, 415):
            # a WCF service may answer a bare GET with 400/405/415: it is reachable and anonymous
            f.add("http.ok", Level.INFO, f"{where} answered {code} {r.reason_phrase}", **args)
        elif 300 <= code < 400 and redirects_to_itself(r):
            f.add(
                "http.redirect_loop",
                Level.FAIL,
                f"{where} redirects ({code}) to itself: a redirect loop, no phone ever gets the root chain.",
                **args,
            )
        elif 300 <= code < 400:
            f.add(
                "http.redirect",
                Level.WARN,
                f"{where} redirects ({code}) to {r.header('Location') or '?'}: the "
                "phone downloads the chain over plain HTTP and may not follow it.",
                **args,
            )
        elif code == 404:
            f.add(
                "http.not_found",
                Level.FAIL,
                f"{where} answered 404: this server does not host the Lync web "
                "services (wrong address, or a load balancer rule for another site).",
                **args,
            )
        else:
            f.add("http.server_error", Level.FAIL, f"{where} answered {code} {r.reason_phrase}", **args)
        return ""

    judged = await _judge_web(ctx, target, "http", ctx.options.ports.http, (CERTPROV,), judge)
    if isinstance(judged, Outcome):
        return judged
    f, evidence, fix = judged
    ok = sum(1 for fd in f.findings if fd.tag == "http.ok")
    if f.worst is Level.INFO:
        return f.outcome(f"http://{target.name}{CERTPROV} answers anonymously on {ok} address(es)", evidence=evidence)
    return f.outcome(
        f"http://{target.name}{CERTPROV}: phones cannot download the root chain", evidence=evidence, fix=fix
    )


@check(
    id="https_web_services",
    title="HTTPS web services answer on TCP 443",
    target_kind=TargetKind.WEB,
    severity=Severity.FAIL,
    description="""After the root chain, the phone connects over TLS to /WebTicket/WebTicketService.svc and
    /CertProv/CertProvisioningService.svc on port 443 for PIN authentication. Both must answer (an
    authentication challenge, 401, is expected and fine). Certificate problems are judged by the tls_* checks.""",
    remediation="""Allow TCP 443 from the phone VLANs to the web services and make sure the load balancer or reverse
    proxy forwards both paths to the internal web site of the Front End pool.""",
    fix="permit tcp <phone VLAN> host <web services address> eq 443",
    references=(SEED_ARTICLE,),
)
async def https_web_services(ctx: CheckContext, target: Target) -> Outcome:
    def judge(f: Findings, r: HttpResponse, where: str, code: int) -> str:
        args = {"code": code, "address": r.address}
        if 200 <= code < 300 or code in (400, 401, 405, 415):
            note = " (authentication challenge, as expected)" if code == 401 else ""
            f.add("https.ok", Level.INFO, f"{where} answered {code} {r.reason_phrase}{note}", **args)
        elif 300 <= code < 400 and redirects_to_itself(r):
            f.add("https.redirect_loop", Level.FAIL, f"{where} redirects ({code}) to itself: a redirect loop", **args)
        elif 300 <= code < 400:
            f.add("https.redirect", Level.WARN, f"{where} redirects ({code}) to {r.header('Location') or '?'}", **args)
        elif code == 403:
            f.add(
                "https.forbidden",
                Level.FAIL,
                f"{where} answered 403: the phones are refused (IP restriction or a client certificate requirement?)",
                **args,
            )
        elif code == 404:
            f.add("https.not_found", Level.FAIL, f"{where} answered 404: not the Lync internal web site", **args)
        else:
            f.add("https.server_error", Level.FAIL, f"{where} answered {code} {r.reason_phrase}", **args)
        return ""

    judged = await _judge_web(ctx, target, "https", ctx.options.ports.https, (CERTPROV, WEBTICKET), judge)
    if isinstance(judged, Outcome):
        return judged
    f, evidence, fix = judged
    if f.worst is Level.INFO:
        n = len({r["address"] for r in evidence["responses"]})
        return f.outcome(
            f"https://{target.name} answers for WebTicket and CertProv on {n} address(es)", evidence=evidence
        )
    return f.outcome(f"https://{target.name}: web services not reachable as phones need", evidence=evidence, fix=fix)


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    register(http_certprov_anonymous)
    register(https_web_services)
