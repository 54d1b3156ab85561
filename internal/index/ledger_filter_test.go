package index

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/text/transform"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

var stripCases = []struct {
	name, in, want string
}{
	{"nothing to strip", `{"status":{"referrals":{"total":3}}}`, `{"status":{"referrals":{"total":3}}}`},
	{"a link's ledger, between other members",
		`{"status":{"referrals":{"lastTime":"t","ledger":{"sketch":"AQw","window":"AQAB"},"total":3}}}`,
		`{"status":{"referrals":{"lastTime":"t","ledger":null,"total":3}}}`},
	{"first and last member", `{"ledger":{"window":"x"}}`, `{"ledger":null}`},
	{"a topic's ledger", `{"status":{"optIns":{"active":1,"ledger":{"window":"AQ"}}}}`, `{"status":{"optIns":{"active":1,"ledger":null}}}`},
	{"every item of a list",
		`{"items":[{"s":{"ledger":{"window":"a"}}},{"s":{"ledger":{"window":"b"}}}],"kind":"MessengerLinkList"}`,
		`{"items":[{"s":{"ledger":null}},{"s":{"ledger":null}}],"kind":"MessengerLinkList"}`},
	{"braces, brackets and escaped quotes inside the ledger",
		`{"ledger":{"a":"}\"{]","b":[{"c":"\\"}],"d":{}},"after":1}`, `{"ledger":null,"after":1}`},
	{"a watch stream of events", "{\"type\":\"ADDED\",\"object\":{\"ledger\":{\"w\":\"a\"}}}\n{\"type\":\"MODIFIED\",\"object\":{\"ledger\":{\"w\":\"b\"}}}\n",
		"{\"type\":\"ADDED\",\"object\":{\"ledger\":null}}\n{\"type\":\"MODIFIED\",\"object\":{\"ledger\":null}}\n"},
	{"managedFields' f:ledger is not a ledger", `{"f:ledger":{"f:window":{}}}`, `{"f:ledger":{"f:window":{}}}`},
	{"a key ending in an escaped quote and ledger", `{"x\"ledger":{"a":1}}`, `{"x\"ledger":{"a":1}}`},
	{"the words inside a string", `{"note":"\"ledger\":{"}`, `{"note":"\"ledger\":{"}`},
	{"a ledger that is not an object", `{"ledger":null,"l":{"ledger":"s"}}`, `{"ledger":null,"l":{"ledger":"s"}}`},
	{"a marker's beginning at the very end", `{"a":"b"}"ledg`, `{"a":"b"}"ledg`},
}

// TestLedgerStripper feeds each case through the transformer in every way a response body can arrive:
// at once, a byte at a time, in halves; and into destination buffers from the smallest that can hold
// a null up, so that every split of marker, ledger and output is taken.
func TestLedgerStripper(t *testing.T) {
	readers := map[string]func(io.Reader) io.Reader{
		"whole":         func(r io.Reader) io.Reader { return r },
		"byte by byte":  iotest.OneByteReader,
		"halves":        iotest.HalfReader,
		"data with EOF": iotest.DataErrReader,
	}
	for _, tc := range stripCases {
		t.Run(tc.name, func(t *testing.T) {
			for name, wrap := range readers {
				got, err := io.ReadAll(transform.NewReader(wrap(strings.NewReader(tc.in)), &ledgerStripper{}))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if string(got) != tc.want {
					t.Errorf("%s:\n got %s\nwant %s", name, got, tc.want)
				}
			}
			for dstSize := len(ledgerNull); dstSize <= len(tc.in)+len(ledgerNull); dstSize++ {
				for chunk := 1; chunk <= 3; chunk++ {
					if got := driveTransform(t, tc.in, dstSize, chunk); got != tc.want {
						t.Fatalf("dst %d, src chunks of %d:\n got %s\nwant %s", dstSize, chunk, got, tc.want)
					}
				}
			}
		})
	}
}

