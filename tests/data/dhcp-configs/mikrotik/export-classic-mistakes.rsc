# nov/28/2025 10:12:31 by RouterOS 7.16.1
#
/ip dhcp-server option
add code=120 name=sip-server value="'lync.contoso.com'"
add code=119 name=search value="'contoso.com;corp.contoso.com'"
add code=43 name=lync-43 value="0x010c'MS-UC-Client'0x0205'https'0x0310'lync.contoso.com'0x0403'443'0x0525'/CertProv/CertProvisioningService.svc'"
/ip dhcp-server option sets
add name=phones options=sip-server,search
add name=lync options=sip-server,search,lync-43
/ip dhcp-server network
add address=10.1.20.0/24 dhcp-option-set=phones dns-server=10.0.0.53 gateway=10.1.20.1
/ip dhcp-server matcher
add code=60 name=lync option-set=lync server=dhcp-vlan20 value=MSUCClient
