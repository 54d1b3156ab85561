// Command pause is the sandbox container of the one-node test cluster (make test-cluster): it holds a
// pod's namespaces and sleeps until the kubelet stops the pod, as registry.k8s.io/pause does, which
// cannot be pulled here.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
