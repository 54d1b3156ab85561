// Command clustertest runs the operator as pods on a one-node cluster built from source (make
// test-cluster, docs/test-cluster.md): it builds the image from the Dockerfile without a daemon, starts
// the cluster (internal/cluster), installs the operator (--install, kubectl apply --server-side -f
// dist/install.yaml by default) with the webhook Secret from the example, waits for every Deployment to
// be Available, and replays the demo's flow against the pods: the samples Ready and the topic Registered
// through the Graph emulator (run on the host), signed deliveries sent to the webhook Service, one webhook
// pod deleted mid-traffic, every non-200 resent as Meta does, and the counts exact. An RBAC forbidden, a
// probe failure, a write to the read-only root file system or a permission problem on the mounted Secret
// fails it. It stops everything it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/mmelink/operator/internal/cluster"
	"github.com/mmelink/operator/internal/imagebuild"
	"github.com/mmelink/operator/internal/testenv"
)

const namespace = "mmelink-system"

type run struct {
	bin, controlPlane, node, install string
	deliveries                       int
	timeout                          time.Duration
	keepLogs                         bool

	dir       string
	c         *cluster.Cluster
	emulator  *emulator
	appSecret string
	token     string
	webhook   string // the webhook Service's URL
	deleted   deletedPod
	// retired are the pods an upgrade rolled away: their readiness fails while they shut down.
	retired []deletedPod
}

func main() {
	r := &run{}
	home, _ := os.UserCacheDir()
	flag.StringVar(&r.bin, "bin", "bin", "Folder holding graph-emulator (make build).")
	flag.StringVar(&r.controlPlane, "control-plane", filepath.Join(home, "mmelink", "k8s-"+testenv.K8sVersion), "hack/control-plane.sh's output.")
	flag.StringVar(&r.node, "node", filepath.Join(home, "mmelink", "node-"+testenv.K8sVersion), "hack/node.sh's output.")
	flag.StringVar(&r.install, "install", "kubectl", "How to install the operator: kubectl (dist/install.yaml) or helm (charts/mmelink, installed then upgraded).")
	flag.IntVar(&r.deliveries, "deliveries", 120, "How many referral deliveries to send.")
	flag.DurationVar(&r.timeout, "timeout", 4*time.Minute, "How long to wait for each step (Deployments Available, samples Ready, counts).")
	flag.BoolVar(&r.keepLogs, "keep-logs", false, "Keep the cluster's temp dir (logs) even when the run passes.")
	flag.Parse()

	ctrl.SetLogger(logr.Discard()) // the client's; what matters is printed
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	start := time.Now()
	err := r.run(ctx)
	stop()
	if cerr := r.cleanup(err != nil); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "test-cluster FAILED:", err)
		os.Exit(1)
	}
	step(fmt.Sprintf("PASS in %s; the cluster, its pods and the emulator are stopped", time.Since(start).Round(time.Second)))
}

