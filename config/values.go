package config

// The value parsers and formatters the key table uses: each reads one kind
// of value (number, yes/no, host:port, bit rate, size) and says in its
// error what it wanted.

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/camwire/camwire/wire"
)

func setInt(dst *int, v string, lo, hi int) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%q is not a number", v)
	}
	if n < lo || n > hi {
		return fmt.Errorf("%d is outside %d to %d", n, lo, hi)
	}
	*dst = n
	return nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "y", "true", "on", "1":
		return true, nil
	case "no", "n", "false", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes or no", v)
}

// splitHostPort accepts host, host:port and [v6]:port and returns the
// port as text, DefaultPort when absent.
func splitHostPort(v string) (host, port string, err error) {
	if v == "" {
		return "", "", fmt.Errorf("empty; want host:port like 192.168.77.1:%d", wire.DefaultPort)
	}
	host, port = v, strconv.Itoa(wire.DefaultPort)
	if strings.Contains(v, ":") && !(strings.Count(v, ":") > 1 && !strings.HasPrefix(v, "[")) {
		host, port, err = net.SplitHostPort(v)
		if err != nil {
			return "", "", fmt.Errorf("%q is not host:port", v)
		}
	}
	if host == "" || strings.ContainsAny(host, " \t/[]") {
		return "", "", fmt.Errorf("%q has no usable host", v)
	}
	if strings.Contains(host, ":") {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return "", "", fmt.Errorf("%q has no usable host", v)
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("%q: port %q is not 1 to 65535", v, port)
	}
	return host, strconv.Itoa(n), nil
}

// parseRate reads bits per second: 16000000, 16000k, 16M, 16.5M,
// optionally followed by bit/s or bps. Units are decimal (1M = 10^6), as
// bit rates always are.
func parseRate(v string) (int, error) {
	s := strings.ToLower(v)
	for _, unit := range []string{"bit/s", "bits/s", "bps", "bit"} {
		if t, ok := strings.CutSuffix(s, unit); ok {
			s = strings.TrimSpace(t)
			break
		}
	}
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "m"):
		mult, s = 1e6, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || s == "" || strings.ContainsAny(s, "eEnN+") {
		return 0, fmt.Errorf("%q is not a bit rate like 16000000 or 16M", v)
	}
	return int(f*mult + 0.5), nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest first so "MiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

// parseSize reads a byte count: 67108864, 64MiB, 64M (binary, as memory
// sizes usually are meant), 64MB (decimal), 512KiB, 1GiB.
func parseSize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range sizeUnits {
		if t, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(t), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size like 64MiB", v)
	}
	return n * mult, nil
}

// formatSize writes n with the largest binary unit that divides it.
func formatSize(n int64) string {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n != 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10)
}

// formatDuration is time.Duration.String without the zero tails: 10m, not
// 10m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
