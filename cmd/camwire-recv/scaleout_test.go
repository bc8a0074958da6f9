package main

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/camwire/camwire/internal/peers"
	"github.com/camwire/camwire/internal/testkit"
	"github.com/camwire/camwire/mp4/mp4test"
)

func TestRTSPUDP(t *testing.T) {
	for _, tc := range []struct{ rtsp, flag, want string }{
		{":8554", "", ":8556"},
		{"127.0.0.1:8555", "", "127.0.0.1:8556"},
		{":8554", "off", ""},
		{":8554", "10.0.0.1:9000", "10.0.0.1:9000"},
		{"127.0.0.1:0", "", ""},
	} {
		got, err := rtspUDP(tc.rtsp, tc.flag)
		if err != nil || got != tc.want {
			t.Errorf("rtspUDP(%q, %q) = %q, %v; want %q", tc.rtsp, tc.flag, got, err, tc.want)
		}
	}
	if _, err := rtspUDP("8554", ""); err == nil {
		t.Error(`rtspUDP("8554", "") = nil error; want one naming the address`)
	}
}

var (
	rtspServingRE = regexp.MustCompile(`msg="RTSP: serving camera" url=(\S+)`)
	ffFramesRE    = regexp.MustCompile(`frame=\s*(\d+)`)
)

// TestRTSPFlag: with -rtsp, a camera sending to camwire-recv is an RTSP
// stream that ffmpeg reads 60 frames from over TCP and over UDP, while
// the camera's recording goes on.
func TestRTSPFlag(t *testing.T) {
	mp4test.NeedTools(t)
	dir := t.TempDir()
	p := startRecv(t, "-dir", dir, "-rtsp", "127.0.0.1:0", "-rtsp-udp", testkit.UDPPair(t))
	runCamera(t, p.Addr, "cam-rtsp")
	url := p.WaitLog(t, rtspServingRE, 20*time.Second)[1]
	for _, transport := range []string{"tcp", "udp"} {
		out, err := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-stats_period", "0.1", "-rtsp_transport", transport,
			"-i", url, "-frames:v", "60", "-c", "copy", "-f", "null", "-").CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg over %s: %v\n%s", transport, err, out)
		}
		m := ffFramesRE.FindAllStringSubmatch(string(out), -1)
		if m == nil || m[len(m)-1][1] != "60" {
			t.Errorf("ffmpeg over %s read %v frames, want 60:\n%s", transport, m, out)
		}
	}
}

// TestUploadSurvivesKill: camwire-recv -upload -upload-delete is killed
// (SIGKILL) in the middle of an upload to a real S3 server (SeaweedFS)
// and started again. Afterwards every recording is in the bucket once,
// byte for byte, under PREFIX/CAMERA/FILE, nothing else is; the file
// whose upload was cut was still on disk after the kill, and every local
// file went only once its object was confirmed.
func TestUploadSurvivesKill(t *testing.T) {
	s3 := peers.StartS3(t)
	cl, err := minio.New(strings.TrimPrefix(s3.Endpoint, "http://"), &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.MakeBucket(context.Background(), "cams", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket: %v\n%s", err, s3.Logs())
	}
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	dir := t.TempDir()
	names := []string{"20261201T120000Z-a.mp4", "20261201T120100Z-b.mp4", "20261201T120200Z-c.mp4"}
	want := map[string][]byte{}
	for _, n := range names {
		b := make([]byte, 1_000_000)
		rand.Read(b)
		if err := os.MkdirAll(filepath.Join(dir, "garden"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "garden", n), b, 0o644); err != nil {
			t.Fatal(err)
		}
		want["house/garden/"+n] = b
	}
	args := []string{"-dir", dir, "-v", "-upload", "s3://cams/house", "-upload-endpoint", s3.Endpoint, "-upload-limit", "400k", "-upload-delete"}

	p := startRecv(t, args...)
	cut := filepath.Join(dir, "garden", names[1])
	p.WaitLog(t, regexp.MustCompile(`msg="upload: putting" file=`+regexp.QuoteMeta(cut)), 60*time.Second)
	p.Cmd.Process.Kill()
	<-p.Exited()
	if _, err := os.Stat(cut); err != nil {
		t.Fatalf("the recording whose upload was cut is gone from disk: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "garden", names[0])); !os.IsNotExist(err) {
		t.Errorf("the first recording, confirmed before the kill, is still on disk with -upload-delete (stat: %v)", err)
	}

	p2 := startRecv(t, args...)
	p2.WaitLog(t, regexp.MustCompile(`msg="upload: confirmed" file=`+regexp.QuoteMeta(filepath.Join(dir, "garden", names[2]))), 60*time.Second)
	got := map[string][]byte{}
	for o := range cl.ListObjects(context.Background(), "cams", minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		r, err := cl.GetObject(context.Background(), "cams", o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got[o.Key], _ = io.ReadAll(r)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("bucket after kill and restart (-want +got):\n%s", d)
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, "garden", n)); !os.IsNotExist(err) {
			t.Errorf("%s still on disk after its object was confirmed (stat: %v)", n, err)
		}
	}
	if n := p2.Count(`msg="upload: confirmed"`); n != 2 {
		t.Errorf("the restarted receiver confirmed %d uploads, want 2 (the cut one and the last)", n)
	}
}

// TestPublishFlag: camwire-recv -publish pushes a camera into a real
// MediaMTX, and ffmpeg reading MediaMTX's path gets 60 frames.
func TestPublishFlag(t *testing.T) {
	mp4test.NeedTools(t)
	m := peers.StartMediaMTX(t, "", "  all_others:\n")
	p := startRecv(t, "-dir", t.TempDir(), "-publish", "rtsp://"+m.Addr+"/{name}")
	runCamera(t, p.Addr, "cam-pub")
	p.WaitLog(t, regexp.MustCompile(`msg="publish: pushing" camera=cam-pub`), 30*time.Second)
	m.WaitLog(t, regexp.MustCompile(`\[path cam-pub\] stream is available and online`))
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-rtsp_transport", "tcp",
		"-i", "rtsp://"+m.Addr+"/cam-pub", "-frames:v", "60", "-c", "copy", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg reading MediaMTX: %v\n%s", err, out)
	}
	if f := ffFramesRE.FindAllStringSubmatch(string(out), -1); f == nil || f[len(f)-1][1] != "60" {
		t.Errorf("ffmpeg read %v frames from MediaMTX, want 60:\n%s", f, out)
	}
}
