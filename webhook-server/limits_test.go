package webhookserver_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/mmelink/operator/internal/delivery"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// A sender that declares 4 MiB and sends 1 KiB before going away costs what it sent, not what it
// declared.
func TestDeclaredLengthCostsNothing(t *testing.T) {
	f := newFixture(t, nil)
	h := f.srv.Handler()
	serve := func() {
		req := httptest.NewRequest(http.MethodPost, webhookserver.PathWebhook,
			io.MultiReader(bytes.NewReader(make([]byte, 1<<10)), failingReader{}))
		req.ContentLength = webhookserver.DefaultMaxBodyBytes
		req.Header.Set(delivery.SignatureHeader, "sha256=00")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("status %d, want 400 for a body cut short", rec.Code)
		}
	}
	serve() // warm the buffer pool and the metrics
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 20
	for range n {
		serve()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 64<<10 {
		t.Errorf("a request declaring %d bytes and sending 1 KiB allocated %d bytes, want at most 64 KiB",
			webhookserver.DefaultMaxBodyBytes, per)
	}
	if got := f.metric(t, "mmelink_webhook_deliveries_total", "result", webhookserver.ResultReadError); got != n+1 {
		t.Errorf("read_error deliveries %v, want %d", got, n+1)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// When the bodies in flight fill the budget, a further request waits a moment and is answered 503 with
// Retry-After (Meta retries it); once they are answered, requests go through again.
func TestBodyBudgetAnswersBusy(t *testing.T) {
	// Bodies of at most 8 KiB, 16 KiB of them at once: four half-sent bodies of 3 KiB, in a 4 KiB buffer
	// each, fill it.
	f := newFixture(t, func(o *webhookserver.Options) { o.MaxBodyBytes, o.MaxBodyBytesInFlight = 8<<10, 16<<10 })
	h := f.srv.Handler()
	type slow struct {
		w    *io.PipeWriter
		done chan int
	}
	var holders []slow
	for range 4 {
		pr, pw := io.Pipe()
		s := slow{w: pw, done: make(chan int, 1)}
		go func() {
			req := httptest.NewRequest(http.MethodPost, webhookserver.PathWebhook, pr)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			s.done <- rec.Code
		}()
		if _, err := pw.Write(make([]byte, 3<<10)); err != nil { // returns once the handler read it all
			t.Fatal(err)
		}
		holders = append(holders, s)
	}

	body := envelope(plainMessage(pageID))
	start := time.Now()
	rec := f.postSigned(body)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("with the budget full: status %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Errorf("answered after %v: the wait for room must be brief", waited)
	}
	if got := f.metric(t, "mmelink_webhook_deliveries_total", "result", webhookserver.ResultBusy); got != 1 {
		t.Errorf("busy deliveries %v, want 1", got)
	}

	for _, s := range holders {
		_ = s.w.Close()
		if code := <-s.done; code != http.StatusUnauthorized {
			t.Errorf("unsigned holder answered %d, want 401", code)
		}
	}
	if rec := f.postSigned(body); rec.Code != http.StatusOK {
		t.Errorf("after the bodies in flight were answered: status %d, want 200", rec.Code)
	}
	if got := gauge(t, f, "mmelink_webhook_body_bytes_in_flight"); got != 0 {
		t.Errorf("body bytes in flight once every request is answered: %v", got)
	}
}

// At the connection cap, idle connections make room for new ones: a delivery gets through however many
// idle connections were opened before it.
func TestConnectionCapEvictsIdleForDeliveries(t *testing.T) {
	const maxConns = 8
	f := newFixture(t, func(o *webhookserver.Options) { o.MaxConnections = maxConns })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	addr := ln.Addr().String()

	// Idle keep-alive connections: one request each, answered, then nothing.
	const idle = 5 * maxConns
	for i := range idle {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", webhookserver.PathHealthz)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		resp.Body.Close()
	}

	body := envelope(plainMessage(pageID))
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+webhookserver.PathWebhook, bytes.NewReader(body))
	req.Header.Set(delivery.SignatureHeader, delivery.Sign(appSecret, body))
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("delivery with %d idle connections open: %v", idle, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("delivery: status %d, want 200", resp.StatusCode)
	}
	// Every idle connection beyond the cap, and one more for the delivery, was evicted.
	if got := f.metric(t, "mmelink_webhook_connections_shed_total", "reason", webhookserver.ShedEvictedIdle); got < idle-maxConns+1 {
		t.Errorf("evicted idle connections %v, want at least %d", got, idle-maxConns+1)
	}
	if got := gauge(t, f, "mmelink_webhook_connections"); got > maxConns {
		t.Errorf("open connections %v, over the cap %d", got, maxConns)
	}
}

func gauge(t *testing.T, f *fixture, name string) float64 {
	t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() == name {
			return fam.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
