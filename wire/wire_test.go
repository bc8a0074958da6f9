package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRoundTrip(t *testing.T) {
	id := [StreamIDLen]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	tests := []struct {
		name string
		rec  Record
	}{
		{"hello", Hello{Name: "garden-cam", StreamID: id, Codec: "h264", Width: 1920, Height: 1080, FPSNum: 30000, FPSDen: 1001}},
		{"auth empty", Auth{}},
		{"auth", Auth{MAC: bytes.Repeat([]byte{7}, MACLen)}},
		{"frame key", Frame{Seq: 1, Segment: 0, TimeUS: 1234567, Key: true, Payload: []byte{0, 0, 0, 1, 0x65, 1, 2}}},
		{"frame", Frame{Seq: 1 << 40, Segment: 9, TimeUS: -5, Payload: []byte{0, 0, 1, 0x41}}},
		{"frame with NAL table", Frame{Seq: 2, Key: true, Payload: []byte{0, 0, 0, 1, 0x67, 0, 0, 1, 0x65}, NALs: NALTable{4, 4}}},
		{"frame with empty NAL table", Frame{Seq: 3, Payload: []byte{0, 0, 1, 0x41}, NALs: NALTable{}}},
		{"segment end", SegmentEnd{Seq: 77, Segment: 3, Frames: 300}},
		{"gap", Gap{Seq: 90, First: 80, Frames: 10}},
		{"stats", Stats{Captured: 1, Sent: 2, Acked: 3, Dropped: 4, BufferUsed: 5, BufferSize: 6, TempMilliC: -1}},
		{"log", Log{Level: LevelWarn, Message: "camwire.txt line 3: fps: not a number"}},
		{"challenge", Challenge{Nonce: [NonceLen]byte{9}, AuthRequired: true, Minor: Minor}},
		{"challenge with ping", Challenge{Nonce: [NonceLen]byte{9}, Minor: Minor, Ping: 1<<63 + 5}},
		{"clock", Clock{Echo: 42, PingInUS: 37_123_456, OutUS: -1}},
		{"ack with ping", Ack{Seq: 9, Ping: 7}},
		{"boot report", BootReport{Text: "camwire boot report: pi3, no /dev/video0\nboard: Raspberry Pi 3 Model B Rev 1.2\n"}},
		{"empty boot report", BootReport{}},
		{"report stored", ReportStored{File: "cam/.camwire/boot/20261202T010203Z.txt"}},
		{"welcome", Welcome{Acked: 12}},
		{"ack", Ack{Seq: 1<<64 - 1}},
		{"reject", Reject{Reason: "no"}},
		{"notice", Notice{Message: "disk full"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Append(nil, tt.rec)
			rd := NewReader(bytes.NewReader(b), Limits{})
			got, err := rd.Next()
			if err != nil {
				t.Fatalf("Next() error = %v", err)
			}
			if diff := cmp.Diff(tt.rec, got); diff != "" {
				t.Errorf("Next() after Append(%s) (-want +got):\n%s", tt.rec.Type(), diff)
			}
			if _, err := rd.Next(); err != io.EOF {
				t.Errorf("second Next() error = %v, want io.EOF", err)
			}
		})
	}
}

func TestFrameHeaderMatchesAppend(t *testing.T) {
	f := Frame{Seq: 5, Segment: 2, TimeUS: 99, Key: true, Payload: []byte("access unit")}
	got := append(AppendFrameHeader(nil, f), f.Payload...)
	if want := Append(nil, f); !bytes.Equal(got, want) {
		t.Errorf("AppendFrameHeader+payload = %x, want %x", got, want)
	}
}

