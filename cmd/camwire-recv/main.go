// Command camwire-recv receives cameras on one TCP port and stores their
// H.264 under one folder per camera. It accepts both camwire cameras
// (framed, acknowledged, resumable) and `raspivid -o - | nc LAPTOP 10401`
// (raw, stored byte for byte).
//
//	camwire-recv [-listen ADDR:PORT] [-dir DIR] [-key FILE] [-format mp4|h264] [-fps N] [-live ADDR:PORT] [-rtsp ADDR:PORT] [-publish URL] [-upload s3://BUCKET/PREFIX] [-keep-for AGE] [-keep-size SIZE] [-min-free SIZE] ...
//
// Framed streams are stored as fragmented MP4 by default. Raw streams
// carry no timestamps, so they stay .h264; -fps N also writes an .mp4
// beside each finished one. -live serves a page per camera that plays it
// in the browser and a stream URL for ffplay and VLC.
//
// Ctrl+C stops it: what has arrived is fsynced, unfinished files stay
// .partial and continue when their camera reconnects.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/camwire/camwire/mp4"
	"github.com/camwire/camwire/recv"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/upload"
)

// formats maps -format to a sink. Adding a format is one line here.
var formats = map[string]func() sink.Sink{
	"h264": sink.NewAnnexB,
	"mp4":  func() sink.Sink { return &mp4.Sink{} },
}

