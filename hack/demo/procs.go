package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// binaries are the programs the demo runs from --bin; checkNothingLeft looks for each of them.
var binaries = []string{"graph-emulator", "webhook-server", "manager"}

// proc is a process the demo started; cleanup stops them in reverse order.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
}

func (d *demo) logPath(name string) string { return filepath.Join(d.dir, name+".log") }

// start runs a binary from --bin in the background with the demo's kubeconfig, logging to the temp dir.
func (d *demo) start(name string, args ...string) error {
	_, err := d.startWith(name, nil, args...)
	return err
}

// startWith is start with extra environment; the process's stdout is returned as a pipe when the caller
// needs to read it (the emulator prints its URL there).
func (d *demo) startWith(name string, env []string, args ...string) (stdout *os.File, err error) {
	cmd := exec.Command(filepath.Join(d.bin, name), args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+d.kubeconfig), env...)
	// Its own process group: a Ctrl-C in the terminal reaches the demo only, which stops the processes
	// in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logFile, err := os.Create(d.logPath(name))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	var w *os.File
	if name == "graph-emulator" {
		if stdout, w, err = os.Pipe(); err != nil {
			return nil, err
		}
		cmd.Stdout = w
	}
	err = cmd.Start()
	if w != nil {
		_ = w.Close()
	}
	if err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	fmt.Printf("  %s running (pid %d), log: %s\n", name, cmd.Process.Pid, d.logPath(name))
	d.procs = append(d.procs, &proc{name: name, cmd: cmd, log: logFile})
	return stdout, nil
}

// startEmulator runs the graph emulator with the sample's Page token (from the environment, not the
// process list) and reads the URL it prints first.
func (d *demo) startEmulator(ctx context.Context, pageID, token string) error {
	args := []string{"-listen=127.0.0.1:0", "-webhook-url=" + d.webhookURL, "-app-secret-file=" + d.appSecretFile,
		"-confirm-delay=1s", "-app-id=" + demoAppID}
	if d.check {
		args = append(args, emulatorCheckFlags()...)
	}
	out, err := d.startWith("graph-emulator", []string{"GRAPH_EMULATOR_PAGES=" + pageID + "=" + token}, args...)
	if err != nil {
		return err
	}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		line, _ := r.ReadString('\n')
		lines <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, r)
		_ = out.Close()
	}()
	select {
	case line := <-lines:
		if _, err := url.Parse(line); err != nil || !strings.HasPrefix(line, "http://") {
			return fmt.Errorf("graph emulator printed %q, not its URL (log: %s)", line, d.logPath("graph-emulator"))
		}
		d.emulatorURL = line
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("graph emulator did not print its URL within 30s")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeSecrets writes a random app secret and verify token to files in the temp dir, as a mounted Secret
// would hold them.
func (d *demo) writeSecrets() error {
	d.appSecret, d.verifyToken = randomHex(16), "mmelink-demo-"+randomHex(6)
	d.appSecretFile, d.tokenFile = filepath.Join(d.dir, "app-secret"), filepath.Join(d.dir, "verify-token")
	if err := os.WriteFile(d.appSecretFile, []byte(d.appSecret+"\n"), 0o600); err != nil {
		return err
	}
	return os.WriteFile(d.tokenFile, []byte(d.verifyToken+"\n"), 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePort asks the kernel for a free loopback port and releases it (good enough for a demo).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until it answers 200.
func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %s", url, resp.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// writeKubeconfig writes the kubeconfig of the demo's user, which kubectl and the manager use, and one of
// the webhook server's own user (so that the --check outage can tell its requests apart).
func (d *demo) writeKubeconfig() error {
	for _, u := range []struct {
		name string
		path *string
		file string
	}{{"demo", &d.kubeconfig, "kubeconfig"}, {webhookUser, &d.webhookKubeconfig, "webhook-server.kubeconfig"}} {
		user, err := d.env.AddUser(envtest.User{Name: u.name, Groups: []string{"system:masters"}}, nil)
		if err != nil {
			return fmt.Errorf("creating the user %s: %w", u.name, err)
		}
		kc, err := user.KubeConfig()
		if err != nil {
			return err
		}
		*u.path = filepath.Join(d.dir, u.file)
		if err := os.WriteFile(*u.path, kc, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// stop sends SIGTERM to p and waits for it (SIGKILL after 10 s); an exit other than a clean one is an error.
func (p *proc) stop() error {
	defer func() { _ = p.log.Close() }()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("%s exited badly after SIGTERM: %w", p.name, err)
		}
		return nil
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("%s did not stop within 10s after SIGTERM and was killed: %w", p.name, <-exited)
	}
}

// restartWebhookServer stops the webhook server (keeping its log as webhook-server.before-restart.log) and
// starts it again on the same address.
func (d *demo) restartWebhookServer(ctx context.Context) error {
	for i, p := range d.procs {
		if p.name != "webhook-server" {
			continue
		}
		step(fmt.Sprintf("Restarting the webhook server: SIGTERM to pid %d, then a new one on %s", p.cmd.Process.Pid, d.webhookAddr))
		d.procs = append(d.procs[:i:i], d.procs[i+1:]...)
		if err := p.stop(); err != nil {
			return err
		}
		if err := os.Rename(d.logPath(p.name), filepath.Join(d.dir, p.name+".before-restart.log")); err != nil {
			return err
		}
		return d.startWebhookServer(ctx)
	}
	return errors.New("no webhook-server process to restart")
}

// cleanup stops the processes in reverse order (SIGTERM, then SIGKILL after 10 s) and the control plane.
func (d *demo) cleanup(keepLogs bool) error {
	var errs []error
	for i := len(d.procs) - 1; i >= 0; i-- {
		if err := d.procs[i].stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.env != nil {
		if err := d.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping the control plane: %w", err))
		}
	}
	if d.dir != "" {
		if keepLogs || len(errs) > 0 {
			fmt.Fprintln(os.Stderr, "logs kept in", d.dir)
		} else {
			_ = os.RemoveAll(d.dir)
		}
	}
	return errors.Join(errs...)
}

// checkNothingLeft fails when a process of the demo's binaries still runs (pgrep -f on their paths, anchored
// at the start of the command line so that the demo's own arguments do not match), or the control plane's.
func (d *demo) checkNothingLeft() error {
	var patterns []string
	for _, b := range binaries {
		patterns = append(patterns, "^"+regexp.QuoteMeta(filepath.Join(d.bin, b))+"( |$)")
	}
	if d.env != nil && d.env.ControlPlane.APIServer != nil && d.env.ControlPlane.APIServer.Port != "" {
		// Only this demo's control plane: other control planes from the same assets may run meanwhile (tests).
		patterns = append(patterns, "kube-apiserver .*--secure-port="+d.env.ControlPlane.APIServer.Port+"( |$)")
	}
	if d.env != nil && d.env.ControlPlane.Etcd != nil && d.env.ControlPlane.Etcd.URL != nil {
		patterns = append(patterns, "etcd .*"+regexp.QuoteMeta(d.env.ControlPlane.Etcd.URL.Host)+"( |$|,)")
	}
	var left []string
	for _, p := range patterns {
		out, err := exec.Command("pgrep", "-a", "-f", p).Output()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit) && exit.ExitCode() == 1: // nothing matched
		case err != nil:
			return fmt.Errorf("pgrep -f %q: %w", p, err)
		default:
			left = append(left, strings.TrimSpace(string(out)))
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("processes still running after the demo:\n%s", strings.Join(left, "\n"))
	}
	return nil
}
