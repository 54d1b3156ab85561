package status

import (
	"time"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// Why the dedupe window lives in the status of the object it counts for: a commit then changes the counts
// and records the events it counted in one optimistic-locked write. Any other place (a ConfigMap, a
// Lease, memory) would need a second write, and a crash between the two would either lose or
// double-count. The price is size, so the window is bounded (window.go).

// ledger is the decoded DeliveryLedger of one object.
type ledger struct {
	win *window
}

// decodeLedger reads a stored ledger; newest is the latest event time the object counted, for migrating
// a ledger of the format before the window. A ledger that cannot be read (edited by hand) is started
// afresh: counts stay, only the redelivery window is lost, and the error says so.
func decodeLedger(l *messengerv1.DeliveryLedger, maxEvents int, newest time.Time) (*ledger, error) {
	if l == nil {
		return &ledger{win: newWindow(maxEvents)}, nil
	}
	w, err := decodeWindow(l.Window, maxEvents)
	if err != nil {
		return &ledger{win: w}, err
	}
	if l.Window == "" && l.Recent != "" {
		if err := w.migrateRecent(l.Recent, newest); err != nil {
			return &ledger{win: newWindow(maxEvents)}, err
		}
	}
	return &ledger{win: w}, nil
}

// encode writes the ledger back with the unique-people sketch (empty for topics).
func (lg *ledger) encode(sketch string) *messengerv1.DeliveryLedger {
	return &messengerv1.DeliveryLedger{Window: lg.win.encode(), Sketch: sketch}
}
