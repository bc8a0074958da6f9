// Package hostport turns a listener's address into the host:port a user
// can open: the one rule the live view's and the RTSP server's URLs share.
package hostport

import "net"

// Browsable is addr as a URL host: a wildcard listen address (0.0.0.0,
// ::, or none) becomes localhost, since nobody can dial a wildcard.
func Browsable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
