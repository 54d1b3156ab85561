package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// trouble is what must not appear in a pod's log: the API server refusing the pod's ServiceAccount (its
// RBAC), a write to the read-only root file system, a mounted Secret it cannot read.
var trouble = regexp.MustCompile(`(?i)forbidden|read-only file system|permission denied`)

// badEvents are the events of a pod or ReplicaSet that mean the install is wrong: a probe failing, a
// container crashing, a volume not mounting, a pod refused (Pod Security admission, quota).
var badEvents = map[string]bool{"Unhealthy": true, "BackOff": true, "Failed": true, "FailedMount": true,
	"FailedCreate": true, "FailedScheduling": true, "ProbeWarning": true}

func (r *run) saveLog(ctx context.Context, pod string) error {
	out, err := r.c.Run(ctx, "logs", "-n", namespace, pod, "--all-containers")
	if err != nil {
		return err
	}
	dir := filepath.Join(r.dir, "pod-logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, pod+".log"), []byte(out), 0o600)
}

// audit reads every pod's log (the deleted one's as saved before its deletion), restarts and the
// namespace's events, and fails on anything the install got wrong.
func (r *run) audit(ctx context.Context) error {
	step("Auditing the pods: logs (forbidden, read-only file system, permission denied), restarts, events (probes, mounts)")
	out, err := r.c.Run(ctx, "get", "pods", "-n", namespace, "-o", "json")
	if err != nil {
		return err
	}
	var pods struct {
		Items []struct {
			Metadata struct{ Name string }
			Status   struct {
				ContainerStatuses []struct {
					Name         string
					RestartCount int
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &pods); err != nil {
		return err
	}
	var problems []string
	for _, p := range pods.Items {
		if p.Metadata.Name == r.deleted.name {
			continue // still terminating; its log was saved before
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount > 0 {
				problems = append(problems, fmt.Sprintf("pod %s: container %s restarted %d times", p.Metadata.Name, cs.Name, cs.RestartCount))
			}
		}
		if err := r.saveLog(ctx, p.Metadata.Name); err != nil {
			return err
		}
	}
	logs, _ := filepath.Glob(filepath.Join(r.dir, "pod-logs", "*.log"))
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if trouble.MatchString(line) {
				problems = append(problems, fmt.Sprintf("%s: %s", strings.TrimSuffix(filepath.Base(l), ".log"), line))
			}
		}
		fmt.Printf("  %s: %d lines read\n", filepath.Base(l), strings.Count(string(b), "\n"))
	}
	ev, err := r.c.Run(ctx, "get", "events", "-n", namespace, "-o", "json")
	if err != nil {
		return err
	}
	var events struct {
		Items []struct {
			Reason, Message string
			InvolvedObject  struct{ Kind, Name string } `json:"involvedObject"`
			LastTimestamp   time.Time                   `json:"lastTimestamp"`
			EventTime       time.Time                   `json:"eventTime"`
		}
	}
	if err := json.Unmarshal([]byte(ev), &events); err != nil {
		return err
	}
	for _, e := range events.Items {
		if !badEvents[e.Reason] {
			continue
		}
		// A deleted pod (mid-traffic, or replaced by an upgrade) stops answering its readiness probe while
		// it shuts down: expected. An event's lastTimestamp has whole seconds, so one in the second of
		// the deletion reads as before it.
		if e.Reason == "Unhealthy" && slices.ContainsFunc(append([]deletedPod{r.deleted}, r.retired...), func(p deletedPod) bool {
			return e.InvolvedObject.Name == p.name && !latest(e.LastTimestamp, e.EventTime).Before(p.at.Truncate(time.Second))
		}) {
			continue
		}
		problems = append(problems, fmt.Sprintf("event %s on %s %s: %s", e.Reason, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message))
	}
	if len(problems) > 0 {
		return fmt.Errorf("the pods show problems:\n  %s", strings.Join(problems, "\n  "))
	}
	fmt.Printf("  no forbidden, read-only file system or permission error in %d logs; no restarts; no probe, mount or admission failure among %d events\n",
		len(logs), len(events.Items))
	return nil
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
