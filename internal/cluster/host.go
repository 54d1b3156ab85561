package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The node lives in a network and a mount namespace of its own, held open by a sleeping process: its
// loopback, bridge, nftables rules (kube-proxy's) and net.* sysctls are private, so fixed ports
// inside it never collide with anything else on the machine, and its mounts (containerd's snapshots,
// the kubelet's Secret volumes, the pods' network namespaces) vanish with it. A veth pair joins it to
// the host: the host end is HostIP, where host processes (the Graph emulator) listen for pods; the node
// end is NodeIP, where the API server listens; routes send the pod and Service ranges to the node.

// subnet numbers a run's three /24s: 10.213.N.0 (the veth), 10.214.N.0 (pods), 10.215.N.0 (Services).
type subnet int

func (n subnet) hostIP() string      { return fmt.Sprintf("10.213.%d.1", n) }
func (n subnet) nodeIP() string      { return fmt.Sprintf("10.213.%d.2", n) }
func (n subnet) podCIDR() string     { return fmt.Sprintf("10.214.%d.0/24", n) }
func (n subnet) serviceCIDR() string { return fmt.Sprintf("10.215.%d.0/24", n) }
func (n subnet) apiServiceIP() string {
	return fmt.Sprintf("10.215.%d.1", n)
}
func (n subnet) hostLink() string { return fmt.Sprintf("mmlh%d", n) }

// holder is the process that keeps the node's namespaces open.
type holder struct {
	cmd *exec.Cmd
	pid int
}

func startHolder(log *os.File) (*holder, error) {
	cmd := exec.Command("unshare", "--net", "--mount", "--propagation", "private", "--", "sleep", "infinity")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the node's namespaces (unshare): %w", err)
	}
	h := &holder{cmd: cmd, pid: cmd.Process.Pid}
	// unshare execs sleep once the namespaces exist.
	for i := 0; ; i++ {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", h.pid)); strings.TrimSpace(string(b)) == "sleep" {
			return h, nil
		}
		if i > 100 {
			_ = cmd.Process.Kill()
			return nil, errors.New("unshare did not set up the node's namespaces within 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// in returns the command line that runs argv inside the node's namespaces.
func (h *holder) in(argv ...string) []string {
	return append([]string{"nsenter", "--target", strconv.Itoa(h.pid), "--net", "--mount", "--"}, argv...)
}

func run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// wire creates the veth pair on a free subnet, addresses both ends, routes the pod and Service ranges to
// the node, and mounts private tmpfs over the paths containerd and the CNI plugins hard-code.
func (h *holder) wire() (subnet, error) {
	used, _ := exec.Command("ip", "-o", "addr").Output()
	var n subnet
	var err error
	for _, i := range rand.Perm(250) {
		n = subnet(i + 1)
		if strings.Contains(string(used), fmt.Sprintf(" 10.213.%d.", n)) {
			continue
		}
		// Fails when another run took this link name meanwhile; then try the next.
		if err = run("ip", "link", "add", n.hostLink(), "type", "veth", "peer", "name", "eth0", "netns", strconv.Itoa(h.pid)); err == nil {
			break
		}
	}
	if err != nil {
		return 0, fmt.Errorf("no free subnet for the node: %w", err)
	}
	steps := [][]string{
		{"ip", "addr", "add", n.hostIP() + "/24", "dev", n.hostLink()},
		{"ip", "link", "set", n.hostLink(), "up"},
		h.in("ip", "link", "set", "lo", "up"),
		h.in("ip", "addr", "add", n.nodeIP()+"/24", "dev", "eth0"),
		h.in("ip", "link", "set", "eth0", "up"),
		{"ip", "route", "add", n.podCIDR(), "via", n.nodeIP()},
		{"ip", "route", "add", n.serviceCIDR(), "via", n.nodeIP()},
		// net.* sysctls are the namespace's own: the node routes between its pods, the host and Services.
		h.in("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1"),
	}
	for _, d := range []string{"/run/netns", "/run/containerd", "/var/lib/cni", "/run/nri"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, err
		}
		steps = append(steps, h.in("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", d))
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func (h *holder) stop() {
	_ = h.cmd.Process.Kill()
	_ = h.cmd.Wait()
}

// cgroups is the cgroup the node's processes run in (under every v1 hierarchy and the unified one); the
// kubelet's cgroupRoot, so that the pods land there too. Stopping the node kills what is left in it:
// containerd's shims and the containers, which outlive containerd by design.
type cgroups struct {
	name  string // e.g. /mmelink-cluster-123
	roots []string
}

func newCgroups(name string) (*cgroups, error) {
	c := &cgroups{name: "/" + name}
	dirs, err := filepath.Glob("/sys/fs/cgroup/*")
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, "cgroup.procs")); err != nil || st.IsDir() {
			continue
		}
		p := filepath.Join(d, name)
		if err := os.MkdirAll(filepath.Join(p, "system"), 0o755); err != nil {
			return nil, fmt.Errorf("creating cgroup %s: %w", p, err)
		}
		c.roots = append(c.roots, p)
		// A v1 cpuset cgroup starts without CPUs or memory nodes; give it its parent's.
		if filepath.Base(d) == "cpuset" {
			for _, sub := range []string{p, filepath.Join(p, "system")} {
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					v, err := os.ReadFile(filepath.Join(d, f))
					if err != nil {
						return nil, err
					}
					if err := os.WriteFile(filepath.Join(sub, f), v, 0o644); err != nil {
						return nil, fmt.Errorf("setting %s: %w", f, err)
					}
				}
			}
		}
	}
	return c, nil
}

// join moves pid into the node's system cgroup of every hierarchy.
func (c *cgroups) join(pid int) error {
	for _, r := range c.roots {
		if err := os.WriteFile(filepath.Join(r, "system", "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("moving pid %d into %s: %w", pid, r, err)
		}
	}
	return nil
}

// pids lists the processes left in the node's cgroups.
func (c *cgroups) pids() []int {
	seen := map[int]bool{}
	for _, r := range c.roots {
		_ = filepath.Walk(r, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					seen[pid] = true
				}
			}
			return nil
		})
	}
	out := make([]int, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}

// killAll SIGKILLs what is left and removes the cgroups, deepest first.
func (c *cgroups) killAll() error {
	for i := 0; i < 50; i++ {
		left := c.pids()
		if len(left) == 0 {
			break
		}
		for _, p := range left {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if left := c.pids(); len(left) > 0 {
		return fmt.Errorf("processes %v survive SIGKILL in the node's cgroups", left)
	}
	var errs []error
	for _, r := range c.roots {
		var dirs []string
		_ = filepath.Walk(r, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// kernelTunables are the global sysctls the kubelet sets (it has no mode that leaves them alone short of
// failing: protectKernelDefaults makes a mismatch fatal). Their values are saved before the kubelet starts
// and put back when the cluster stops.
var kernelTunables = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"}

func saveTunables() map[string]string {
	saved := map[string]string{}
	for _, t := range kernelTunables {
		if b, err := os.ReadFile("/proc/sys/" + t); err == nil {
			saved[t] = strings.TrimSpace(string(b))
		}
	}
	return saved
}

func restoreTunables(saved map[string]string) error {
	var errs []error
	for t, v := range saved {
		if err := os.WriteFile("/proc/sys/"+t, []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

func parseIPs(ips ...string) []net.IP {
	out := make([]net.IP, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.ParseIP(ip))
	}
	return out
}
