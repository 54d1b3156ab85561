// Package cluster starts a one-node Kubernetes cluster from the binaries hack/control-plane.sh and
// hack/node.sh build (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd with runc,
// the kubelet and kube-proxy) in a temp dir and namespaces of its own, for tests that run the operator as
// pods (make test-cluster). See docs/test-cluster.md for what this machine needs and why.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Options says where the binaries are.
type Options struct {
	ControlPlane string // kube-apiserver, etcd, kubectl (hack/control-plane.sh)
	Node         string // kubelet, kube-*, containerd, ctr, cni/ (hack/node.sh)
	Runc         string // default: runc from PATH
	PauseArchive string // the pause image as a docker archive, tagged PauseImage
	Log          io.Writer
}

// Cluster is a running one-node cluster; Stop ends all of it.
type Cluster struct {
	opts           Options
	root           string
	holder         *holder
	cg             *cgroups
	net            subnet
	pki            *pki
	kubeconfig     string
	containerdSock string
	procs          []*proc
	tunables       map[string]string
	http           *http.Client
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Kubeconfig is the path of an admin kubeconfig for the cluster.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// HostIP is the host's address on the node's link: a host process listening there is reachable from pods.
func (c *Cluster) HostIP() string { return c.net.hostIP() }

// Root is the cluster's temp dir (logs in Root()/logs).
func (c *Cluster) Root() string { return c.root }

// Kubectl is the path of kubectl.
func (c *Cluster) Kubectl() string { return filepath.Join(c.opts.ControlPlane, "kubectl") }

func (c *Cluster) path(p string) string { return filepath.Join(c.root, p) }

func (c *Cluster) logf(format string, args ...any) {
	if c.opts.Log != nil {
		_, _ = fmt.Fprintf(c.opts.Log, "cluster: "+format+"\n", args...)
	}
}

// Start brings the cluster up and returns once the node is Ready and Services answer; on an error it
// stops what it started.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Runc == "" {
		if opts.Runc, err = exec.LookPath("runc"); err != nil {
			return nil, fmt.Errorf("runc is needed (apt-get install runc): %w", err)
		}
	}
	root, err := os.MkdirTemp("", "mmelink-cluster-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{opts: opts, root: root, tunables: saveTunables()}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w (logs: %s)", err, c.path("logs"))
			if serr := c.stop(true); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	c.containerdSock = c.path("containerd/containerd.sock")
	for _, d := range []string{"logs", "etcd", "kubelet", "containerd", "cni/net.d", "config"} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			return c, err
		}
	}
	if c.cg, err = newCgroups(filepath.Base(root)); err != nil {
		return c, err
	}
	holderLog, err := os.Create(c.path("logs/holder.log"))
	if err != nil {
		return c, err
	}
	defer func() { _ = holderLog.Close() }()
	if c.holder, err = startHolder(holderLog); err != nil {
		return c, err
	}
	if err := c.cg.join(c.holder.pid); err != nil {
		return c, err
	}
	if c.net, err = c.holder.wire(); err != nil {
		return c, err
	}
	c.logf("node namespaces held by pid %d, node IP %s, host IP %s, pods %s, Services %s",
		c.holder.pid, c.net.nodeIP(), c.net.hostIP(), c.net.podCIDR(), c.net.serviceCIDR())
	if c.pki, err = newPKI(c.path("pki"), parseIPs(c.net.nodeIP(), c.net.apiServiceIP(), "127.0.0.1")); err != nil {
		return c, err
	}
	c.kubeconfig = c.path("kubeconfig")
	if err := writeFile(c.kubeconfig, c.kubeconfigFor("https://"+c.net.nodeIP()+":6443")); err != nil {
		return c, err
	}
	if err := c.httpClient(); err != nil {
		return c, err
	}
	for _, step := range []func(context.Context) error{c.startControlPlane, c.startContainerd, c.startKubelet, c.startKubeProxy} {
		if err := step(ctx); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (c *Cluster) startControlPlane(ctx context.Context) error {
	cp := func(b string) string { return filepath.Join(c.opts.ControlPlane, b) }
	node := func(b string) string { return filepath.Join(c.opts.Node, b) }
	// etcd and the components' own ports are on the node's loopback: private to this cluster.
	if err := c.start("etcd", cp("etcd"), "--data-dir="+c.path("etcd"), "--listen-client-urls=http://127.0.0.1:2379",
		"--advertise-client-urls=http://127.0.0.1:2379", "--listen-peer-urls=http://127.0.0.1:2380",
		"--initial-advertise-peer-urls=http://127.0.0.1:2380", "--initial-cluster=default=http://127.0.0.1:2380",
		"--unsafe-no-fsync"); err != nil {
		return err
	}
	if err := c.start("kube-apiserver", cp("kube-apiserver"), "--etcd-servers=http://127.0.0.1:2379",
		"--bind-address="+c.net.nodeIP(), "--advertise-address="+c.net.nodeIP(), "--secure-port=6443",
		"--tls-cert-file="+c.pki.APIcert, "--tls-private-key-file="+c.pki.APIkey, "--client-ca-file="+c.pki.CA,
		"--service-cluster-ip-range="+c.net.serviceCIDR(), "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+c.pki.SApub, "--service-account-signing-key-file="+c.pki.SAkey,
		"--kubelet-preferred-address-types=InternalIP", "--kubelet-client-certificate="+c.pki.Admin, "--kubelet-client-key="+c.pki.AdminKey,
		"--cert-dir="+c.path("apiserver")); err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, "https://"+c.net.nodeIP()+":6443/readyz", 2*time.Minute); err != nil {
		return fmt.Errorf("kube-apiserver not ready: %w", err)
	}
	if err := c.start("kube-controller-manager", node("kube-controller-manager"), "--kubeconfig="+c.kubeconfig,
		"--service-account-private-key-file="+c.pki.SAkey, "--root-ca-file="+c.pki.CA, "--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port=10257", "--cluster-cidr="+c.net.podCIDR(),
		"--service-cluster-ip-range="+c.net.serviceCIDR(), "--flex-volume-plugin-dir="+c.path("kcm/volume-plugins")); err != nil {
		return err
	}
	return c.start("kube-scheduler", node("kube-scheduler"), "--kubeconfig="+c.kubeconfig, "--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port=10259")
}

