package netcfg

import "github.com/camwire/camwire/config"

// FromConfig returns a Manager for camwire's settings: interface,
// address, gateway, dhcp_server, and the receiver's host as the address
// offered to the laptop. The address is claimed optimistically, checked
// by an ARP probe (DefaultProbe) while it is in use (see Manager.Probe). Logf, OnDHCP, OnClaim and OnConflict are left for the
// caller.
func FromConfig(c config.Config) *Manager {
	offer, _ := c.ReceiverAddr() // a host name leaves Offer invalid: no DHCP, logged
	probe := DefaultProbe
	return &Manager{
		Probe:     &probe,
		Interface: c.Interface,
		Address:   c.Address,
		Gateway:   c.Gateway,
		DHCP:      DHCPMode(c.DHCPServer),
		Offer:     offer,
	}
}
