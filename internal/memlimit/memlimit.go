// Package memlimit sets the Go runtime's soft memory limit from the container's memory limit.
//
// Without a limit the garbage collector lets the heap grow to twice what is live, and a pod near its
// cgroup limit is OOM-killed before the collector feels any pressure. GOMEMLIMIT fixes that, but a fixed
// value in a manifest goes stale when someone changes resources.limits.memory: too high and it does
// nothing, too low and the collector runs flat out. The Deployments therefore pass the limit itself
// through the downward API, and the binaries take a fraction of it, leaving room for what the runtime
// does not count (stacks in flight, fragmentation, the kernel's page cache charged to the cgroup).
package memlimit

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
)

// Env is the variable holding the container's memory limit in bytes (resourceFieldRef limits.memory).
const Env = "MMELINK_MEMORY_LIMIT"

// Fraction of the container's limit that becomes the runtime's soft limit.
const Fraction = 0.9

// FromEnv sets the runtime's memory limit to Fraction of the bytes in Env and returns it. It does nothing
// and returns 0 when Env is empty or GOMEMLIMIT is set (the runtime has applied that one, and an explicit
// setting wins). getenv is os.Getenv outside tests.
func FromEnv(getenv func(string) string) (int64, error) {
	raw := strings.TrimSpace(getenv(Env))
	if raw == "" || getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	limit, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || limit <= 0 {
		return 0, fmt.Errorf("%s=%q: want the container's memory limit in bytes", Env, raw)
	}
	soft := int64(math.Floor(float64(limit) * Fraction))
	debug.SetMemoryLimit(soft)
	return soft, nil
}

// Apply is FromEnv(os.Getenv) with its outcome logged; a bad value is logged and otherwise ignored (the
// process runs as it would without it).
func Apply(log logr.Logger) {
	soft, err := FromEnv(os.Getenv)
	switch {
	case err != nil:
		log.Error(err, "memory limit not set")
	case soft > 0:
		log.Info("memory limit set from the container's", "bytes", soft, "fraction", Fraction)
	}
}
