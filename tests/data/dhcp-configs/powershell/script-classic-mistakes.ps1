# Lync phones, set up by hand on DHCP01 (Windows Server 2016)
# The vendor class: name and data swapped, as in Microsoft's own Add-DhcpServerv4OptionDefinition example
Add-DhcpServerv4Class -Name "MS-UC-Client" -Type Vendor -Data "MSUCClient" -Description "UC Vendor Class Id"
Add-DhcpServerv4OptionDefinition -Name "UCIdentifier" -OptionId 1 -Type BinaryData -VendorClass "MS-UC-Client"
Add-DhcpServerv4OptionDefinition -Name "URLScheme" -OptionId 2 -Type BinaryData -VendorClass "MS-UC-Client"
Add-DhcpServerv4OptionDefinition -Name "WebServerFqdn" -OptionId 3 -Type BinaryData -VendorClass "MS-UC-Client"
Add-DhcpServerv4OptionDefinition -Name "WebServerPort" -OptionId 4 -Type BinaryData -VendorClass "MS-UC-Client"
Add-DhcpServerv4OptionDefinition -Name "CertProvRelPath" -OptionId 5 -Type BinaryData -VendorClass "MS-UC-Client"
Add-DhcpServerv4OptionDefinition -Name "SIP Server" -OptionId 120 -Type String
Add-DhcpServerv4OptionDefinition -Name "DNS Search List" -OptionId 119 -Type String

Set-DhcpServerv4OptionValue -OptionId 120 -Value "lync.contoso.com"
Set-DhcpServerv4OptionValue -OptionId 119 -Value "contoso.com;corp.contoso.com"
Set-DhcpServerv4OptionValue -VendorClass "MS-UC-Client" -OptionId 1 `
    -Value ([System.Text.Encoding]::ASCII.GetBytes("MS-UC-Client"))
Set-DhcpServerv4OptionValue -VendorClass "MS-UC-Client" -OptionId 2 -Value ([System.Text.Encoding]::ASCII.GetBytes("https"))
Set-DhcpServerv4OptionValue -VendorClass "MS-UC-Client" -OptionId 3 -Value ([System.Text.Encoding]::ASCII.GetBytes("lync.contoso.com"))
Set-DhcpServerv4OptionValue -VendorClass "MS-UC-Client" -OptionId 4 -Value ([System.Text.Encoding]::ASCII.GetBytes("443"))
Set-DhcpServerv4OptionValue -VendorClass "MS-UC-Client" -OptionId 5 -Value ([System.Text.Encoding]::ASCII.GetBytes("/CertProv/CertProvisioningService.svc"))
Set-DhcpServerv4OptionValue -ScopeId 10.1.20.0 -Router 10.1.20.1 -DnsServer 10.0.0.53
