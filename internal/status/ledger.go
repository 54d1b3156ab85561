package status

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// Why the fingerprints live in the status of the object they count for: a commit then changes the counts
// and records the events it counted in one optimistic-locked write. Any other place (a ConfigMap, a
// Lease, memory) would need a second write, and a crash between the two would either lose or
// double-count. The price is size, so the ledger keeps a bounded window of recent fingerprints (8 bytes
// each, oldest dropped first) and the IDs of the latest commits.

const (
	// DefaultMaxRecent is how many event fingerprints each object remembers. Meta redelivers within
	// minutes to an hour; 2,048 covers that for any link below ~0.5 events per second, and a busier
	// link's window is still minutes long. At 8 bytes each the ledger stays under 22 KB in base64.
	DefaultMaxRecent = 2048
	// maxCommits is how many commit IDs are remembered, to tell whether a commit whose answer was lost
	// was stored.
	maxCommits = 16
)

// ledger is the decoded DeliveryLedger: a FIFO of fingerprints with a set for lookups.
type ledger struct {
	recent  []uint64
	set     map[uint64]struct{}
	commits []string
	max     int
}

func fingerprint(fp [16]byte) uint64 { return binary.BigEndian.Uint64(fp[:8]) }

// decodeLedger reads a stored ledger. A ledger that cannot be read (edited by hand) is started afresh:
// counts stay, only the redelivery window is lost.
func decodeLedger(l *messengerv1.DeliveryLedger, maxRecent int) (*ledger, error) {
	lg := &ledger{set: map[uint64]struct{}{}, max: maxRecent}
	if l == nil {
		return lg, nil
	}
	lg.commits = append(lg.commits, l.Commits...)
	if l.Recent == "" {
		return lg, nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(l.Recent)
	if err != nil || len(raw)%8 != 0 {
		return lg, fmt.Errorf("ledger.recent is not a fingerprint list (%d bytes)", len(raw))
	}
	lg.recent = make([]uint64, 0, len(raw)/8+64)
	for i := 0; i < len(raw); i += 8 {
		fp := binary.BigEndian.Uint64(raw[i:])
		lg.recent = append(lg.recent, fp)
		lg.set[fp] = struct{}{}
	}
	return lg, nil
}

// seen reports whether the fingerprint was counted already.
func (lg *ledger) seen(fp uint64) bool {
	_, ok := lg.set[fp]
	return ok
}

// add records a counted fingerprint.
func (lg *ledger) add(fp uint64) {
	lg.recent = append(lg.recent, fp)
	lg.set[fp] = struct{}{}
}

// remove forgets fingerprints, for a commit that is taken back.
func (lg *ledger) remove(fps []uint64) {
	drop := make(map[uint64]struct{}, len(fps))
	for _, fp := range fps {
		drop[fp] = struct{}{}
		delete(lg.set, fp)
	}
	kept := lg.recent[:0]
	for _, fp := range lg.recent {
		if _, ok := drop[fp]; !ok {
			kept = append(kept, fp)
		}
	}
	lg.recent = kept
}

func (lg *ledger) hasCommit(id string) bool {
	for _, c := range lg.commits {
		if c == id {
			return true
		}
	}
	return false
}

func (lg *ledger) removeCommit(id string) {
	kept := lg.commits[:0]
	for _, c := range lg.commits {
		if c != id {
			kept = append(kept, c)
		}
	}
	lg.commits = kept
}

func (lg *ledger) addCommit(id string) {
	lg.commits = append(lg.commits, id)
	if n := len(lg.commits); n > maxCommits {
		lg.commits = append(lg.commits[:0], lg.commits[n-maxCommits:]...)
	}
}

// encode writes the ledger back, dropping the oldest fingerprints beyond the window.
func (lg *ledger) encode(sketch string) *messengerv1.DeliveryLedger {
	recent := lg.recent
	if len(recent) > lg.max {
		recent = recent[len(recent)-lg.max:]
	}
	raw := make([]byte, 8*len(recent))
	for i, fp := range recent {
		binary.BigEndian.PutUint64(raw[8*i:], fp)
	}
	return &messengerv1.DeliveryLedger{
		Recent:  base64.RawStdEncoding.EncodeToString(raw),
		Sketch:  sketch,
		Commits: append([]string(nil), lg.commits...),
	}
}
