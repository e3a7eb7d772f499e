#!/usr/bin/env bash
# What an admin runs today to check one SIP domain by hand, with the standard tools:
# dig for the two SRV records, sntp (ntpsec's ntpdig) for the time server, curl for the anonymous
# HTTP CertProv download and the HTTPS WebTicket service. Usage: admin-domain.sh DOMAIN
# Environment: NS (DNS server, default 127.0.0.53), CA (PEM roots for curl), T (timeout, default 3 s).
# sntp and curl resolve the SRV targets through /etc/resolv.conf: run it only inside the benchmark's
# network namespace, whose resolv.conf names the lab DNS server 127.0.0.53 (run.py writes /etc/netns/<ns>/resolv.conf).
d=$1
ns=${NS:-127.0.0.53}
t=${T:-3}
sip=$(dig +short +time="$t" +tries=1 @"$ns" SRV "_sipinternaltls._tcp.$d" | awk 'NR == 1 { print $4 }')
ntp=$(dig +short +time="$t" +tries=1 @"$ns" SRV "_ntp._udp.$d" | awk 'NR == 1 { print $4 }')
sip=${sip%.}
ntp=${ntp%.}
echo "$d sip=${sip:-none} ntp=${ntp:-none}"
if [ -n "$ntp" ]; then
    sntp -t "$t" "$ntp" 2>&1 | tail -n 1
fi
if [ -n "$sip" ]; then
    curl -sS -o /dev/null --max-time "$t" -w "http %{http_code}\n" "http://$sip/CertProv/CertProvisioningService.svc"
    curl -sS -o /dev/null --max-time "$t" --cacert "${CA:?CA must name the lab root}" -w "https %{http_code}\n" \
        "https://$sip/WebTicket/WebTicketService.svc"
fi
