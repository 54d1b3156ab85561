package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mmelink/operator/internal/cluster"
)

// helmRelease is the release name of the README's Helm snippet; with it the chart's objects have
// dist/install.yaml's names (the webhook Secret mmelink-webhook, the Service mmelink-webhook-server).
const helmRelease = "mmelink"

// helmInstall is the README's Helm install (the namespace labelled for Pod Security, then helm upgrade
// --install), followed by a helm upgrade that changes the pods' template, so that what the test then
// checks runs on pods the upgrade rolled out: both a first install and an upgrade of the chart are
// exercised on real pods.
func helmInstall(ctx context.Context, c *cluster.Cluster, in Install) error {
	if _, err := c.Run(ctx, "label", "--overwrite", "namespace", namespace,
		"pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted"); err != nil {
		return err
	}
	repo, tag, ok := strings.Cut(in.Image, ":")
	if !ok {
		return fmt.Errorf("image %q has no tag", in.Image)
	}
	args, err := json.Marshal(in.ManagerArgs)
	if err != nil {
		return err
	}
	values := []string{"--set", "image.repository=" + repo, "--set", "image.tag=" + tag,
		"--set-json", "manager.extraArgs=" + string(args)}
	if err := helm(ctx, c, in, append([]string{"upgrade", "--install", helmRelease, "charts/mmelink",
		"--namespace", namespace}, values...)...); err != nil {
		return err
	}
	fmt.Println("  installed; waiting for the Deployments before the upgrade")
	if _, err := c.Run(ctx, "wait", "-n", namespace, "--for=condition=Available", "deployment", "--all", "--timeout=5m"); err != nil {
		return fmt.Errorf("after helm install: %w", err)
	}
	// The pods the upgrade will replace, listed before it: one may be gone before the rollout is seen to
	// end, and its readiness failures while it shut down are the upgrade's, not a fault.
	before, err := c.Run(ctx, "get", "pods", "-n", namespace, "-o", `jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}`)
	if err != nil {
		return err
	}
	upgradeStart := time.Now()
	upgraded := append(values, "--set-string", "manager.podAnnotations.mmelink\\.io/upgraded=true",
		"--set-string", "webhookServer.podAnnotations.mmelink\\.io/upgraded=true")
	if err := helm(ctx, c, in, append([]string{"upgrade", helmRelease, "charts/mmelink", "--namespace", namespace}, upgraded...)...); err != nil {
		return err
	}
	for _, d := range []string{"mmelink-controller-manager", "mmelink-webhook-server"} {
		if _, err := c.Run(ctx, "rollout", "status", "-n", namespace, "deployment/"+d, "--timeout=5m"); err != nil {
			return fmt.Errorf("rolling out the upgrade of %s: %w", d, err)
		}
	}
	// The rollout is done when the new pods are ready; the old ones may still be in their preStop sleep.
	// Wait for them to be gone, so that what follows (a pod deleted mid-traffic, the audit) sees only
	// the upgrade's pods.
	out, err := c.Run(ctx, "get", "pods", "-n", namespace, "-o",
		`jsonpath={range .items[*]}{.metadata.name}{"="}{.metadata.annotations.mmelink\.io/upgraded}{"\n"}{end}`)
	if err != nil {
		return err
	}
	fresh := 0
	present := map[string]bool{}
	for _, line := range strings.Fields(out) {
		name, _, _ := strings.Cut(line, "=")
		present[name] = true
	}
	for _, name := range strings.Fields(before) {
		if !present[name] {
			in.Retired(deletedPod{name: name, at: upgradeStart})
		}
	}
	for _, line := range strings.Fields(out) {
		name, upgraded, _ := strings.Cut(line, "=")
		if upgraded == "true" {
			fresh++
			continue
		}
		at, err := c.Run(ctx, "get", "-n", namespace, "pod", name, "--ignore-not-found", "-o", "jsonpath={.metadata.deletionTimestamp}")
		if err != nil {
			return err
		}
		since, err := time.Parse(time.RFC3339, strings.TrimSpace(at))
		if err != nil {
			since = time.Now() // gone already, or not yet being deleted: from now on
		}
		in.Retired(deletedPod{name: name, at: since})
		if _, err := c.Run(ctx, "wait", "-n", namespace, "--for=delete", "pod/"+name, "--timeout=2m"); err != nil {
			return fmt.Errorf("pod %s of the release before the upgrade is still there: %w", name, err)
		}
	}
	if fresh == 0 {
		return fmt.Errorf("after helm upgrade, no pod is from the upgrade: %q", out)
	}
	fmt.Println("  upgraded: every pod is from the upgraded release")
	return nil
}

// helm runs bin/helm against the cluster, with Helm's caches and config in the test's temp dir.
func helm(ctx context.Context, c *cluster.Cluster, in Install, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.Helm, append(args, "--kubeconfig", c.Kubeconfig())...)
	home := filepath.Join(in.Dir, "helm")
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config",
		"HELM_DATA_HOME="+home+"/data")
	out, err := cmd.CombinedOutput()
	if s := strings.TrimSpace(string(out)); s != "" {
		fmt.Println("  " + strings.ReplaceAll(s, "\n", "\n  "))
	}
	if err != nil {
		return fmt.Errorf("helm %s: %w", args[0], err)
	}
	return nil
}
