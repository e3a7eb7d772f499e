"""Small helpers shared by the built-in checks (public API only)."""

from __future__ import annotations

from lyncready import CheckContext, Level
from lyncready.facts import Addresses, DnsAnswer, DnsQuery, DnsStatus

SIP_SRV = "_sipinternaltls._tcp.{domain}"
NTP_SRV = "_ntp._udp.{domain}"

SEED_ARTICLE = "http://blog.schertz.name/2010/12/configuring-lync-server-for-phone-edition-devices/"
CU7_STRICT_NAMING = "http://blog.schertz.name/2013/08/lync-phone-edition-cu7-registration-issues/"

DNS_FAILURE_TEXT = {
    DnsStatus.NXDOMAIN: "does not exist (NXDOMAIN)",
    DnsStatus.NODATA: "exists but has no record of that type (NODATA)",
    DnsStatus.TIMEOUT: "got no answer from the DNS server (timeout)",
    DnsStatus.SERVFAIL: "made the DNS server fail (SERVFAIL)",
    DnsStatus.REFUSED: "was refused by the DNS server (REFUSED)",
    DnsStatus.ERROR: "could not be looked up",
}


def dns_problem(name: str, rdtype: str, answer: DnsAnswer) -> str:
    text = f"{rdtype} {name} {DNS_FAILURE_TEXT.get(answer.status, answer.status.value)}"
    if answer.reason and answer.status not in (DnsStatus.NXDOMAIN, DnsStatus.NODATA):
        text += f": {answer.reason}"
    return text


def dns_tag(answer: DnsAnswer) -> str:
    return f"dns.{answer.status.value}"


async def addresses(ctx: CheckContext, name: str) -> DnsAnswer:
    return await ctx.fact(Addresses(name))


async def resolve_all(ctx: CheckContext, names: list[str]) -> dict[str, DnsAnswer]:
    answers = await ctx.facts(Addresses(n) for n in names)
    return dict(zip(names, answers, strict=True))


async def registrars(ctx: CheckContext, domains: tuple[str, ...]) -> list[str]:
    """The Registrar pool FQDNs the phones find: the _sipinternaltls targets of these SIP domains."""
    answers = await ctx.facts(DnsQuery(SIP_SRV.format(domain=d), "SRV") for d in domains)
    out: list[str] = []
    for answer in answers:
        for rec in answer.srv:
            if rec.target and rec.target not in out:
                out.append(rec.target)
    return out


def in_domain(name: str, domain: str) -> bool:
    name, domain = name.lower().rstrip("."), domain.lower().rstrip(".")
    return name == domain or name.endswith("." + domain)


def worst(levels: list[Level]) -> Level:
    return max(levels, key=lambda lv: lv.rank, default=Level.INFO)
