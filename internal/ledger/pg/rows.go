package pgledger

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"time"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/status"
	"github.com/mmelink/operator/internal/tally"
)

// kindConfirmed is the stored kind of a NotificationTopic opt-in from the topic's registration
// recipient: it confirms the registration (status.optIns.confirmedTime).
const kindConfirmed = "registration_confirmed"

// object is a target resolved to its UID.
type object struct {
	uid string
	status.Target
}

// row is one event as stored.
type row struct {
	obj         object
	fingerprint []byte
	time        time.Time
	kind        string
	source, ref string
	person      []byte // nil when the event names no one
	token       *tokenRow
}

// tokenRow is the state a notification opt-in, stop or resume sets for its token.
type tokenRow struct {
	key    []byte
	sealed []byte
	status string
	optIn  bool // a new opt-in (not a stop or resume): sets opt_in_time when unset
}

// tokenRecord is what is sealed: the token and what Meta said with it.
type tokenRecord struct {
	Token           string `json:"token"`
	Frequency       string `json:"frequency,omitempty"`
	Timezone        string `json:"timezone,omitempty"`
	Ref             string `json:"ref,omitempty"`
	Source          string `json:"source,omitempty"`
	UserTokenStatus string `json:"userTokenStatus,omitempty"`
	TokenExpiry     int64  `json:"tokenExpiry,omitempty"`
}

func newRow(k *Keys, obj object, it *status.Item) row {
	ev := &it.Event
	r := row{obj: obj, fingerprint: bytes.Clone(ev.Fingerprint[:]), time: ev.Time.UTC(), kind: string(ev.Kind)}
	switch obj.Kind {
	case status.KindTopic:
		r.ref, r.source = ev.OptIn.Ref, ev.OptIn.Source
		if tally.Confirms(ev, it.Recipient) {
			r.kind = kindConfirmed
		}
		r.token = newTokenRow(k, obj, ev)
	default:
		ref := tally.ReferralOf(ev)
		r.ref, r.source = ref.Ref, ref.Source
	}
	if p := tally.Person(ev); p != "" {
		r.person = k.Person(p)
	}
	return r
}

func newTokenRow(k *Keys, obj object, ev *delivery.Event) *tokenRow {
	o := ev.OptIn
	if !tally.SetsToken(ev) {
		return nil
	}
	rec := tokenRecord{Token: o.Token, Frequency: o.Frequency, Timezone: o.Timezone, Ref: o.Ref, Source: o.Source,
		UserTokenStatus: o.UserTokenStatus}
	if !o.TokenExpiry.IsZero() {
		rec.TokenExpiry = o.TokenExpiry.UnixMilli()
	}
	plain, _ := json.Marshal(rec) // strings and an int: cannot fail
	t := &tokenRow{key: k.TokenKey(o.Token), status: tally.TokenState(ev), optIn: tally.NewOptIn(ev)}
	t.sealed = k.Seal(plain, sealAD(obj.uid, t.key))
	return t
}

func sealAD(uid string, key []byte) []byte { return append([]byte(uid+"/"), key...) }

// sortRows orders rows by their key, and drops repeats within the batch, so that concurrent commits of
// overlapping batches (two replicas, one redelivery each) take row locks in one order: no deadlocks.
func sortRows(rows []row) []row {
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.obj.uid, b.obj.uid), bytes.Compare(a.fingerprint, b.fingerprint), a.time.Compare(b.time))
	})
	return slices.CompactFunc(rows, func(a, b row) bool {
		return a.obj.uid == b.obj.uid && bytes.Equal(a.fingerprint, b.fingerprint) && a.time.Equal(b.time)
	})
}

// latestTokens returns one token row per (object, token), the newest event's, in key order: one statement
// may not update a row twice.
func latestTokens(rows []row) []row {
	var out []row
	for _, r := range rows {
		if r.token != nil {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.obj.uid, b.obj.uid), bytes.Compare(a.token.key, b.token.key), a.time.Compare(b.time))
	})
	// Keep the last of each run: the newest.
	var kept []row
	for i, r := range out {
		if i+1 < len(out) && out[i+1].obj.uid == r.obj.uid && bytes.Equal(out[i+1].token.key, r.token.key) {
			continue
		}
		kept = append(kept, r)
	}
	return kept
}
