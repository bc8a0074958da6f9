package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/camwire/camwire/internal/peers"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{{"500k", 500_000}, {"2M", 2_000_000}, {"1.5G", 1_500_000_000}, {"1500", 1500}} {
		if got, err := ParseRate(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "fast", "-1M", "0"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) = nil error; want one", bad)
		}
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct{ in, bucket, prefix string }{
		{"s3://cams", "cams", ""},
		{"s3://cams/house/", "cams", "house"},
		{"s3://cams/a/b", "cams", "a/b"},
	} {
		b, p, err := parseURL(tc.in)
		if err != nil || b != tc.bucket || p != tc.prefix {
			t.Errorf("parseURL(%q) = %q, %q, %v; want %q, %q", tc.in, b, p, err, tc.bucket, tc.prefix)
		}
	}
	for _, bad := range []string{"http://cams/x", "s3:///x", "cams"} {
		if _, _, err := parseURL(bad); err == nil {
			t.Errorf("parseURL(%q) = nil error; want one", bad)
		}
	}
}

// TestCredentials: keys from the environment first, else from an AWS
// shared credentials file and its $AWS_PROFILE section.
func TestCredentials(t *testing.T) {
	file := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(file, []byte("[default]\naws_access_key_id = FILEDEFAULT\naws_secret_access_key = s1\n\n[nas]\naws_access_key_id = FILENAS\naws_secret_access_key = s2\n"), 0o600)
	for _, tc := range []struct{ envID, profile, want string }{
		{"ENVKEY", "", "ENVKEY"},
		{"", "", "FILEDEFAULT"},
		{"", "nas", "FILENAS"},
	} {
		t.Setenv("AWS_ACCESS_KEY_ID", tc.envID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", map[bool]string{true: "envsecret"}[tc.envID != ""])
		t.Setenv("AWS_PROFILE", tc.profile)
		v, err := Config{CredentialsFile: file}.credentials().GetWithContext(nil)
		if err != nil || v.AccessKeyID != tc.want {
			t.Errorf("env key %q, profile %q: access key %q, %v; want %q", tc.envID, tc.profile, v.AccessKeyID, err, tc.want)
		}
	}
}

// TestJournalTornLine: a crash in the middle of a journal write leaves
// a torn last line; the entries before it still count.
func TestJournalTornLine(t *testing.T) {
	dir := t.TempDir()
	for _, e := range []entry{{State: "start", File: "a.mp4"}, {State: "done", File: "a.mp4"}, {State: "start", File: "b.mp4"}} {
		if err := appendJournal(dir, e); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := os.OpenFile(journalPath(dir), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"state":"done","file":"b.m`)
	f.Close()
	j, err := readJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for k, e := range j {
		got[k] = e.State
	}
	if d := cmp.Diff(map[string]string{"a.mp4": "done", "b.mp4": "start"}, got); d != "" {
		t.Errorf("journal after a torn line (-want +got):\n%s", d)
	}
}

// recording writes a finished recording of n random bytes, renamed into
// place complete as recv does (an uploader may be looking).
func recording(t *testing.T, dir, camera, name string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	p := filepath.Join(dir, camera, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
	return b
}

// bucket makes a fresh bucket on s3 and returns a client for it.
func bucket(t *testing.T, s3 *peers.S3, name string) *minio.Client {
	t.Helper()
	cl, err := minio.New(strings.TrimPrefix(s3.Endpoint, "http://"), &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket %s: %v\n%s", name, err, s3.Logs())
	}
	return cl
}

// objects returns the bucket's objects: key → content.
func objects(t *testing.T, cl *minio.Client, name string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for o := range cl.ListObjects(context.Background(), name, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		r, err := cl.GetObject(context.Background(), name, o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out[o.Key] = b
	}
	return out
}

func startUploader(t *testing.T, dir string, s3 *peers.S3, del bool, confirmed chan string) *Uploader {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	u := &Uploader{Dir: dir, Config: Config{URL: "s3://cams/house", Endpoint: s3.Endpoint, Delete: del},
		MinRetry: 100 * time.Millisecond, MaxRetry: time.Second,
		onConfirmed: func(p string, resumed bool) { confirmed <- filepath.Base(p) }}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return u
}

func waitConfirmed(t *testing.T, c chan string, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		select {
		case f := <-c:
			got = append(got, f)
		case <-time.After(60 * time.Second):
			t.Fatalf("confirmed %v within 60 s; want %d files", got, n)
		}
	}
	sort.Strings(got)
	return got
}

// TestUploadExactlyOnce: every finished recording (not a .partial, not a
// journal) lands at PREFIX/CAMERA/FILE with its exact bytes; a second run
// over the same folder uploads nothing again; Pending answers retention.
func TestUploadExactlyOnce(t *testing.T) {
	s3 := peers.StartS3(t)
	cl := bucket(t, s3, "cams")
	dir := t.TempDir()
	want := map[string][]byte{
		"house/garden/20261201T120000Z-a.mp4": recording(t, dir, "garden", "20261201T120000Z-a.mp4", 300_000),
		"house/garden/20261201T120100Z-b.mp4": recording(t, dir, "garden", "20261201T120100Z-b.mp4", 200_000),
		"house/porch/20261201T120000Z-c.h264": recording(t, dir, "porch", "20261201T120000Z-c.h264", 100_000),
	}
	recording(t, dir, "porch", "20261201T120500Z-d.mp4.partial", 1000)
	partial := filepath.Join(dir, "porch", "20261201T120500Z-d.mp4.partial")
	confirmed := make(chan string, 10)
	u := startUploader(t, dir, s3, false, confirmed)
	waitConfirmed(t, confirmed, 3)
	first := filepath.Join(dir, "garden", "20261201T120000Z-a.mp4")
	if u.Pending(first) {
		t.Errorf("Pending(%s) = true after its object was confirmed", first)
	}
	u.Close()
	if d := cmp.Diff(want, objects(t, cl, "cams")); d != "" {
		t.Errorf("bucket after one run (-want +got):\n%s", d)
	}
	// A second run: the journal says done; nothing is put again.
	info, _ := cl.StatObject(context.Background(), "cams", "house/garden/20261201T120000Z-a.mp4", minio.StatObjectOptions{})
	u2 := startUploader(t, dir, s3, false, confirmed)
	later := recording(t, dir, "garden", "20261201T120200Z-e.mp4", 1000)
	u2.Finished("garden", filepath.Join(dir, "garden", "20261201T120200Z-e.mp4"))
	if got := waitConfirmed(t, confirmed, 1); got[0] != "20261201T120200Z-e.mp4" {
		t.Errorf("second run confirmed %v; want only the new recording", got)
	}
	if !u2.Pending(partial) {
		t.Errorf("Pending(%s) = false; a file never uploaded must stay", partial)
	}
	u2.Close()
	want["house/garden/20261201T120200Z-e.mp4"] = later
	if d := cmp.Diff(want, objects(t, cl, "cams")); d != "" {
		t.Errorf("bucket after two runs (-want +got):\n%s", d)
	}
	info2, _ := cl.StatObject(context.Background(), "cams", "house/garden/20261201T120000Z-a.mp4", minio.StatObjectOptions{})
	if !info2.LastModified.Equal(info.LastModified) {
		t.Errorf("an uploaded recording was put again by the second run (modified %v, then %v)", info.LastModified, info2.LastModified)
	}
}

// TestCrashAfterPut: a crash after the PUT but before the journal said
// done. The next run finds the object whole and does not put it again;
// with -upload-delete the file goes only then.
func TestCrashAfterPut(t *testing.T) {
	s3 := peers.StartS3(t)
	cl := bucket(t, s3, "cams")
	dir := t.TempDir()
	b := recording(t, dir, "garden", "20261201T120000Z-a.mp4", 100_000)
	p := filepath.Join(dir, "garden", "20261201T120000Z-a.mp4")
	size, sum, _ := digest(p)
	key := "house/garden/20261201T120000Z-a.mp4"
	if err := appendJournal(filepath.Dir(p), entry{State: "start", File: filepath.Base(p), Key: key, Size: size, SHA256: sum}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutObject(context.Background(), "cams", key, bytes.NewReader(b), size,
		minio.PutObjectOptions{UserMetadata: map[string]string{metaSHA256: sum}}); err != nil {
		t.Fatal(err)
	}
	info, _ := cl.StatObject(context.Background(), "cams", key, minio.StatObjectOptions{})
	u := &Uploader{Dir: dir, Config: Config{URL: "s3://cams/house", Endpoint: s3.Endpoint, Delete: true}}
	resumed := make(chan bool, 1)
	u.onConfirmed = func(_ string, r bool) { resumed <- r }
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	if !u.Pending(p) {
		t.Errorf("Pending before the run = false; the journal has no done")
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	select {
	case r := <-resumed:
		if !r {
			t.Error("confirmed, but not as resumed")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("not confirmed within 60 s")
	}
	info2, _ := cl.StatObject(context.Background(), "cams", key, minio.StatObjectOptions{})
	if !info2.LastModified.Equal(info.LastModified) {
		t.Errorf("the whole object was put again (modified %v, then %v)", info.LastModified, info2.LastModified)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("with Delete, the confirmed file is still there (stat: %v)", err)
	}
}
