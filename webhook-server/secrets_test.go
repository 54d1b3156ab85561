package webhookserver_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"

	"github.com/mmelink/operator/internal/delivery"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

func TestLoadSecrets(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name                  string
		appFile, tokenFile    string
		appEnv, tokenEnv      string
		wantApp, wantToken    string
		wantErr               []string // substrings of the error
		secretsInErrorMessage []string // values that must not appear in it
	}{
		{name: "files, one trailing newline trimmed",
			appFile: file("app", "s3cret\n"), tokenFile: file("tok", "t0ken\r\n"),
			wantApp: "s3cret", wantToken: "t0ken"},
		{name: "only one newline is trimmed",
			appFile: file("app2", "s3cret\n\n"), tokenFile: file("tok2", "t0ken"),
			wantApp: "s3cret\n", wantToken: "t0ken"},
		{name: "environment when no file is named",
			appEnv: "env-secret", tokenEnv: "env-token", wantApp: "env-secret", wantToken: "env-token"},
		{name: "a file wins over the environment",
			appFile: file("app3", "from-file"), appEnv: "from-env", tokenEnv: "env-token",
			wantApp: "from-file", wantToken: "env-token"},
		{name: "no app secret anywhere",
			tokenEnv: "env-token", wantErr: []string{"--app-secret-file", "MMELINK_APP_SECRET"}, secretsInErrorMessage: []string{"env-token"}},
		{name: "no verify token anywhere",
			appEnv: "env-secret", wantErr: []string{"--verify-token-file", "MMELINK_VERIFY_TOKEN"}, secretsInErrorMessage: []string{"env-secret"}},
		{name: "empty file",
			appFile: file("empty", "\n"), tokenEnv: "env-token", wantErr: []string{"--app-secret-file", "empty"}},
		{name: "missing file",
			appFile: filepath.Join(dir, "absent"), tokenEnv: "env-token", wantErr: []string{"--app-secret-file", "absent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(webhookserver.EnvAppSecret, tt.appEnv)
			t.Setenv(webhookserver.EnvVerifyToken, tt.tokenEnv)
			app, token, err := webhookserver.LoadSecrets(tt.appFile, tt.tokenFile)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("LoadSecrets succeeded")
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %q", err, want)
					}
				}
				for _, secret := range tt.secretsInErrorMessage {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q contains a secret value", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(app) != tt.wantApp || string(token) != tt.wantToken {
				t.Errorf("got %q, %q; want %q, %q", app, token, tt.wantApp, tt.wantToken)
			}
		})
	}
}

// logSink records every log line at every verbosity.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) write(prefix, args string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintln(&s.buf, prefix, args)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestSecretsStayOutOfLogsAndAnswers runs the requests most likely to log something (refused handshakes,
// bad signatures, broken bodies, failing stores, unmatched events) with logging at full verbosity, and
// checks that neither secret appears in any log line, answer or error.
func TestSecretsStayOutOfLogsAndAnswers(t *testing.T) {
	sink := &logSink{}
	logger := funcr.New(sink.write, funcr.Options{Verbosity: 10})
	fail := &recordingWriter{err: errors.New("conflict storm")}
	f := newFixture(t, func(o *webhookserver.Options) { o.Logger = logger; o.Writer = fail }, summerLink.DeepCopy())
	h := f.srv.Handler()

	var answers []string
	record := func(rec *httptest.ResponseRecorder) {
		answers = append(answers, fmt.Sprint(rec.Code, rec.Header(), rec.Body.String()))
	}
	for _, token := range []string{string(verifyToken), "wrong", string(verifyToken) + "x", ""} {
		q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {token}, "hub.challenge": {"42"}}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/webhook?"+q.Encode(), nil))
		record(rec)
	}
	const person = "6543210987654321"
	valid := envelope(referral(pageID, person, "summer"), referral(pageID, person, "unknown"))
	for _, req := range []request{
		{method: "POST", body: valid},
		{method: "POST", body: valid, header: http.Header{delivery.SignatureHeader: {delivery.Sign([]byte("other"), valid)}}},
		{method: "POST", body: valid, header: http.Header{"X-Hub-Signature": {"sha1=00"}}},
		signed([]byte(`{"object":"page","entry":"x"}`)),
		signed(valid), // the Writer fails: logged as an error
		signed(bytes.Repeat([]byte("x"), 5<<20)),
		{method: "PATCH", body: valid},
	} {
		record(req.do(h))
	}
	var errs []string
	if _, err := webhookserver.New(webhookserver.Options{AppSecret: appSecret, VerifyToken: verifyToken}); err != nil {
		errs = append(errs, err.Error())
	}

	logs := sink.String()
	if !strings.Contains(logs, "rejected delivery") || !strings.Contains(logs, "conflict storm") {
		t.Fatalf("the run did not log what it should have, so the scan proves nothing:\n%s", logs)
	}
	all := logs + strings.Join(answers, "\n") + strings.Join(errs, "\n")
	for name, secret := range map[string][]byte{"app secret": appSecret, "verify token": verifyToken} {
		if strings.Contains(all, string(secret)) {
			t.Errorf("the %s leaked:\n%s", name, all)
		}
	}
	if !strings.Contains(logs, "not attributed") {
		t.Errorf("the unmatched event was not logged at debug level:\n%s", logs)
	}
	if strings.Contains(logs, person) {
		t.Errorf("a log line holds the sender's ID, a person's:\n%s", logs)
	}
}
