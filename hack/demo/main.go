// Command demo runs the operator on a local control plane: it starts kube-apiserver and etcd, installs the
// CRDs, runs the manager binary as a real process, applies config/samples, waits for the links to be
// Ready, shows what a person would look at, and stops everything it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/qr"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/testenv"
)

type demo struct {
	manager, kubectl, samples, out string
	timeout                        time.Duration

	env        *envtest.Environment
	kubeconfig string
	procs      []*exec.Cmd
}

func main() {
	d := &demo{}
	flag.StringVar(&d.manager, "manager", "bin/manager", "Path of the manager binary.")
	flag.StringVar(&d.kubectl, "kubectl", "", "Path of kubectl (default: the one built by hack/control-plane.sh).")
	flag.StringVar(&d.samples, "samples", "config/samples/messenger_v1alpha1_messengerlink.yaml", "Manifests to apply.")
	flag.StringVar(&d.out, "out", "demo-output", "Folder the QR images are written to.")
	flag.DurationVar(&d.timeout, "timeout", 2*time.Minute, "How long to wait for the samples to be Ready.")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := d.run(ctx)
	stop()
	if cerr := d.cleanup(err != nil); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func (d *demo) run(ctx context.Context) error {
	if d.kubectl == "" {
		assets, err := testenv.Assets()
		if err != nil {
			return err
		}
		d.kubectl = filepath.Join(assets, "kubectl")
	}
	step("Starting a local control plane (kube-apiserver and etcd) with the CRDs installed")
	env, err := testenv.New()
	if err != nil {
		return err
	}
	d.env = env
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	if err := d.writeKubeconfig(); err != nil {
		return err
	}
	fmt.Println("  kubeconfig:", d.kubeconfig)

	step("Starting the manager")
	if err := d.start("manager", d.manager, "--leader-elect=false", "--metrics-bind-address=0", "--webhook-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:0", "--messenger-app-id=1234567890"); err != nil {
		return err
	}

	step("Applying " + d.samples)
	if err := d.kubectlRun(ctx, "apply", "-n", "default", "-f", d.samples); err != nil {
		return err
	}

	step("Waiting for the links to be Ready")
	if err := d.kubectlRun(ctx, "wait", "-n", "default", "--for=condition=Ready", "mlink", "--all",
		"--timeout="+d.timeout.String()); err != nil {
		return err
	}

	step("kubectl get mlink -o wide")
	if err := d.kubectlRun(ctx, "get", "mlink", "-n", "default", "-o", "wide"); err != nil {
		return err
	}
	return d.show(ctx)
}

// show prints each link with its QR code and writes the PNGs.
func (d *demo) show(ctx context.Context) error {
	c, err := client.New(d.env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	var links messengerv1.MessengerLinkList
	if err := c.List(ctx, &links, client.InNamespace("default")); err != nil {
		return err
	}
	if err := os.MkdirAll(d.out, 0o755); err != nil {
		return err
	}
	for _, l := range links.Items {
		var cm corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: l.Status.ConfigMapName}, &cm); err != nil {
			return fmt.Errorf("reading ConfigMap of %s: %w", l.Name, err)
		}
		step(fmt.Sprintf("MessengerLink %s: %s", l.Name, l.Status.URL))
		code, err := qr.Encode(l.Status.URL, qr.Options{Size: 256, Level: qr.M, QuietZone: 2})
		if err != nil {
			return err
		}
		fmt.Println(code.Terminal())
		for key, name := range map[string]string{"qr.png": l.Name + ".png"} {
			if png, ok := cm.BinaryData[key]; ok {
				path := filepath.Join(d.out, name)
				if err := os.WriteFile(path, png, 0o644); err != nil {
					return err
				}
				fmt.Printf("  %s written (%d bytes), from ConfigMap %s\n", path, len(png), cm.Name)
			}
		}
		if svg, ok := cm.Data["qr.svg"]; ok {
			path := filepath.Join(d.out, l.Name+".svg")
			if err := os.WriteFile(path, []byte(svg), 0o644); err != nil {
				return err
			}
			fmt.Printf("  %s written\n", path)
		}
	}
	abs, _ := filepath.Abs(d.out)
	step("Done. QR images are in " + abs)
	return nil
}

func (d *demo) writeKubeconfig() error {
	user, err := d.env.AddUser(envtest.User{Name: "demo", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the demo user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "mmelink-demo-")
	if err != nil {
		return err
	}
	d.kubeconfig = filepath.Join(dir, "kubeconfig")
	return os.WriteFile(d.kubeconfig, kc, 0o600)
}

// start runs a binary in the background with the demo's kubeconfig; cleanup stops it.
func (d *demo) start(name, path string, args ...string) error {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+d.kubeconfig)
	logPath := filepath.Join(filepath.Dir(d.kubeconfig), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	fmt.Printf("  %s running (pid %d), log: %s\n", name, cmd.Process.Pid, logPath)
	d.procs = append(d.procs, cmd)
	return nil
}

func (d *demo) kubectlRun(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, d.kubectl, append([]string{"--kubeconfig", d.kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %v: %w", args, err)
	}
	return nil
}

// cleanup stops the processes (SIGTERM, then SIGKILL after 10 s) and the control plane.
func (d *demo) cleanup(keepLogs bool) error {
	var errs []error
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		exited := make(chan error, 1)
		go func() { exited <- p.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				errs = append(errs, fmt.Errorf("%s exited badly after SIGTERM: %w", p.Path, err))
			}
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			errs = append(errs, fmt.Errorf("%s did not stop within 10s after SIGTERM and was killed: %w", p.Path, <-exited))
		}
	}
	if d.env != nil {
		if err := d.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping the control plane: %w", err))
		}
	}
	if d.kubeconfig != "" {
		if keepLogs || len(errs) > 0 {
			fmt.Fprintln(os.Stderr, "logs kept in", filepath.Dir(d.kubeconfig))
		} else {
			_ = os.RemoveAll(filepath.Dir(d.kubeconfig))
		}
	}
	if len(errs) == 0 && d.env != nil {
		step("Stopped the manager and the control plane; nothing is left running")
	}
	return errors.Join(errs...)
}

func step(msg string) { fmt.Printf("\n==> %s\n", msg) }
