package delivery

import (
	"fmt"
	"strings"
	"testing"
)

// benchBody is a realistic delivery of n events cycling through the tracked kinds plus a plain message.
func benchBody(n int) []byte {
	kinds := []string{
		postbackEvent,
		optInEvent,
		`{"sender":{"id":"6543210987654321"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,"referral":{"ref":"tutorial--456","source":"SHORTLINK","type":"OPEN_THREAD"}}`,
		`{"sender":{"id":"6543210987654321"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,"message":{"mid":"m_ad1","text":"Is this still available?","referral":{"ref":"spring_ad","ad_id":"6045246247433","source":"ADS","type":"OPEN_THREAD","ads_context_data":{"ad_title":"Spring sale","photo_url":"https://example.com/p.jpg","post_id":"1234567890_9876543210"}}}}`,
		`{"sender":{"id":"6543210987654321"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,"message":{"mid":"m_2","text":"Thanks!"}}`,
	}
	evs := make([]string, n)
	for i := range evs {
		evs[i] = kinds[i%len(kinds)]
	}
	return []byte(page(strings.Join(evs, ",")))
}

func BenchmarkVerifyAndParse(b *testing.B) {
	secret := []byte("s3cr3t-app-secret")
	for _, n := range []int{1, 100} {
		body := benchBody(n)
		header := Sign(secret, body)
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := VerifySignature(secret, body, header); err != nil {
					b.Fatal(err)
				}
				d, err := Parse(body)
				if err != nil || len(d.Events)+d.Ignored != n {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifier is the receiver's check of one delivery's signature: a fresh HMAC per call
// (VerifySignature) against the Verifier's reused ones.
func BenchmarkVerifier(b *testing.B) {
	secret := []byte("s3cr3t-app-secret")
	body := benchBody(1)
	header := Sign(secret, body)
	v, err := NewVerifier(secret)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		verify func() error
	}{
		{"VerifySignature", func() error { return VerifySignature(secret, body, header) }},
		{"Verifier", func() error { return v.Verify(body, header) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.verify(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
