package webhookserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
)

// MaxChallengeBytes bounds the hub.challenge echoed in a handshake. Meta's are short numbers; the bound
// keeps the endpoint from reflecting arbitrary amounts of text.
const MaxChallengeBytes = 1 << 10

// serveHandshake answers GET /webhook, Meta's subscription check: 200 with hub.challenge exactly when
// hub.mode is subscribe and hub.verify_token is the configured token; 403 otherwise.
func (s *Server) serveHandshake(w http.ResponseWriter, r *http.Request) {
	s.metrics.handshakes.WithLabelValues(s.handshake(w, r)).Inc()
}

func (s *Server) handshake(w http.ResponseWriter, r *http.Request) string {
	q := r.URL.Query()
	mode, challenge := q.Get("hub.mode"), q.Get("hub.challenge")
	if mode != "subscribe" || !s.verifyTokenMatches(q.Get("hub.verify_token")) {
		// Neither the token sent nor the one expected is logged.
		s.log.V(1).Info("refused webhook handshake", "modeIsSubscribe", mode == "subscribe")
		http.Error(w, "forbidden", http.StatusForbidden)
		return HandshakeForbidden
	}
	if challenge == "" || len(challenge) > MaxChallengeBytes {
		http.Error(w, "hub.challenge missing or longer than 1 KiB", http.StatusBadRequest)
		return HandshakeInvalid
	}
	s.log.Info("webhook subscription verified")
	writeText(w, http.StatusOK, challenge)
	return HandshakeOK
}

// verifyTokenMatches compares token with the configured one in constant time. Comparing SHA-256 digests
// rather than the tokens also hides the configured token's length.
func (s *Server) verifyTokenMatches(token string) bool {
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], s.verifyTokenHash[:]) == 1
}
