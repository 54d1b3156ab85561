package testenv

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// APIServerPID finds the process of the kube-apiserver that serves host (a rest.Config's Host) by its
// secure port, so that a test can freeze it (SIGSTOP) and thaw it. Freezing, not restarting: envtest
// would give a restarted server new certificates, and a frozen one is the harder case, since writes sent
// before the freeze complete after it.
func APIServerPID(host string) (int, error) {
	u, err := url.Parse(host)
	if err != nil {
		return 0, fmt.Errorf("parsing the API server's address: %w", err)
	}
	want := "--secure-port=" + u.Port()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(raw), "\x00")
		if filepath.Base(args[0]) != "kube-apiserver" {
			continue
		}
		for _, a := range args {
			if a == want {
				return strconv.Atoi(filepath.Base(filepath.Dir(p)))
			}
		}
	}
	return 0, fmt.Errorf("no kube-apiserver process with %s", want)
}
