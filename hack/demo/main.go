// Command demo runs the whole product on one machine: it starts kube-apiserver and etcd, installs the CRDs,
// runs the Graph API emulator, the webhook-server and the manager as real processes, applies
// config/samples, waits for the MessengerPage and the links to be Ready and the topic to be Registered (the emulator confirms
// the registration through the webhook server), sends Meta-like signed deliveries to the webhook server,
// shows what a person would look at, and stops everything it started.
//
// With --keep-running it stops after the setup and keeps everything running until Ctrl-C, printing what a
// person needs to try things by hand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/mmelink/operator/hack/internal/samples"
	"github.com/mmelink/operator/internal/testenv"
)

type demo struct {
	bin, kubectl, samples, out string
	timeout                    time.Duration
	keepRunning, check         bool

	env        *envtest.Environment
	dir        string // temp dir: kubeconfig, secrets, logs
	kubeconfig string
	procs      []*proc

	emulatorURL, webhookURL  string
	webhookAddr              string
	pageID                   string
	webhookKubeconfig        string // the webhook server's own user (killswitch.go)
	managerMetrics           string // the manager's metrics address in --check mode
	appSecret, verifyToken   string
	appSecretFile, tokenFile string
}

func main() {
	d := &demo{}
	flag.StringVar(&d.bin, "bin", "bin", "Folder holding the manager, webhook-server and graph-emulator binaries.")
	flag.StringVar(&d.kubectl, "kubectl", "", "Path of kubectl (default: the one built by hack/control-plane.sh).")
	flag.StringVar(&d.samples, "samples", "config/samples", "Kustomization of the samples to apply (kubectl apply -k).")
	flag.StringVar(&d.out, "out", "demo-output", "Folder the QR images are written to.")
	flag.DurationVar(&d.timeout, "timeout", 2*time.Minute, "How long to wait for the samples to be Ready and Registered.")
	flag.BoolVar(&d.keepRunning, "keep-running", false, "Keep everything running after the setup until Ctrl-C (make run-local).")
	flag.BoolVar(&d.check, "check", false, "Run the demo as an end-to-end test (make test-e2e): restart the webhook server "+
		"halfway through the traffic, resend a delivery, and assert every status field instead of printing it; then fail "+
		"the webhook server's store until Meta's kill switch fires (in seconds) and assert the Page's recovery.")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := d.run(ctx)
	stop()
	if errors.Is(err, context.Canceled) && d.keepRunning {
		err = nil // Ctrl-C is how run-local ends
	}
	if cerr := d.cleanup(err != nil); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if lerr := d.checkNothingLeft(); lerr != nil {
		err = errors.Join(err, lerr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
	step("Stopped the emulator, webhook server, manager and control plane; nothing is left running")
}

func (d *demo) run(ctx context.Context) error {
	if err := d.setup(ctx); err != nil {
		return err
	}
	if d.keepRunning {
		d.printHandoff()
		<-ctx.Done()
		fmt.Println()
		step("Ctrl-C: shutting down")
		return ctx.Err()
	}
	traffic, err := d.simulateTraffic(ctx)
	if err != nil {
		return err
	}
	if d.check {
		if err := d.checkStatus(ctx, traffic); err != nil {
			return err
		}
		start := time.Now()
		more, err := d.checkKillSwitch(ctx, d.pageID)
		if err != nil {
			return err
		}
		if err := d.checkStatus(ctx, append(traffic, more...)); err != nil {
			return err
		}
		fmt.Printf("  the kill-switch phase took %s\n", time.Since(start).Round(time.Second))
		return nil
	}
	return d.show(ctx)
}

// setup starts the control plane and the three processes, applies the samples and waits for them.
func (d *demo) setup(ctx context.Context) error {
	abs, err := filepath.Abs(d.bin)
	if err != nil {
		return err
	}
	d.bin = abs
	if d.kubectl == "" {
		assets, err := testenv.Assets()
		if err != nil {
			return err
		}
		d.kubectl = filepath.Join(assets, "kubectl")
	}
	if d.dir, err = os.MkdirTemp("", "mmelink-demo-"); err != nil {
		return err
	}

	step("Starting a local control plane (kube-apiserver and etcd) with the CRDs installed")
	if d.env, err = testenv.New(); err != nil {
		return err
	}
	if _, err := d.env.Start(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	if err := d.writeKubeconfig(); err != nil {
		return err
	}
	fmt.Println("  kubeconfig:", d.kubeconfig)
	if err := d.writeSecrets(); err != nil {
		return err
	}

	webhookPort, err := freePort()
	if err != nil {
		return err
	}
	d.webhookAddr = fmt.Sprintf("127.0.0.1:%d", webhookPort)
	d.webhookURL = "http://" + d.webhookAddr + "/webhook"

	step("Starting the Graph API emulator (auto-confirms registration requests through the webhook server)")
	pageID, token, err := samples.Token(d.samples)
	if err != nil {
		return err
	}
	d.pageID = pageID
	if err := d.startEmulator(ctx, pageID, token); err != nil {
		return err
	}
	fmt.Println("  Graph API URL:", d.emulatorURL)

	step("Starting the webhook server on " + d.webhookAddr)
	if err := d.startWebhookServer(ctx); err != nil {
		return err
	}
	fmt.Println("  webhook URL:", d.webhookURL)

	step("Starting the manager (controllers; its bundled webhook server is off)")
	managerArgs := []string{"--metrics-bind-address=0", "--webhook-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:0", "--messenger-app-id=" + demoAppID, "--graph-api-url=" + d.emulatorURL}
	if d.check {
		port, err := freePort()
		if err != nil {
			return err
		}
		d.managerMetrics = fmt.Sprintf("127.0.0.1:%d", port)
		managerArgs = append(managerArgs, managerCheckFlags(d.managerMetrics)...)
	}
	if err := d.start("manager", managerArgs...); err != nil {
		return err
	}

	step("Applying " + d.samples + " (two MessengerLinks, a NotificationTopic and its token Secret, a MessengerPage)")
	if err := d.kubectlRun(ctx, "apply", "-n", "default", "-k", d.samples); err != nil {
		return err
	}
	step("Waiting for the MessengerPage to be Ready (the app subscribed, Get Started and the domain set in the emulator)")
	if err := d.kubectlRun(ctx, "wait", "-n", "default", "--for=condition=Ready", "mpage/acme-shoes",
		"--timeout="+d.timeout.String()); err != nil {
		return err
	}
	step("Waiting for the links to be Ready and the topic to be Registered")
	if err := d.kubectlRun(ctx, "wait", "-n", "default", "--for=condition=Ready", "mlink", "--all",
		"--timeout="+d.timeout.String()); err != nil {
		return err
	}
	return d.kubectlRun(ctx, "wait", "-n", "default", "--for=condition=Registered", "ntopic/weekly-deals",
		"--timeout="+d.timeout.String())
}

// startWebhookServer starts the webhook server on d.webhookAddr and waits for its readyz.
func (d *demo) startWebhookServer(ctx context.Context) error {
	args := []string{"--bind-address=" + d.webhookAddr, "--metrics-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:0", "--app-secret-file=" + d.appSecretFile,
		"--verify-token-file=" + d.tokenFile}
	if d.check {
		args = append(args, webhookCheckFlags()...)
	}
	if _, err := d.startWith("webhook-server", []string{"KUBECONFIG=" + d.webhookKubeconfig}, args...); err != nil {
		return err
	}
	if err := waitHTTP(ctx, "http://"+d.webhookAddr+"/readyz", d.timeout); err != nil {
		return fmt.Errorf("webhook server not ready: %w (log: %s)", err, d.logPath("webhook-server"))
	}
	return nil
}

// printHandoff tells a person how to reach what run-local started. Secrets are named by their files,
// never printed: the output ends up in terminals' scrollback and CI logs.
func (d *demo) printHandoff() {
	step("Everything is running. Press Ctrl-C to stop it all.")
	fmt.Printf(`  export KUBECONFIG=%s
  kubectl:           %s
  webhook URL:       %s
  verify token file: %s
  app secret file:   %s
  Graph API (emulator): %s
  logs:              %s/*.log

  Try:
    %s get mlink,ntopic,mpage -o wide
    curl "%s?hub.mode=subscribe&hub.verify_token=$(cat %s)&hub.challenge=42"
`, d.kubeconfig, d.kubectl, d.webhookURL, d.tokenFile, d.appSecretFile, d.emulatorURL, d.dir,
		d.kubectl, d.webhookURL, d.tokenFile)
}

// demoAppID is the Meta app of the demo: the manager keeps it subscribed, the emulator issues the
// sample's token to it and delivers its webhooks to the webhook server.
const demoAppID = "1234567890"

func step(msg string) { fmt.Printf("\n==> %s\n", msg) }
