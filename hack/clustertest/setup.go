package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/mmelink/operator/hack/internal/samples"
)

// emulator is the Graph API emulator, run on the host at the address pods reach it by.
type emulator struct {
	url, listen, dir string
	appSecret        string
	cmd              *exec.Cmd
	done             chan struct{} // closed when the emulator has exited, with its exit in err
	err              error
}

func newEmulator(hostIP, dir string) (*emulator, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(hostIP, "0"))
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	e := &emulator{listen: net.JoinHostPort(hostIP, strconv.Itoa(port)), dir: dir, appSecret: randomHex(16)}
	e.url = "http://" + e.listen
	return e, nil
}

// start runs the emulator with the samples' Page token, confirming registrations through webhook (the
// webhook Service).
func (e *emulator) start(ctx context.Context, bin, webhook string) error {
	pageID, token, err := samples.Token("config/samples")
	if err != nil {
		return err
	}
	secretFile := filepath.Join(e.dir, "app-secret")
	if err := os.WriteFile(secretFile, []byte(e.appSecret), 0o600); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(e.dir, "graph-emulator.log"))
	if err != nil {
		return err
	}
	e.cmd = exec.Command(bin, "-listen="+e.listen, "-webhook-url="+webhook, "-app-secret-file="+secretFile, "-confirm-delay=1s")
	e.cmd.Env = append(os.Environ(), "GRAPH_EMULATOR_PAGES="+pageID+"="+token)
	e.cmd.Stdout, e.cmd.Stderr = log, log
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := e.cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("starting the graph emulator (make build): %w", err)
	}
	e.done = make(chan struct{})
	go func() { e.err = e.cmd.Wait(); _ = log.Close(); close(e.done) }()
	for i := 0; i < 100; i++ {
		if conn, err := net.DialTimeout("tcp", e.listen, time.Second); err == nil {
			_ = conn.Close()
			return nil
		}
		select {
		case <-e.done:
			return fmt.Errorf("graph emulator exited: %w (log: %s)", e.err, log.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("graph emulator not listening on %s within 10s", e.listen)
}

func (e *emulator) stop() error {
	if e.cmd == nil || e.cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-e.done:
		return nil
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.done
		return fmt.Errorf("graph emulator did not stop within 10s of SIGTERM")
	}
}

// webhookSecret applies config/webhook-server/secret.example.yaml with its two values filled in, as the
// example says a person does.
func (r *run) webhookSecret(ctx context.Context) error {
	b, err := os.ReadFile("config/webhook-server/secret.example.yaml")
	if err != nil {
		return err
	}
	var s map[string]any
	if err := yaml.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("parsing the Secret example: %w", err)
	}
	data, ok := s["stringData"].(map[string]any)
	if !ok {
		return fmt.Errorf("the Secret example has no stringData")
	}
	for _, k := range []string{"app-secret", "verify-token"} {
		if _, ok := data[k]; !ok {
			return fmt.Errorf("the Secret example has no %s", k)
		}
	}
	// A trailing newline, as `--from-file` of a file written by an editor gives; the server ignores it.
	data["app-secret"], data["verify-token"] = r.appSecret+"\n", r.token+"\n"
	out, err := yaml.Marshal(s)
	if err != nil {
		return err
	}
	// The namespace as dist/install.yaml declares it; the install applies over it.
	if _, err := r.c.Run(ctx, "create", "namespace", namespace); err != nil {
		return err
	}
	path := filepath.Join(r.dir, "webhook-secret.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return err
	}
	return r.kubectl(ctx, "apply", "--server-side", "-f", path)
}

// samples applies config/samples and waits as the demo does.
func (r *run) samples(ctx context.Context) error {
	step("Applying config/samples; waiting for the MessengerPage and the links to be Ready and the topic Registered (through the emulator)")
	to := "--timeout=" + r.timeout.String()
	for _, args := range [][]string{
		{"apply", "--server-side", "-n", "default", "-k", "config/samples"},
		{"wait", "-n", "default", "--for=condition=Ready", "mpage/acme-shoes", to},
		{"wait", "-n", "default", "--for=condition=Ready", "mlink", "--all", to},
		{"wait", "-n", "default", "--for=condition=Registered", "ntopic/weekly-deals", to},
	} {
		if err := r.kubectl(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
