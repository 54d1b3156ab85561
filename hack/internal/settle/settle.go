// Package settle waits for counts to match what was sent and to stay matched, the check that the demo
// (hack/demo) and the cluster test (hack/clustertest) end their traffic with: a late double count must
// fail it too.
package settle

import (
	"context"
	"time"
)

// Matched calls check every interval until it reports no mismatches (for at most timeout), then goes on
// calling it for hold. It returns no mismatches when they stayed matched for hold; otherwise the
// mismatches of the call that ended the wait: the last one at the timeout, or the first after they had
// matched. An error of check, or the end of ctx, is returned as it is.
func Matched(ctx context.Context, timeout, hold, interval time.Duration, check func() ([]string, error)) ([]string, error) {
	deadline, matched := time.Now().Add(timeout), time.Time{}
	for {
		bad, err := check()
		if err != nil {
			return nil, err
		}
		switch {
		case len(bad) > 0 && (time.Now().After(deadline) || !matched.IsZero()):
			return bad, nil
		case len(bad) == 0 && !matched.IsZero() && time.Since(matched) >= hold:
			return nil, nil
		case len(bad) == 0 && matched.IsZero():
			matched = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(interval):
		}
	}
}
