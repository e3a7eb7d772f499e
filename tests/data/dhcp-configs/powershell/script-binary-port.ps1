# DHCPUtil-style class, but the port sub-option defined as a Word and option 42 missing
Add-DhcpServerv4Class -Name "MSUCClient" -Type Vendor -Data "MS-UC-Client"
Add-DhcpServerv4OptionDefinition -Name "UCIdentifier" -OptionId 1 -Type BinaryData -VendorClass "MSUCClient"
Add-DhcpServerv4OptionDefinition -Name "URLScheme" -OptionId 2 -Type BinaryData -VendorClass "MSUCClient"
Add-DhcpServerv4OptionDefinition -Name "WebServerFqdn" -OptionId 3 -Type BinaryData -VendorClass "MSUCClient"
Add-DhcpServerv4OptionDefinition -Name "WebServerPort" -OptionId 4 -Type Word -VendorClass "MSUCClient"
Add-DhcpServerv4OptionDefinition -Name "CertProvRelPath" -OptionId 5 -Type BinaryData -VendorClass "MSUCClient"
Add-DhcpServerv4OptionDefinition -Name "UCSipServer" -OptionId 120 -Type BinaryData
Add-DhcpServerv4Scope -Name "Phones VLAN 20" -StartRange 10.1.20.100 -EndRange 10.1.20.199 -SubnetMask 255.255.255.0
Set-DhcpServerv4OptionValue -ScopeId 10.1.20.0 -OptionId 120 -Value 0x00,0x04,0x6C,0x79,0x6E,0x63,0x07,0x63,0x6F,0x6E,0x74,0x6F,0x73,0x6F,0x03,0x63,0x6F,0x6D,0x00
Set-DhcpServerv4OptionValue -ScopeId 10.1.20.0 -VendorClass "MSUCClient" -OptionId 1 -Value ([System.Text.Encoding]::ASCII.GetBytes("MS-UC-Client"))
Set-DhcpServerv4OptionValue -ScopeId 10.1.20.0 -VendorClass "MSUCClient" -OptionId 2 -Value ([System.Text.Encoding]::ASCII.GetBytes("https"))
Set-DhcpServerv4OptionValue -ScopeId 10.1.20.0 -VendorClass "MSUCClient" -OptionId 3 -Value ([System.Text.Encoding]::ASCII.GetBytes("lync.contoso.com"))
Set-DhcpServerv4OptionValue -ScopeId 10.1.20.0 -VendorClass "MSUCClient" -OptionId 4 -Value 443
Set-DhcpServerv4OptionValue -ScopeId 10.1.20.0 -VendorClass "MSUCClient" -OptionId 5 -Value ([System.Text.Encoding]::ASCII.GetBytes("/CertProv/CertProvisioningService.svc"))