func (r *run) run(ctx context.Context) error {
	install, ok := installers[r.install]
	if !ok {
		return fmt.Errorf("--install=%s: not one of the install methods", r.install)
	}
	var err error
	if r.dir, err = os.MkdirTemp("", "mmelink-clustertest-"); err != nil {
		return err
	}
	step("Building the operator's image from the Dockerfile (no Docker daemon) and the pause image")
	image := "ghcr.io/mmelink/operator:cluster-test" // not :latest, which the kubelet would always pull
	opArchive, pauseArchive := filepath.Join(r.dir, "operator.tar"), filepath.Join(r.dir, "pause.tar")
	if err := imagebuild.Operator(ctx, ".", "Dockerfile", image, opArchive); err != nil {
		return err
	}
	if err := imagebuild.Pause(ctx, ".", "./hack/pause", cluster.PauseImage, pauseArchive); err != nil {
		return err
	}

	step("Starting a one-node cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet, kube-proxy")
	if r.c, err = cluster.Start(ctx, cluster.Options{ControlPlane: r.controlPlane, Node: r.node,
		PauseArchive: pauseArchive, Log: os.Stdout}); err != nil {
		return err
	}
	fmt.Println("  kubeconfig:", r.c.Kubeconfig())
	if err := r.c.LoadImage(ctx, opArchive); err != nil {
		return err
	}

	step("Starting the Graph API emulator on the host, where pods reach it (" + r.c.HostIP() + ")")
	if r.emulator, err = newEmulator(r.c.HostIP(), r.dir); err != nil {
		return err
	}
	r.appSecret, r.token = r.emulator.appSecret, randomHex(12)

	step("Installing the operator (" + r.install + "), the webhook Secret first so that no pod waits for it")
	if err := r.webhookSecret(ctx); err != nil {
		return err
	}
	if err := install(ctx, r.c, Install{Image: image, Dir: r.dir, Helm: filepath.Join(r.bin, "helm"),
		Retired: func(p deletedPod) { r.retired = append(r.retired, p) }, ManagerArgs: []string{
			"--graph-api-url=" + r.emulator.url, "--messenger-app-id=1234567890"}}); err != nil {
		return err
	}
	ip, err := r.c.Run(ctx, "get", "-n", namespace, "service", "mmelink-webhook-server", "-o", "jsonpath={.spec.clusterIP}")
	if err != nil {
		return err
	}
	r.webhook = "http://" + strings.TrimSpace(ip) + "/webhook"
	if err := r.emulator.start(ctx, filepath.Join(r.bin, "graph-emulator"), r.webhook); err != nil {
		return err
	}
	fmt.Println("  Graph API URL:", r.emulator.url, " webhook Service:", r.webhook)

	step("Waiting for every Deployment to be Available")
	if err := r.kubectl(ctx, "wait", "-n", namespace, "--for=condition=Available", "deployment", "--all", "--timeout="+r.timeout.String()); err != nil {
		return errors.Join(err, r.describe(ctx))
	}
	if err := r.samples(ctx); err != nil {
		return errors.Join(err, r.describe(ctx))
	}
	traffic, stats, err := r.traffic(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("  %d deliveries, %d answers other than 200 (or no answer) resent\n", len(traffic), stats.resent.Load())
	if err := r.checkCounts(ctx, traffic); err != nil {
		return err
	}
	step("Waiting for the webhook server's Deployment to be Available again (the deleted pod replaced)")
	if err := r.kubectl(ctx, "wait", "-n", namespace, "--for=condition=Available", "deployment", "--all", "--timeout="+r.timeout.String()); err != nil {
		return err
	}
	return r.audit(ctx)
}

func (r *run) cleanup(failed bool) error {
	var errs []error
	if r.emulator != nil {
		if err := r.emulator.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if r.c != nil {
		stop := r.c.Stop
		if failed || r.keepLogs {
			stop = r.c.StopKeepingLogs
		}
		if err := stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping the cluster: %w", err))
		}
	}
	if r.dir != "" {
		if failed || r.keepLogs {
			fmt.Fprintln(os.Stderr, "emulator log and manifests kept in", r.dir)
		} else {
			_ = os.RemoveAll(r.dir)
		}
	}
	return errors.Join(errs...)
}

// kubectl runs kubectl, its output shown.
func (r *run) kubectl(ctx context.Context, args ...string) error {
	out, err := r.c.Run(ctx, args...)
	if s := strings.TrimSpace(out); s != "" {
		fmt.Println("  " + strings.ReplaceAll(s, "\n", "\n  "))
	}
	return err
}

// describe shows the pods and events when a wait fails, so that the reason is in the output.
func (r *run) describe(ctx context.Context) error {
	out, _ := r.c.Run(ctx, "get", "pods,events", "-A", "-o", "wide")
	fmt.Println(out)
	return nil
}

func step(msg string) { fmt.Printf("\n==> %s\n", msg) }