func (c *Cluster) startContainerd(ctx context.Context) error {
	cfg := c.path("config/containerd.toml")
	if err := writeFile(cfg, c.containerdConfig()); err != nil {
		return err
	}
	if err := writeFile(c.path("cni/net.d/10-mmelink.conflist"), c.cniConfig()); err != nil {
		return err
	}
	if err := c.start("containerd", filepath.Join(c.opts.Node, "containerd"), "--config="+cfg); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if err := exec.CommandContext(ctx, c.ctr(), "--address", c.containerdSock, "version").Run(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("containerd did not answer within a minute")
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	if c.opts.PauseArchive == "" {
		return errors.New("no pause image archive (Options.PauseArchive)")
	}
	return c.LoadImage(ctx, c.opts.PauseArchive)
}

func (c *Cluster) ctr() string { return filepath.Join(c.opts.Node, "ctr") }

// LoadImage imports a docker or OCI archive into the node's containerd, where the kubelet finds it.
func (c *Cluster) LoadImage(ctx context.Context, archive string) error {
	out, err := exec.CommandContext(ctx, c.ctr(), "--address", c.containerdSock, "-n", "k8s.io", "images", "import", archive).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import %s: %w: %s", archive, err, out)
	}
	return nil
}

func (c *Cluster) startKubelet(ctx context.Context) error {
	cfg := c.path("config/kubelet.yaml")
	if err := writeFile(cfg, c.kubeletConfig()); err != nil {
		return err
	}
	// The kubelet sets global kernel tunables; Stop puts back what tunables (saved in Start) says.
	if err := c.start("kubelet", filepath.Join(c.opts.Node, "kubelet"), "--config="+cfg, "--kubeconfig="+c.kubeconfig,
		"--root-dir="+c.path("kubelet/root"), "--hostname-override="+NodeName, "--node-ip="+c.net.nodeIP()); err != nil {
		return err
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, err := c.kubectl(ctx, "get", "node", NodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err == nil && strings.TrimSpace(out) == "True" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s not Ready within 3 minutes (Ready=%q): %w", NodeName, out, err)
		}
		if err := c.alive(); err != nil {
			return err
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

// startKubeProxy starts kube-proxy and waits until the kubernetes Service answers through it from the
// host (its ClusterIP is routed to the node, where kube-proxy's rules send it on to the API server).
func (c *Cluster) startKubeProxy(ctx context.Context) error {
	cfg := c.path("config/kube-proxy.yaml")
	if err := writeFile(cfg, c.kubeProxyConfig()); err != nil {
		return err
	}
	if err := c.start("kube-proxy", filepath.Join(c.opts.Node, "kube-proxy"), "--config="+cfg); err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, "https://"+c.net.apiServiceIP()+":443/readyz", 2*time.Minute); err != nil {
		return fmt.Errorf("the kubernetes Service does not answer through kube-proxy: %w", err)
	}
	return nil
}

// start runs argv inside the node's namespaces and cgroup, logging to logs/NAME.log.
func (c *Cluster) start(name string, argv ...string) error {
	log, err := os.Create(c.path("logs/" + name + ".log"))
	if err != nil {
		return err
	}
	full := c.holder.in(argv...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "PATH="+c.opts.Node+":"+os.Getenv("PATH"))
	// Its own process group, killed with the test process if that dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); _ = log.Close(); close(p.done) }()
	c.procs = append(c.procs, p)
	c.logf("%s running (pid %d)", name, cmd.Process.Pid)
	return c.cg.join(cmd.Process.Pid)
}

// alive fails when a component has exited.
func (c *Cluster) alive() error {
	for _, p := range c.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %w (log: %s)", p.name, p.err, c.path("logs/"+p.name+".log"))
		default:
		}
	}
	return nil
}

