package graph

import (
	"errors"
	"testing"
	"time"
)

func TestBackoffDuration(t *testing.T) {
	noJitter := Backoff{Base: time.Second, Max: 5 * time.Minute, Jitter: -1}
	tests := []struct {
		b       Backoff
		attempt int
		want    time.Duration
	}{
		{noJitter, 0, time.Second},
		{noJitter, 1, time.Second},
		{noJitter, 2, 2 * time.Second},
		{noJitter, 3, 4 * time.Second},
		{noJitter, 9, 256 * time.Second},
		{noJitter, 10, 5 * time.Minute},
		{noJitter, 1 << 30, 5 * time.Minute},
		// Jitter shortens by up to Jitter of the wait: rand 0.5 with 20% takes off 10%.
		{Backoff{Base: time.Second, Max: time.Minute, Jitter: 0.2, Rand: func() float64 { return 0.5 }}, 3, 3600 * time.Millisecond},
		{Backoff{Base: time.Second, Max: time.Minute, Jitter: 0.2, Rand: func() float64 { return 0 }}, 20, time.Minute},
		// Zero values take the defaults: 1s base, 5m max, 20% jitter.
		{Backoff{Rand: func() float64 { return 0 }}, 1, time.Second},
		{Backoff{Rand: func() float64 { return 0.999 }}, 100, 5*time.Minute - time.Duration(0.2*0.999*float64(5*time.Minute))},
	}
	for _, tt := range tests {
		if got := tt.b.Duration(tt.attempt); got != tt.want {
			t.Errorf("%+v.Duration(%d) = %v, want %v", tt.b, tt.attempt, got, tt.want)
		}
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	b := DefaultBackoff()
	for attempt := 1; attempt < 40; attempt++ {
		d := b.Duration(attempt)
		if d > b.Max || d < time.Duration(0.8*float64(time.Second)) {
			t.Fatalf("Duration(%d) = %v outside [0.8s, %v]", attempt, d, b.Max)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Base: time.Second, Max: time.Minute, Jitter: -1}
	tests := []struct {
		name  string
		err   error
		want  time.Duration
		retry bool
	}{
		{"nil", nil, 0, false},
		{"permanent", &Error{HTTPStatus: 400, Code: 190}, 0, false},
		{"transient", &Error{HTTPStatus: 503}, 4 * time.Second, true},
		{"network", errors.New("connection reset"), 4 * time.Second, true},
		{"throttled, wait longer than backoff", &Error{Code: 80006, RetryAfter: 10 * time.Minute}, 10 * time.Minute, true},
		{"throttled, wait shorter than backoff", &ThrottledError{RetryAfter: time.Second}, 4 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, retry := b.Delay(tt.err, 3)
			if d != tt.want || retry != tt.retry {
				t.Errorf("Delay = %v, %v; want %v, %v", d, retry, tt.want, tt.retry)
			}
		})
	}
}
