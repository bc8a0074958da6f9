package rtsp

import (
	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
)

// User is the RTSP user name a reader gives with Server.Key as its
// password: rtsp://camwire:KEY@host:8554/NAME. RTSP's digest
// authentication hashes the user name in, so it cannot be "any".
const User = "camwire"

// authorize answers a DESCRIBE or SETUP that lacks the key: a 401 with
// the challenge (gortsplib adds it for ErrServerAuth when no credentials
// were sent, and closes the connection when wrong ones were). Basic and
// digest authentication both carry no encryption; the key keeps out
// whoever does not know it, not whoever reads the network.
func (h *handler) authorize(c *gortsplib.ServerConn, req *base.Request) (*base.Response, error) {
	if h.Key == nil || c.VerifyCredentials(req, User, string(h.Key)) {
		return nil, nil
	}
	return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
}