func main() {
	setGCDefault()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// exitError is why run stopped, with the exit status it means: 2 for a
// command line it cannot start from (as for the flag package's own
// errors), 1 for a failure. shown says it is already on stderr (the flag
// package's message, or the log's last line).
type exitError struct {
	code  int
	err   error
	shown bool
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func usage(err error) error  { return exitError{code: 2, err: err} }
func failed(err error) error { return exitError{code: 1, err: err} }

// exitCode is the process's exit status for run's error, printing the
// error first unless it was shown.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	e := exitError{code: 1, err: err}
	errors.As(err, &e)
	if !e.shown {
		fmt.Fprintf(stderr, "camwire-recv: %v\n", e.err)
	}
	return e.code
}

// run is main without the process: flags in, the reason it stopped out
// (nil after a clean stop). stdout is unused: everything camwire-recv
// says is log or console, on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("camwire-recv", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", ":10401", "`ADDR:PORT` to accept cameras on")
	dir := fs.String("dir", "./recv", "`DIR`ectory for recordings, one folder per camera")
	keyFile := fs.String("key", "", "`FILE` holding the shared key cameras must prove (default: no key)")
	format := fs.String("format", "mp4", "file format of framed streams: "+strings.Join(names(), ", "))
	var fps rate
	fs.Var(&fps, "fps", "frame `rate` of raw (nc) streams, e.g. 30 or 30000/1001: each finished .h264 also gets an .mp4 beside it (default: raw stays .h264 only)")
	liveAddr := fs.String("live", "", "serve the live view (browser page and stream URL per camera) on `ADDR:PORT` (default: off)")
	rtspAddr := fs.String("rtsp", "", "serve every camwire camera at rtsp://`ADDR:PORT`/NAME for NVRs, players and MediaMTX (default: off)")
	rtspUDPAddr := fs.String("rtsp-udp", "", "`ADDR:PORT` (even port) for RTSP's UDP transport, RTCP on the next port; off: TCP only (default: the pair above the -rtsp port)")
	publishURL := fs.String("publish", "", "push every camera into an RTSP server that takes ANNOUNCE/RECORD (MediaMTX), at `URL` with {name} for the camera, e.g. rtsp://server:8554/{name} (default: off)")
	var up upload.Config
	fs.StringVar(&up.URL, "upload", "", "upload each finished recording once to `s3://BUCKET/PREFIX` (key PREFIX/CAMERA/FILE) (default: off)")
	fs.StringVar(&up.Endpoint, "upload-endpoint", "", "S3 endpoint `URL`, e.g. http://nas:8333 (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS)")
	fs.StringVar(&up.Region, "upload-region", "", "S3 `region` (default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1)")
	fs.StringVar(&up.CredentialsFile, "upload-credentials", "", "AWS shared credentials `FILE`, profile $AWS_PROFILE or default (default: $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY, else ~/.aws/credentials)")
	uploadLimit := fs.String("upload-limit", "", "most upload bandwidth in bytes/s, e.g. 500k or 2M (default: unlimited)")
	fs.BoolVar(&up.Delete, "upload-delete", false, "delete a local recording once its object is confirmed in the bucket (size and SHA-256)")
	var keep keepFlags
	fs.StringVar(&keep.keepFor, "keep-for", "", "delete recordings older than this `age`: days (30d) or a duration (72h) (default: keep)")
	fs.StringVar(&keep.keepSize, "keep-size", "", "delete the oldest recordings while -dir holds more than `SIZE`, e.g. 500G, 1.5TB, 200MiB (G, GB: 10^9; GiB: 2^30) (default: no limit)")
	fs.StringVar(&keep.minFree, "min-free", "", "delete the oldest recordings while -dir's filesystem has less than `SIZE` free (default: no limit)")
	allowRaw := fs.Bool("allow-raw", false, "with -key, still accept raw (raspivid | nc) streams, which cannot prove the key")
	maxConns := fs.Int("max-conns", 64, "most connections at once; when all are taken a new one replaces the oldest still in its handshake, and raw streams get at most 3/4")
	idle := fs.Duration("idle", 60*time.Second, "close a connection that sends nothing for this long")
	handshake := fs.Duration("handshake-timeout", 10*time.Second, "time a camera has to say hello and authenticate")
	diagnose := fs.Duration("diagnose-after", 15*time.Second, "explain the network if no camera connected within this (0: never)")
	verbose := fs.Bool("v", false, "debug logging")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: camwire-recv [flags]\n\nReceives camwire cameras and `raspivid | nc` streams; see README.md.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitError{code: 2, err: err, shown: true} // flag printed it with the usage
	}
	if fs.NArg() > 0 {
		return usage(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	newSink, ok := formats[*format]
	if !ok {
		return usage(fmt.Errorf("-format %q: supported formats are %s", *format, strings.Join(names(), ", ")))
	}
	policy, err := keep.policy()
	if err != nil {
		return usage(err)
	}
	var key []byte
	if *keyFile != "" {
		if key, err = readKey(*keyFile); err != nil {
			return usage(fmt.Errorf("-key: %w", err))
		}
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	var logOut io.Writer = stderr
	var con *console
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && enableVT(f) {
		con = &console{Out: f}
		logOut = con
	}
	var handler slog.Handler = slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})
	if con != nil && !*verbose {
		handler = newEventHandler(con) // a person's terminal: short event lines
	}
	logger := slog.New(handler)
	srv := &recv.Server{
		Dir:              *dir,
		Key:              key,
		AllowRaw:         *allowRaw,
		Sink:             newSink(),
		Logger:           logger,
		MaxConns:         *maxConns,
		IdleTimeout:      *idle,
		HandshakeTimeout: *handshake,
		DiagnoseAfter:    *diagnose,
		DiagnoseOut:      logOut,
	}
	if fps.num != 0 {
		srv.OnRawFile = func(folder, path string) { remuxRaw(logger, path, fps) }
	}
	out, err := startScaleOut(ctx, scaleOutFlags{rtsp: *rtspAddr, rtspUDP: *rtspUDPAddr, publish: *publishURL, upload: up, uploadLimit: *uploadLimit}, srv, logger)
	if err != nil {
		return usage(err)
	}
	defer out.close()
	var pending func(string) bool
	if out.up != nil {
		pending = out.up.Pending
	}
	keeper, err := startKeeper(ctx, policy, srv, pending, logger)
	if err != nil {
		return failed(fmt.Errorf("retention: %w", err))
	}
	if keeper != nil {
		defer keeper.Close()
	}
	if *liveAddr != "" {
		stopLive, err := serveLive(ctx, *liveAddr, srv, out.liveExtra, logger)
		if err != nil {
			return failed(fmt.Errorf("-live: %w", err))
		}
		defer stopLive()
	}
	if con != nil {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		con.Extra = out.consoleExtra
		go con.Run(cctx, srv, time.Second)
	}
	if err := srv.ListenAndServe(ctx, *listen); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		logger.Error("camwire-recv stopped", "err", err)
		return exitError{code: 1, err: err, shown: true}
	}
	return nil
}

func names() []string {
	var n []string
	for k := range formats {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// readKey reads the shared key: the file's content without trailing
// whitespace, so an editor's final newline does not change the key.
func readKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k := strings.TrimRight(string(b), " \t\r\n")
	if k == "" {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return []byte(k), nil
}
