package hostport

import (
	"net"
	"testing"
)

func TestBrowsable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0.0.0.0:8080", "localhost:8080"},
		{"[::]:8554", "localhost:8554"},
		{":10401", "localhost:10401"},
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"192.168.77.1:8554", "192.168.77.1:8554"},
		{"[fe80::1]:80", "[fe80::1]:80"},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := Browsable(addr); got != tc.want {
			t.Errorf("Browsable(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
