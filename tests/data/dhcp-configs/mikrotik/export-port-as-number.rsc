# RouterOS 7 with a matcher; option 43 typed as text pieces, and the port became a number
/ip dhcp-server option
add code=120 name=lync-sip value=0x00046c796e6307636f6e746f736f03636f6d00
add code=43 name=lync-43 value="0x010c'MS-UC-Client'0x0205'https'0x0310'lync.contoso.com'0x0403'443'0x0525'/CertProv/CertProvisioningService.svc'"
add code=42 name=ntp value="'10.0.0.1'"
/ip dhcp-server option sets
add name=phones options=lync-sip,ntp
add name=lync options=lync-sip,ntp,lync-43
/ip dhcp-server network
add address=10.1.20.0/24 dhcp-option-set=phones gateway=10.1.20.1
/ip dhcp-server matcher
add code=60 name=lync option-set=lync server=dhcp-vlan20 value="MS-UC-Client"