// Alive fails when a component of the cluster has exited since Start.
func (c *Cluster) Alive() error { return c.alive() }

// Stop ends every process of the cluster (the components, containerd's shims, the pods), removes its
// namespaces, cgroups and temp dir, and puts back the kernel tunables the kubelet changed.
func (c *Cluster) Stop() error { return c.stop(false) }

// StopKeepingLogs is Stop that leaves the temp dir (logs/) for a person to read.
func (c *Cluster) StopKeepingLogs() error { return c.stop(true) }

func (c *Cluster) stop(keep bool) error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
			// Said, not failed: what matters is that nothing is left, which the cgroup's check below ensures.
			c.logf("%s did not stop within 30s of SIGTERM and was killed", p.name)
		}
	}
	if c.cg != nil {
		if err := c.cg.killAll(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.holder != nil {
		c.holder.stop()
	}
	if err := restoreTunables(c.tunables); err != nil {
		errs = append(errs, err)
	}
	if keep {
		c.logf("logs kept in %s", c.path("logs"))
	} else if err := os.RemoveAll(c.root); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Cluster) httpClient() error {
	ca, err := os.ReadFile(c.pki.CA)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(c.pki.Admin, c.pki.AdminKey)
	if err != nil {
		return err
	}
	c.http = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}}
	return nil
}

func (c *Cluster) waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.http.Do(req)
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
		if aerr := c.alive(); aerr != nil {
			return aerr
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// kubectl runs kubectl against the cluster and returns its stdout.
func (c *Cluster) kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.Kubectl(), append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Run runs kubectl against the cluster and returns its stdout.
func (c *Cluster) Run(ctx context.Context, args ...string) (string, error) {
	return c.kubectl(ctx, args...)
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
