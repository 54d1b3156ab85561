package cluster

import (
	"fmt"
	"os"
	"path/filepath"
)

// NodeName is the one node's name.
const NodeName = "mmelink-node"

// PauseImage is the sandbox image containerd uses, built by internal/imagebuild from hack/pause.
const PauseImage = "localhost/mmelink/pause:1"

func (c *Cluster) containerdConfig() string {
	return fmt.Sprintf(`# Version 3 (containerd 2.0's) is migrated at start by 2.4; its keys are the documented ones.
version = 3
root = %[1]q
state = %[2]q
# NRI would listen on /var/run/nri; tracing is not wanted; neither matters here.
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %[3]q

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = %[4]q
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = %[5]q
  [plugins.'io.containerd.cri.v1.runtime']
    # root here lacks CAP_SYS_RESOURCE, so no process may lower its oom_score_adj: the kubelet's -998 for
    # sandboxes would make runc fail ("failed to update /proc/self/oom_score_adj: Permission denied").
    # This clamps the scores to containerd's own instead.
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = %[6]q
          # cgroup v1 with the cgroupfs driver, as the kubelet (no systemd here).
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [%[7]q]
      conf_dir = %[8]q
`, c.path("containerd/root"), c.path("containerd/state"), c.containerdSock, c.path("containerd/opt"), PauseImage,
		c.opts.Runc, filepath.Join(c.opts.Node, "cni"), c.path("cni/net.d"))
}

func (c *Cluster) cniConfig() string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "mmelink",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": %q,
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, c.path("cni/ipam"), c.net.podCIDR())
}

// kubeletConfig is what this machine needs besides the defaults: cgroup v1 tolerated (failCgroupV1), the
// cgroupfs driver (no systemd) under a cgroup of this run, and the kubelet's ports on the node's own
// addresses.
func (c *Cluster) kubeletConfig() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: %q
containerRuntimeEndpoint: unix://%s
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
podLogsDir: %q
volumePluginDir: %q
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %q}
authorization:
  mode: AlwaysAllow
failSwapOn: false
resolvConf: /etc/resolv.conf
serializeImagePulls: false
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, c.cg.name, c.containerdSock, c.net.nodeIP(), c.path("kubelet/pods-logs"), c.path("kubelet/volume-plugins"), c.pki.CA)
}

// kubeProxyConfig: nftables mode (its table lives in the node's network namespace), conntrack left as the
// kernel has it (its global settings are not the namespace's to change).
func (c *Cluster) kubeProxyConfig() string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: %q}
hostnameOverride: %s
clusterCIDR: %s
healthzBindAddress: %s:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, c.kubeconfig, NodeName, c.net.podCIDR(), c.net.nodeIP())
}

func (c *Cluster) kubeconfigFor(server string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: mmelink
  cluster: {server: %q, certificate-authority: %q}
users:
- name: admin
  user: {client-certificate: %q, client-key: %q}
contexts:
- name: mmelink
  context: {cluster: mmelink, user: admin}
current-context: mmelink
`, server, c.pki.CA, c.pki.Admin, c.pki.AdminKey)
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o600)
}