func TestPreamble(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"ours", AppendPreamble(nil), nil},
		{"raw h264", []byte{0, 0, 0, 1, 0x67, 0x64, 0, 0x28, 0xac, 0xd9}, ErrNotFramed},
		{"future major", append([]byte(Magic), 2, 0), ErrVersion},
		{"newer minor", append([]byte(Magic), Major, Minor+3), nil},
		{"cut magic", []byte("CAMW"), ErrMalformed},
		{"empty", nil, ErrNotFramed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.in), Limits{}).ReadPreamble()
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("ReadPreamble(%q) error = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestHostileRecords(t *testing.T) {
	lim := Limits{MaxFrame: 1024, MaxControl: 256}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"oversize frame", Append(nil, Frame{Seq: 1, Payload: make([]byte, 1025)}), ErrTooLarge},
		{"oversize control", Append(nil, Log{Message: strings.Repeat("x", 300)}), ErrTooLarge},
		{"length 4G", []byte{byte(TypeFrame), 0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		{"unknown type", []byte{0x42, 0, 0, 0, 0}, ErrUnknownType},
		{"short hello", []byte{byte(TypeHello), 0, 0, 0, 3, 10, 'a', 'b'}, ErrMalformed},
		{"short frame", []byte{byte(TypeFrame), 0, 0, 0, 4, 0, 0, 0, 1}, ErrMalformed},
		{"bad auth length", []byte{byte(TypeAuth), 0, 0, 0, 3, 1, 2, 3}, ErrMalformed},
		{"gap backwards", Append(nil, Gap{Seq: 3, First: 9}), ErrMalformed},
		{"gap from zero", Append(nil, Gap{Seq: 3, First: 0}), ErrMalformed},
		{"truncated body", Append(nil, Ack{Seq: 1})[:7], io.ErrUnexpectedEOF},
		{"boot report over its limit", []byte{byte(TypeBootReport), 0, 0x80, 0, 5, 0, 0x80, 0, 1}, ErrTooLarge},
		{"boot report text past its body", []byte{byte(TypeBootReport), 0, 0, 0, 6, 0, 0, 0, 9, 'a', 'b'}, ErrMalformed},
		{"boot report claims too much", []byte{byte(TypeBootReport), 0, 0, 0, 4, 0, 0x80, 0, 1}, ErrMalformed},
		{"truncated header", []byte{byte(TypeAck), 0}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.in), lim).Next()
			if !errors.Is(err, tt.want) {
				t.Errorf("Next() error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLongTextIsClipped(t *testing.T) {
	b := Append(nil, Reject{Reason: strings.Repeat("r", 5000)})
	r, err := NewReader(bytes.NewReader(b), Limits{MaxControl: 8 << 10}).Next()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(r.(Reject).Reason); got != MaxMessageLen {
		t.Errorf("len(Reason) = %d, want %d", got, MaxMessageLen)
	}
}

// A 1.0 receiver's Challenge has no minor version: it decodes as 0, so a
// 1.1 sender sends it no record type it would refuse. A 1.0 sender reads
// a 1.1 Challenge by its first two fields and skips the rest.
func TestChallengeAcrossMinorVersions(t *testing.T) {
	nonce := [NonceLen]byte{1, 2, 3}
	v10 := append([]byte{byte(TypeChallenge), 0, 0, 0, NonceLen + 1}, append(nonce[:], 1)...)
	r, err := NewReader(bytes.NewReader(v10), Limits{}).Next()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Challenge{Nonce: nonce, AuthRequired: true}); r != want {
		t.Errorf("1.0 challenge = %#v, want %#v", r, want)
	}
	v11 := Append(nil, Challenge{Nonce: nonce, AuthRequired: true, Minor: 1})
	if got, want := len(v11), len(v10)+1; got != want {
		t.Errorf("1.1 challenge is %d bytes, want %d (one trailing field)", got, want)
	}
	if !bytes.Equal(v11[recordHeaderLen:len(v10)], v10[recordHeaderLen:]) {
		t.Errorf("1.1 challenge %x does not start with the 1.0 fields %x", v11, v10)
	}
}

// 1.2 adds a trailing ping to Challenge and Ack. An older sender decodes
// both by their leading fields (what this decoder does with the fields it
// knows), and a 1.2 sender reads an older receiver's records as "no ping"
// and so sends it no Clock.
func TestPingAcrossMinorVersions(t *testing.T) {
	nonce := [NonceLen]byte{4}
	tests := []struct {
		name     string
		body     []byte // as the older peer wrote or reads it
		newer    Record // the 1.2 record
		decoded  Record // what a 1.2 decoder makes of body
		fieldLen int    // bytes the 1.2 record adds
	}{
		{
			name:     "challenge",
			body:     append(append(nonce[:], 0), 2), // the 1.1 layout
			newer:    Challenge{Nonce: nonce, Minor: 2, Ping: 99},
			decoded:  Challenge{Nonce: nonce, Minor: 2},
			fieldLen: 8,
		},
		{
			name:     "ack",
			body:     []byte{0, 0, 0, 0, 0, 0, 0, 3},
			newer:    Ack{Seq: 3, Ping: 99},
			decoded:  Ack{Seq: 3},
			fieldLen: 8,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.newer.Type(), tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.decoded, got); diff != "" {
				t.Errorf("1.2 decoder on the older body (-want +got):\n%s", diff)
			}
			b := Append(nil, tc.newer)[recordHeaderLen:]
			if len(b) != len(tc.body)+tc.fieldLen || !bytes.Equal(b[:len(tc.body)], tc.body) {
				t.Errorf("1.2 %s body %x does not start with the older fields %x plus %d bytes", tc.name, b, tc.body, tc.fieldLen)
			}
			// The older decoder reads the leading fields only: decode the
			// newer body cut to them and compare with the ping dropped.
			old, err := Decode(tc.newer.Type(), b[:len(tc.body)])
			if err != nil {
				t.Fatal(err)
			}
			switch v := tc.newer.(type) {
			case Challenge:
				v.Ping = 0
				tc.newer = v
			case Ack:
				v.Ping = 0
				tc.newer = v
			}
			if diff := cmp.Diff(tc.newer, old); diff != "" {
				t.Errorf("leading fields of the 1.2 body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLongBootReportIsCut(t *testing.T) {
	b := Append(nil, BootReport{Text: strings.Repeat("line of a long report\n", 4000)})
	r, err := NewReader(bytes.NewReader(b), Limits{}).Next()
	if err != nil {
		t.Fatal(err)
	}
	text := r.(BootReport).Text
	if len(text) != MaxReportLen || !strings.HasSuffix(text, "[report cut at the protocol's limit]\n") {
		t.Errorf("cut report: %d bytes ending %q, want %d bytes ending with the cut note", len(text), text[len(text)-60:], MaxReportLen)
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"camwire", true},
		{"Garden_Cam-2.north", true},
		{"", false},
		{"../x", false},
		{"/etc/passwd", false},
		{"..", false},
		{".hidden", false},
		{"-rf", false},
		{"a/b", false},
		{`a\b`, false},
		{"CON", false},
		{"con.txt", false},
		{"Com1", false},
		{"LPT9.log", false},
		{"COM10", true},
		{"console", true},
		{"trail.", false},
		{"space cam", false},
		{"nul\x00", false},
		{"caméra", false},
		{strings.Repeat("a", MaxNameLen), true},
		{strings.Repeat("a", MaxNameLen+1), false},
		{strings.Repeat("a", 4096), false},
	}
	for _, tt := range tests {
		err := ValidName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("ValidName(%q) error %v is not ErrBadName", tt.name, err)
		}
	}
}

func TestMAC(t *testing.T) {
	key := []byte("secret")
	nonce := [NonceLen]byte{1}
	id := [StreamIDLen]byte{2}
	mac := MAC(key, nonce, id, "cam")
	if !CheckMAC(key, nonce, id, "cam", mac[:]) {
		t.Error("CheckMAC rejects its own MAC")
	}
	for name, ok := range map[string]bool{
		"other key":   CheckMAC([]byte("Secret"), nonce, id, "cam", mac[:]),
		"other nonce": CheckMAC(key, [NonceLen]byte{2}, id, "cam", mac[:]),
		"other name":  CheckMAC(key, nonce, id, "cam2", mac[:]),
		"other id":    CheckMAC(key, nonce, [StreamIDLen]byte{3}, "cam", mac[:]),
		"empty":       CheckMAC(key, nonce, id, "cam", nil),
	} {
		if ok {
			t.Errorf("CheckMAC accepts a MAC with %s", name)
		}
	}
}

// FuzzReader feeds arbitrary bytes to the decoder: it must return records
// or errors, never panic, and never allocate past its limits. Records it
// accepts must encode back to bytes that decode to the same record.
func FuzzReader(f *testing.F) {
	var seed []byte
	seed = Append(seed, Hello{Name: "cam", Codec: "h264", FPSNum: 30, FPSDen: 1})
	seed = Append(seed, Frame{Seq: 1, Key: true, Payload: []byte{0, 0, 0, 1, 0x65}})
	seed = Append(seed, Gap{Seq: 5, First: 2, Frames: 3})
	f.Add(seed)
	f.Add(Append(nil, Stats{TempMilliC: TempUnknown}))
	f.Add(Append(nil, Reject{Reason: "x"}))
	f.Add(Append(nil, BootReport{Text: "summary\nmore"}))
	f.Add(Append(nil, Challenge{Minor: Minor}))
	f.Add(Append(nil, Clock{Echo: 1, PingInUS: 2, OutUS: 3}))
	f.Add(Append(nil, Frame{Seq: 2, Key: true, Payload: []byte{0, 0, 0, 1, 0x67, 0, 0, 1, 0x65}, NALs: NALTable{4, 4}}))
	f.Add(Append(nil, Frame{Seq: 3, Payload: []byte{0, 0, 1}, NALs: NALTable{0xff, 0xff, 0xff, 0xff, 0xff}}))
	f.Add(tableClaims(3000, 20))
	f.Add([]byte{byte(TypeFrame), 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		rd := NewReader(bytes.NewReader(in), Limits{MaxFrame: 1 << 16, MaxControl: 1 << 12})
		for i := 0; i < 1000; i++ {
			r, err := rd.Next()
			if err != nil {
				return
			}
			if cap(rd.buf) > 1<<17 {
				t.Fatalf("buffer grew to %d bytes", cap(rd.buf))
			}
			again, err := NewReader(bytes.NewReader(Append(nil, r)), Limits{MaxFrame: 1 << 16, MaxControl: 1 << 12}).Next()
			if err != nil {
				t.Fatalf("re-decoding %#v: %v", r, err)
			}
			if a, b := Append(nil, r), Append(nil, again); !bytes.Equal(a, b) {
				t.Fatalf("re-encoding differs: %x vs %x", a, b)
			}
		}
	})
}
