package live

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"strconv"
)

// cookieName holds the login cookie RequireKey sets.
const cookieName = "camwire_login"

// RequireKey lets a request through to h only if it proves key: as the
// password of HTTP basic auth (any user name; browsers ask for it and
// ffplay/VLC take http://user:KEY@host/…), or with the login cookie set
// on the first authenticated answer, so a page's own fetches need not
// repeat the header. The cookie is an HMAC of the key, not the key. Over
// plain HTTP both travel unencrypted: this keeps strangers on the
// network out, not someone who can read its traffic.
func RequireKey(h http.Handler, key []byte) http.Handler {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("camwire live login"))
	cookie := hex.EncodeToString(mac.Sum(nil))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(cookieName); err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(cookie)) == 1 {
			h.ServeHTTP(w, r)
			return
		}
		if _, pw, ok := r.BasicAuth(); ok && subtle.ConstantTimeCompare([]byte(pw), key) == 1 {
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: cookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="camwire (the receiver's -key is the password)", charset="UTF-8"`)
		http.Error(w, "this live view needs the receiver's key (camwire-recv -key) as the password", http.StatusUnauthorized)
	})
}

// ListenAddr is the address -live ADDR listens on: a bare port ("8080")
// or a port without a host (":8080") is loopback only, so the live view
// reaches other machines only when asked for by an explicit host
// ("0.0.0.0:8080", "[::]:8080", "192.168.77.1:8080").
func ListenAddr(flag string) (string, error) {
	if _, err := strconv.ParseUint(flag, 10, 16); err == nil {
		return net.JoinHostPort("127.0.0.1", flag), nil
	}
	host, port, err := net.SplitHostPort(flag)
	if err != nil {
		return "", err
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// Loopback reports whether a listener on addr is reachable from this
// machine only.
func Loopback(addr net.Addr) bool {
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
