package live

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func noStatus(string) (CameraStatus, bool) { return CameraStatus{}, false }

// TestRequireKey: nothing without the key; the key as basic auth's
// password (any user) lets in and sets a cookie that alone lets in later.
func TestRequireKey(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "garden"), 0o755)
	os.WriteFile(filepath.Join(dir, "garden", "20261201T000000Z-a.mp4"), []byte("video"), 0o644)
	srv := httptest.NewServer(RequireKey(New(dir, noStatus), []byte("s3cret")))
	defer srv.Close()
	get := func(path string, mod func(*http.Request)) (*http.Response, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if mod != nil {
			mod(req)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for _, p := range []string{"/", "/cam/garden/", "/cam/garden/files/20261201T000000Z-a.mp4", "/cam/garden/recordings.json", "/cam/garden/stream.mp4", "/nothing"} {
		resp, body := get(p, nil)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") || strings.Contains(body, "video") {
			t.Errorf("GET %s without the key = %d %q, want 401 asking for basic auth", p, resp.StatusCode, body)
		}
		resp, _ = get(p, func(r *http.Request) { r.SetBasicAuth("admin", "wrong") })
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong key = %d, want 401", p, resp.StatusCode)
		}
	}
	resp, body := get("/cam/garden/files/20261201T000000Z-a.mp4", func(r *http.Request) { r.SetBasicAuth("", "s3cret") })
	if resp.StatusCode != http.StatusOK || body != "video" {
		t.Fatalf("GET with the key = %d %q, want 200 \"video\"", resp.StatusCode, body)
	}
	var login *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			login = c
		}
	}
	if login == nil || !login.HttpOnly || strings.Contains(login.Value, "s3cret") {
		t.Fatalf("login cookie %+v: want an HttpOnly cookie that is not the key", login)
	}
	resp, body = get("/cam/garden/files/20261201T000000Z-a.mp4", func(r *http.Request) { r.AddCookie(login) })
	if resp.StatusCode != http.StatusOK || body != "video" {
		t.Errorf("GET with the login cookie = %d %q, want 200", resp.StatusCode, body)
	}
	resp, _ = get("/", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: cookieName, Value: "forged"}) })
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET with a forged cookie = %d, want 401", resp.StatusCode)
	}
}

func TestListenAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"8080", "127.0.0.1:8080"},
		{":8080", "127.0.0.1:8080"},
		{"0", "127.0.0.1:0"},
		{"0.0.0.0:8080", "0.0.0.0:8080"},
		{"[::]:8080", "[::]:8080"},
		{"192.168.77.1:80", "192.168.77.1:80"},
		{"localhost:8080", "localhost:8080"},
		{"bad", "error"},
	}
	var got, want []string
	for _, tt := range tests {
		a, err := ListenAddr(tt.in)
		if err != nil {
			a = "error"
		}
		got = append(got, tt.in+" → "+a)
		want = append(want, tt.in+" → "+tt.want)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ListenAddr (-want +got):\n%s", d)
	}
}
