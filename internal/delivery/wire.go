package delivery

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// The wire types mirror Meta's envelope with only the fields the operator reads. Containers are plain
// structs and slices, so a shape Meta never sends (a string where an object belongs) fails decoding;
// scalars use the tolerant types below, because Meta's docs disagree on strings versus numbers.

type wireEnvelope struct {
	Object string      `json:"object"`
	Entry  []wireEntry `json:"entry"`
}

type wireEntry struct {
	ID        text        `json:"id"`
	Time      millis      `json:"time"`
	Messaging []wireEvent `json:"messaging"`
	Standby   []wireEvent `json:"standby"`
}

type wireEvent struct {
	Sender    wireParty    `json:"sender"`
	Recipient wireParty    `json:"recipient"`
	Timestamp millis       `json:"timestamp"`
	Postback  wirePostback `json:"postback"`
	Message   wireMessage  `json:"message"`
	// Pointers where presence alone decides the kind.
	Referral *wireReferral `json:"referral"`
	OptIn    *wireOptIn    `json:"optin"`
}

type wireParty struct {
	ID      text `json:"id"`
	UserRef text `json:"user_ref"`
}

type wirePostback struct {
	MID      text          `json:"mid"`
	Referral *wireReferral `json:"referral"`
}

type wireMessage struct {
	MID      text          `json:"mid"`
	IsEcho   flag          `json:"is_echo"`
	Referral *wireReferral `json:"referral"`
}

type wireReferral struct {
	Ref         text `json:"ref"`
	Source      text `json:"source"`
	Type        text `json:"type"`
	AdID        text `json:"ad_id"`
	RefererURI  text `json:"referer_uri"`
	IsGuestUser flag `json:"is_guest_user"`
}

type wireOptIn struct {
	Ref             text   `json:"ref"`
	UserRef         text   `json:"user_ref"`
	MessageRequest  text   `json:"message_request"`
	Type            text   `json:"type"`
	Title           text   `json:"title"`
	Payload         text   `json:"payload"`
	Token           text   `json:"notification_messages_token"`
	Topic           text   `json:"notification_messages_topic"`
	Frequency       text   `json:"notification_messages_frequency"`
	Timezone        text   `json:"notification_messages_timezone"`
	TokenExpiry     millis `json:"token_expiry_timestamp"`
	UserTokenStatus text   `json:"user_token_status"`
	Status          text   `json:"notification_messages_status"`
	Source          text   `json:"source"`
}

// text is a string that also accepts a number or boolean (as its literal text). An object or array where
// a scalar belongs reads as absent: it is a field we do not understand, not a broken envelope.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		inner := b[1 : len(b)-1]
		// Fast path: no escapes and valid UTF-8 means the bytes are the string. Otherwise let
		// encoding/json unescape (and replace invalid UTF-8 exactly as it does for plain strings).
		if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			*t = text(inner)
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case '{', '[', 'n':
		// object, array, null: absent
	default:
		*t = text(b)
	}
	return nil
}

// millis is a Unix timestamp given as a JSON number or a string of digits, in seconds or milliseconds
// (see toTime). Anything unreadable is 0, which means absent.
type millis int64

func (m *millis) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' {
		b = b[1 : len(b)-1]
	}
	*m = millis(parseInt(b))
	return nil
}

// parseInt reads a decimal integer without allocating; numbers with a fraction or exponent
// (1.5e12) take the slow path. Invalid or overflowing input gives 0.
func parseInt(b []byte) int64 {
	neg := len(b) > 0 && b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) == 0 {
		return 0
	}
	var v int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			f, err := strconv.ParseFloat(string(b), 64)
			if err != nil || math.IsNaN(f) || f >= math.MaxInt64 || f <= math.MinInt64 {
				return 0
			}
			return int64(f)
		}
		if v > (math.MaxInt64-int64(c-'0'))/10 {
			return 0
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		return -v
	}
	return v
}

// flag is a boolean given as true/false, or as a string or number strconv.ParseBool understands
// ("true", "1", ...). Anything else is false.
type flag bool

func (f *flag) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' {
		b = b[1 : len(b)-1]
	}
	v, _ := strconv.ParseBool(string(b))
	*f = flag(v)
	return nil
}
