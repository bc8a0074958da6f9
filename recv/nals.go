package recv

import "github.com/camwire/camwire/wire"

// checkNALs returns f with its NAL table (1.3) if the table fits the
// payload, else without it: the sink then searches the payload for its
// NAL units, as for a sender that sends no tables, and the file is the
// same. A sender's table is never trusted: the check (a few bytes read
// per NAL unit, see wire.NALTable) keeps a buggy or hostile one from
// making a sink slice out of range; the sink checks again itself. The
// first mismatch of a connection is logged with its reason, the count
// when the connection ends; mu is held.
func (ss *session) checkNALs(f wire.Frame) wire.Frame {
	if f.NALs == nil {
		return f
	}
	if err := f.NALs.Check(f.Payload); err != nil {
		if ss.badTables == 0 {
			ss.log.Warn("camera sent a NAL table that does not match its frame; searching its frames instead (logged once per connection)",
				"seq", f.Seq, "err", err)
		}
		ss.badTables++
		f.NALs = nil
	}
	return f
}