// driveTransform calls Transform as a careful caller would: src handed over chunk bytes at a time (more
// when asked for), dst of dstSize flushed whenever full.
func driveTransform(t *testing.T, in string, dstSize, chunk int) string {
	t.Helper()
	var (
		s        ledgerStripper
		out      strings.Builder
		dst      = make([]byte, dstSize)
		pos, end = 0, 0
	)
	for calls := 0; ; calls++ {
		if calls > 10*len(in)+100 {
			t.Fatalf("no progress at %d of %d", pos, len(in))
		}
		end = min(len(in), max(end, pos+chunk))
		atEOF := end == len(in)
		nDst, nSrc, err := s.Transform(dst, []byte(in[pos:end]), atEOF)
		out.Write(dst[:nDst])
		pos += nSrc
		switch {
		case errors.Is(err, transform.ErrShortSrc):
			end++
		case errors.Is(err, transform.ErrShortDst):
		case err != nil:
			t.Fatal(err)
		case atEOF && pos == len(in):
			return out.String()
		}
	}
}

// FuzzLedgerStripper: whatever a person writes into an annotation, a ref or a ref field, and whatever the
// ledger holds, the filtered list decodes, and equals the list with its ledgers dropped.
func FuzzLedgerStripper(f *testing.F) {
	f.Add(`"ledger":{`, "AQID", `x\"ledger":{"`)
	f.Add(`\`, `"}`, "{[")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, annotation, window, ref string) {
		list := messengerv1.MessengerLinkList{Items: []messengerv1.MessengerLink{{
			ObjectMeta: metav1.ObjectMeta{Name: "a", Annotations: map[string]string{"note": annotation, `ledger":{`: ref}},
			Spec:       messengerv1.MessengerLinkSpec{Ref: ref},
			Status: messengerv1.MessengerLinkStatus{Referrals: &messengerv1.ReferralStats{Total: 1,
				Ledger: &messengerv1.DeliveryLedger{Window: window, Sketch: annotation}}},
		}, {
			ObjectMeta: metav1.ObjectMeta{Name: "b"},
			Status:     messengerv1.MessengerLinkStatus{Referrals: &messengerv1.ReferralStats{Total: 2}},
		}}}
		raw, err := json.Marshal(list)
		if err != nil {
			t.Skip() // not representable (invalid UTF-8 is replaced, which is fine but not this test's point)
		}
		filtered, err := io.ReadAll(transform.NewReader(iotest.HalfReader(strings.NewReader(string(raw))), &ledgerStripper{}))
		if err != nil {
			t.Fatal(err)
		}
		var got, want messengerv1.MessengerLinkList
		if err := json.Unmarshal(filtered, &got); err != nil {
			t.Fatalf("filtered list does not decode: %v\n%s", err, filtered)
		}
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		want.Items[0].Status.Referrals.Ledger = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("filtered list differs:\n got %+v\nwant %+v", got, want)
		}
	})
}

func TestIsLinkOrTopicCollection(t *testing.T) {
	for path, want := range map[string]bool{
		"/apis/messenger.mmelink.io/v1alpha1/messengerlinks":                          true,
		"/apis/messenger.mmelink.io/v1alpha1/namespaces/shop/messengerlinks":          true,
		"/apis/messenger.mmelink.io/v1alpha1/namespaces/shop/notificationtopics":      true,
		"/apis/messenger.mmelink.io/v1alpha1/namespaces/shop/messengerlinks/a":        false, // one object: the status writer's read
		"/apis/messenger.mmelink.io/v1alpha1/namespaces/shop/messengerlinks/a/status": false,
		"/apis/messenger.mmelink.io/v1alpha1/messengerpages":                          false,
		"/api/v1/namespaces/shop/configmaps":                                          false,
		"/apis/other.example.com/v1/messengerlinks":                                   false,
	} {
		if got := isLinkOrTopicCollection(path); got != want {
			t.Errorf("isLinkOrTopicCollection(%q) = %v, want %v", path, got, want)
		}
	}
}
