@echo off
REM DHCPUtil-style configuration, then a second scope added by hand later on.
netsh dhcp server add class MSUCClient "UC Vendor Class Id" "MS-UC-Client" 1
netsh dhcp server add optiondef 1 UCIdentifier Binary 0 vendor=MSUCClient comment="UC Identifier"
netsh dhcp server add optiondef 2 URLScheme Binary 0 vendor=MSUCClient comment="URL Scheme"
netsh dhcp server add optiondef 3 WebServerFqdn Binary 0 vendor=MSUCClient comment="Web Server Fqdn"
netsh dhcp server add optiondef 4 WebServerPort Binary 0 vendor=MSUCClient comment="Web Server Port"
netsh dhcp server add optiondef 5 CertProvRelPath Binary 0 vendor=MSUCClient comment="Cert Prov Relative Path"
netsh dhcp server add optiondef 120 UCSipServer Binary 0 comment="Sip Server Fqdn"
netsh dhcp server set optionvalue 120 Binary 00046C796E6307636F6E746F736F03636F6D00
netsh dhcp server set optionvalue 1 Binary vendor=MSUCClient 4D532D55432D436C69656E74
netsh dhcp server set optionvalue 2 Binary vendor=MSUCClient 6874747073
netsh dhcp server set optionvalue 3 Binary vendor=MSUCClient 6C796E632E636F6E746F736F2E636F6D
netsh dhcp server set optionvalue 4 Binary vendor=MSUCClient 343433
netsh dhcp server set optionvalue 5 Binary vendor=MSUCClient 2F4365727450726F762F4365727450726F766973696F6E696E67536572766963652E737663
netsh dhcp server set optionvalue 042 IPADDRESS 10.0.0.1 10.0.0.2

REM scope 10.1.30.0: another pool by mistake, and the web FQDN typed with the class data as vendor name
netsh dhcp server scope 10.1.30.0 set optionvalue 120 Binary 0005706F6F6C3207636F6E746F736F03636F6D00
netsh dhcp server scope 10.1.30.0 set optionvalue 3 Binary vendor=MS-UC-Client 6C796E637765622E636F6E746F736F2E636F6D
