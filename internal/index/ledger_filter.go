package index

import (
	"bytes"
	"net/http"
	"strings"

	"golang.org/x/text/transform"
)

// Why the caches' lists and watches are filtered before they are decoded: the cache's transform
// (stripLedger) keeps the ledger out of memory, but only after client-go has decoded it, and client-go
// scans each watched object's JSON several times over (the frame, the watch event, the kind, the object).
// At 10,000 links with full ledgers (27 KB each, 256 MiB in all) that made the webhook server take 11 to 13 s
// to be ready against 1.5 to 1.9 s with empty ones, the API server's own part being 2.4 s of it
// (BenchmarkStartup in webhook-server/cmd). Replacing each ledger with null in the byte stream, in one
// pass of bytes.Index over the response, leaves client-go only the small rest of each object to decode.

// WithoutLedgers wraps rt so that the responses to lists and watches of MessengerLinks and
// NotificationTopics come with every "ledger" member's object value replaced by null. Requests for one
// object, which the status writer makes to read the ledger, pass unchanged.
func WithoutLedgers(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err != nil || req.Method != http.MethodGet || !isLinkOrTopicCollection(req.URL.Path) ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			return resp, err
		}
		resp.Body = readCloser{transform.NewReader(resp.Body, &ledgerStripper{}), resp.Body}
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		return resp, nil
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

type readCloser struct {
	*transform.Reader
	body interface{ Close() error }
}

func (r readCloser) Close() error { return r.body.Close() }

// isLinkOrTopicCollection tells /apis/<group>/<version>/[namespaces/<ns>/]<resource> for this API's
// links and topics: what a reflector lists and watches.
func isLinkOrTopicCollection(path string) bool {
	rest, ok := strings.CutPrefix(path, "/apis/messenger.mmelink.io/")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2: // <version>/<resource>
	case len(parts) == 4 && parts[1] == "namespaces": // <version>/namespaces/<ns>/<resource>
	default:
		return false
	}
	resource := parts[len(parts)-1]
	return resource == "messengerlinks" || resource == "notificationtopics"
}

// ledgerMarker starts a ledger member with an object value. In valid JSON these bytes can only be a key
// named ledger (a quote inside a string is escaped), unless the quote itself is escaped: a key such as
// `x\"ledger`, which is left alone. No other member of a link or topic is named ledger; managedFields'
// "f:ledger" does not match.
var ledgerMarker = []byte(`"ledger":{`)

const ledgerNull = `"ledger":null`

// ledgerStripper is a transform.Transformer that copies JSON through with every ledger object replaced
// by null. It keeps its place across calls, so a ledger split over many reads is skipped without being
// held in memory.
type ledgerStripper struct {
	skipping          bool // inside a ledger's value
	depth             int  // of objects and arrays, while skipping
	inString, escaped bool // while skipping
	last              byte // the last byte copied, for a marker at the start of src
}

func (s *ledgerStripper) Reset() { *s = ledgerStripper{} }

func (s *ledgerStripper) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		if s.skipping {
			nSrc += s.skip(src[nSrc:])
			continue
		}
		rest := src[nSrc:]
		i := bytes.Index(rest, ledgerMarker)
		if i < 0 {
			n := len(rest)
			if !atEOF {
				n -= markerPrefixAtEnd(rest) // might be the start of a marker: wait for the rest
			}
			if n > len(dst)-nDst {
				n = len(dst) - nDst
				err = transform.ErrShortDst
			} else if n < len(rest) {
				err = transform.ErrShortSrc
			}
			s.copied(rest[:n])
			nDst += copy(dst[nDst:], rest[:n])
			nSrc += n
			return nDst, nSrc, err
		}
		escapedQuote := (i > 0 && rest[i-1] == '\\') || (i == 0 && s.last == '\\')
		if escapedQuote {
			i += len(ledgerMarker) // not a ledger: copy the marker through as it is
		}
		out := i
		if !escapedQuote {
			out += len(ledgerNull)
		}
		if out > len(dst)-nDst {
			if nDst == 0 && len(dst) < len(ledgerNull) {
				return 0, nSrc, transform.ErrShortDst
			}
			// Copy up to the marker now, the rest on the next call.
			n := min(i, len(dst)-nDst)
			s.copied(rest[:n])
			nDst += copy(dst[nDst:], rest[:n])
			return nDst, nSrc + n, transform.ErrShortDst
		}
		s.copied(rest[:i])
		nDst += copy(dst[nDst:], rest[:i])
		nSrc += i
		if !escapedQuote {
			nDst += copy(dst[nDst:], ledgerNull)
			s.last = 'l'
			nSrc += len(ledgerMarker)
			s.skipping, s.depth = true, 1
		}
	}
	return nDst, nSrc, nil
}

func (s *ledgerStripper) copied(b []byte) {
	if len(b) > 0 {
		s.last = b[len(b)-1]
	}
}

// skip consumes the ledger's value from b up to its closing brace, and returns how many bytes it used.
func (s *ledgerStripper) skip(b []byte) int {
	for i := 0; i < len(b); i++ {
		if s.inString {
			if s.escaped { // b[i] is the escaped byte
				s.escaped = false
				continue
			}
			// Jump to the next quote or backslash: the ledger's strings are long base64.
			j := bytes.IndexAny(b[i:], `"\`)
			if j < 0 {
				return len(b)
			}
			i += j
			if b[i] == '\\' {
				s.escaped = true
			} else {
				s.inString = false
			}
			continue
		}
		switch b[i] {
		case '"':
			s.inString = true
		case '{', '[':
			s.depth++
		case '}', ']':
			s.depth--
			if s.depth == 0 {
				s.skipping = false
				return i + 1
			}
		}
	}
	return len(b)
}

// markerPrefixAtEnd is the length of the longest end of b that begins ledgerMarker.
func markerPrefixAtEnd(b []byte) int {
	for n := min(len(b), len(ledgerMarker)-1); n > 0; n-- {
		if bytes.HasSuffix(b, ledgerMarker[:n]) {
			return n
		}
	}
	return 0
}
