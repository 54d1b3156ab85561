package memlimit

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestFromEnv(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1)) // restore what the test binary had
	for _, tt := range []struct {
		name      string
		env       map[string]string
		want      int64
		wantErr   bool
		wantLimit int64 // the runtime's limit afterwards; math.MaxInt64 is none
	}{
		{"unset", nil, 0, false, math.MaxInt64},
		{"256Mi", map[string]string{Env: "268435456"}, 241591910, false, 241591910},
		{"GOMEMLIMIT wins", map[string]string{Env: "268435456", "GOMEMLIMIT": "100MiB"}, 0, false, math.MaxInt64},
		{"not bytes", map[string]string{Env: "256Mi"}, 0, true, math.MaxInt64},
		{"zero", map[string]string{Env: "0"}, 0, true, math.MaxInt64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			got, err := FromEnv(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("FromEnv = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
			if l := debug.SetMemoryLimit(-1); l != tt.wantLimit {
				t.Errorf("runtime memory limit %d, want %d", l, tt.wantLimit)
			}
		})
	}
}
