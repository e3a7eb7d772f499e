# RouterOS 6: no matcher, option 43 in the network's option set
/ip dhcp-server option
add code=120 name=lync-sip value=0x00046c796e6307636f6e746f736f03636f6d00
add code=43 name=lync-43 value=0x010c4d532d55432d436c69656e740205687474707303106c796e632e636f6e746f736f2e636f6d040334343305252f4365727450726f762f4365727450726f766973696f6e696e67536572766963652e737663
add code=42 name=ntp value="'10.0.0.1''10.0.0.2'"
/ip dhcp-server option sets
add name=phones options=lync-sip,lync-43,ntp
/ip dhcp-server network
add address=10.1.20.0/24 dhcp-option-set=phones gateway=10.1.20.1 \
    dns-server=10.0.0.53
