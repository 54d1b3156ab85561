package delivery

import (
	"crypto/sha256"
	"encoding/binary"
)

// fingerprintVersion starts the hashed record, so that a change to what it covers can never collide
// with fingerprints already stored for dedupe.
const fingerprintVersion = 1

// fingerprint identifies an event by what it means, never by its bytes: Meta may redeliver an event in
// another batch, entry or order, with the timestamp as a string instead of a number. The record holds,
// each length-prefixed so that no two field lists encode alike:
//
//	version, kind, page ID, sender ID, user ref, event timestamp (ms; 0 if absent), message ID,
//	referral ref, source, type and ad ID, opt-in ref, token, topic and status.
//
// The entry time is left out on purpose (it belongs to the batch), and so is Standby (the channel,
// not the event). Display-only fields (titles, URIs, payloads) add nothing to identity.
//
// SHA-256 rather than FNV-128a: refs are chosen by whoever writes a link, and FNV collisions are easy to
// construct, which would let one crafted event suppress another as a "duplicate". Truncated to 128
// bits, SHA-256 keeps collisions out of reach at a cost of well under a microsecond per event.
func fingerprint(e *Event, eventMillis int64) [16]byte {
	var buf [256]byte // covers typical events without a heap allocation
	b := append(buf[:0], fingerprintVersion)
	b = appendField(b, string(e.Kind))
	b = appendField(b, e.PageID)
	b = appendField(b, e.SenderID)
	b = appendField(b, e.UserRef)
	b = binary.BigEndian.AppendUint64(b, uint64(eventMillis))
	b = appendField(b, e.MID)
	b = appendField(b, e.Referral.Ref)
	b = appendField(b, e.Referral.Source)
	b = appendField(b, e.Referral.Type)
	b = appendField(b, e.Referral.AdID)
	b = appendField(b, e.OptIn.Ref)
	b = appendField(b, e.OptIn.Token)
	b = appendField(b, e.OptIn.Topic)
	b = appendField(b, string(e.OptIn.Status))
	sum := sha256.Sum256(b)
	return [16]byte(sum[:16])
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
