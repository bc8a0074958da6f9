//go:build !linux

package recorder

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/camwire/camwire/config"
)

// keepNetwork needs netlink: on other systems it only says so.
func (r *Recorder) keepNetwork(ctx context.Context, c config.Config, log *slog.Logger) {
	log.Error("network: -network needs Linux (netlink); the link is left as it is")
}

// redialOnNetwork needs netlink: elsewhere the sender's backoff and ack
// timeout alone pace its reconnects.
func redialOnNetwork(ctx context.Context, redial func(), gone func(netip.Addr), log *slog.Logger) {}
