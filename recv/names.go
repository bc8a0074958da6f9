package recv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/camwire/camwire/wire"
)

// Cameras flashed from one image may all claim one name. Two live
// cameras with one name but different streams from different hosts are
// two cameras, not one that reconnected: the second gets a folder of its
// own, NAME-HOST, and the receiver warns once, naming both. A stream
// keeps the folder it was given for as long as the receiver runs (and
// after a restart, when its journal is found there), so a reconnect
// resumes in the same place. A camera that reboots gets a new stream
// from the same host: that is the same camera, and it keeps NAME.

// liveStream is one connected framed stream under a claimed name.
type liveStream struct {
	id     [wire.StreamIDLen]byte
	host   string
	peer   string
	folder string
}

// folderFor picks the folder name for a stream claiming name from peer,
// and registers the stream as live until leave.
func (s *Server) folderFor(name string, id [wire.StreamIDLen]byte, peer string) string {
	host := peerHost(peer)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		s.live = map[string][]liveStream{}
		s.sticky = map[streamKey]string{}
		s.warned = map[string]bool{}
	}
	folder, ok := s.sticky[streamKey{name, id}]
	if !ok {
		folder = name
		var other *liveStream
		for i, l := range s.live[name] {
			if l.id != id && l.host != host && l.folder == name {
				other = &s.live[name][i]
			}
		}
		alias := aliasFolder(name, host)
		switch {
		case other != nil:
			folder = alias
			if key := name + "\x00" + other.host + "\x00" + host; !s.warned[key] {
				s.warned[key] = true
				s.log.Warn(fmt.Sprintf("two cameras claim the name %q: %s and %s; the second records into folder %s "+
					"(give each a name= in its camwire.txt)", name, other.peer, peer, alias),
					"camera", name, "first_peer", other.peer, "second_peer", peer, "folder", alias)
			}
		case hasJournal(s.Dir, alias, id):
			folder = alias // a restart of the receiver: the stream continues where it was
		}
		s.sticky[streamKey{name, id}] = folder
	}
	s.live[name] = append(s.live[name], liveStream{id: id, host: host, peer: peer, folder: folder})
	return folder
}

// leave unregisters one connection of a stream registered by folderFor.
func (s *Server) leave(name string, id [wire.StreamIDLen]byte, peer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ls := s.live[name]
	for i, l := range ls {
		if l.id == id && l.peer == peer {
			s.live[name] = append(ls[:i:i], ls[i+1:]...)
			break
		}
	}
	if len(s.live[name]) == 0 {
		delete(s.live, name)
	}
}

// aliasFolder is NAME-HOST, cut to a valid camera name.
func aliasFolder(name, host string) string {
	slug := strings.NewReplacer(":", "-", "%", "-").Replace(host)
	if n := len(name) + 1 + len(slug); n > wire.MaxNameLen {
		name = strings.TrimRight(name[:max(1, len(name)-(n-wire.MaxNameLen))], ".")
	}
	a := name + "-" + slug
	if wire.ValidName(a) != nil {
		return name + "-2"
	}
	return a
}

func hasJournal(dir, folder string, id [wire.StreamIDLen]byte) bool {
	_, err := os.Stat(filepath.Join(dir, folder, stateDir, fmt.Sprintf("%x", id[:])+journalExt))
	return !errors.Is(err, os.ErrNotExist) && err == nil
}

func peerHost(peer string) string {
	h, _, err := net.SplitHostPort(peer)
	if err != nil {
		return peer
	}
	return h
}
