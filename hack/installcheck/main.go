// Command installcheck applies the install manifests to a throwaway kube-apiserver and etcd with a
// server-side dry run, so that a manifest the API server would refuse (a wrong field, a failed validation,
// an API that no longer exists, a Pod Security violation) fails `make test` instead of a user's install.
//
// It starts the local control plane with the CRDs installed (internal/testenv; the custom resources in
// config/samples need them), creates the namespaces of the install for real (a dry run of a namespaced
// object fails when its namespace does not exist), and then dry-runs, with `kubectl apply --server-side
// --dry-run=server`: the install file, config/default with its optional components enabled, the example
// Secret and the samples. API warnings count as failures, unless -allow-warnings.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/mmelink/operator/internal/testenv"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

type check struct {
	kubectl, install, base string
	components, kustomize  list
	files                  list
	allowWarnings          bool
	timeout                time.Duration

	kubeconfig string
	tmp        string
}

func main() {
	c := &check{}
	flag.StringVar(&c.kubectl, "kubectl", "", "Path of kubectl (default: the one built by hack/control-plane.sh).")
	flag.StringVar(&c.install, "install", "dist/install.yaml", "The single-file install (make build-installer).")
	flag.StringVar(&c.base, "base", "config/default", "Kustomization the optional components belong to.")
	flag.Var(&c.components, "component", "Optional component to enable in -base for a further dry run (repeatable).")
	flag.Var(&c.kustomize, "k", "Further kustomization to dry-run (repeatable).")
	flag.Var(&c.files, "f", "Further manifest file to dry-run (repeatable).")
	flag.BoolVar(&c.allowWarnings, "allow-warnings", false, "Do not fail on warnings from the API server.")
	flag.DurationVar(&c.timeout, "timeout", 2*time.Minute, "Time each kubectl call may take.")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := c.run(ctx)
	stop()
	if c.tmp != "" {
		_ = os.RemoveAll(c.tmp)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "installcheck FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("installcheck: every manifest passed a server-side dry run")
}

func (c *check) run(ctx context.Context) (err error) {
	if c.kubectl == "" {
		assets, err := testenv.Assets()
		if err != nil {
			return err
		}
		c.kubectl = filepath.Join(assets, "kubectl")
	}
	install, err := os.ReadFile(c.install)
	if err != nil {
		return fmt.Errorf("reading the install file (run make build-installer): %w", err)
	}
	namespaces, err := splitInstall(install)
	if err != nil {
		return fmt.Errorf("%s: %w", c.install, err)
	}
	if c.tmp, err = os.MkdirTemp("", "mmelink-installcheck-"); err != nil {
		return err
	}

	fmt.Println("installcheck: starting kube-apiserver and etcd with the CRDs from config/crd/bases")
	env, _, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() {
		if serr := env.Stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stopping the control plane: %w", serr))
		}
	}()
	if err := c.writeKubeconfig(env); err != nil {
		return err
	}

	// The namespaces themselves, for real: without them the dry run of everything in them fails with
	// "namespace not found". They are dry-run again below with the rest of the file.
	nsFile := filepath.Join(c.tmp, "namespaces.yaml")
	if err := os.WriteFile(nsFile, namespaces, 0o600); err != nil {
		return err
	}
	if err := c.kubectlApply(ctx, "create the namespaces", false, "-f", nsFile); err != nil {
		return err
	}

	var failed []string
	try := func(what string, args ...string) {
		if err := c.kubectlApply(ctx, what, true, args...); err != nil {
			failed = append(failed, err.Error())
		}
	}
	try(c.install, "-f", c.install)
	if len(c.components) > 0 {
		dir, err := c.withComponents()
		if err != nil {
			return err
		}
		try(c.base+" + "+strings.Join(c.components, " + "), "-k", dir)
	}
	for _, f := range c.files {
		try(f, "-f", f)
	}
	for _, k := range c.kustomize {
		try(k, "-k", k)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of the dry runs failed:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

// splitInstall returns the Namespace objects of an install file, and refuses a file that holds a Secret:
// secret values are never part of the install.
func splitInstall(data []byte) ([]byte, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var namespaces bytes.Buffer
	n := 0
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("object %d: %w", n+1, err)
		}
		if obj.Object == nil {
			continue // an empty document
		}
		n++
		switch obj.GetKind() {
		case "Secret":
			return nil, fmt.Errorf("holds Secret %s/%s: no secret belongs in the install", obj.GetNamespace(), obj.GetName())
		case "Namespace":
			// JSON, which is YAML too: kubectl reads the documents one after another.
			b, err := json.Marshal(obj.Object)
			if err != nil {
				return nil, err
			}
			namespaces.WriteString("---\n")
			namespaces.Write(b)
			namespaces.WriteString("\n")
		}
	}
	if n == 0 {
		return nil, errors.New("no objects")
	}
	if namespaces.Len() == 0 {
		return nil, errors.New("no Namespace: the install must create the namespace it installs into")
	}
	return namespaces.Bytes(), nil
}

// withComponents writes a kustomization that is -base with -component enabled, as a user would enable
// them by uncommenting them in config/default: it keeps -base's namespace, name prefix, labels and images,
// which a separate overlay on top of -base would not apply to the components' objects. Paths are made
// relative to the new directory (kustomize refuses absolute ones).
func (c *check) withComponents() (string, error) {
	raw, err := os.ReadFile(filepath.Join(c.base, "kustomization.yaml"))
	if err != nil {
		return "", err
	}
	var k map[string]any
	if err := utilyaml.Unmarshal(raw, &k); err != nil {
		return "", fmt.Errorf("%s/kustomization.yaml: %w", c.base, err)
	}
	dir := filepath.Join(c.tmp, "with-components")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	rebase := func(p string) (string, error) {
		abs, err := filepath.Abs(filepath.Join(c.base, p))
		if err != nil {
			return "", err
		}
		return filepath.Rel(dir, abs)
	}
	for _, field := range []string{"resources", "components"} {
		items, _ := k[field].([]any)
		for i, it := range items {
			p, ok := it.(string)
			if !ok {
				return "", fmt.Errorf("%s/kustomization.yaml: %s[%d] is not a path", c.base, field, i)
			}
			if items[i], err = rebase(p); err != nil {
				return "", err
			}
		}
		if items != nil {
			k[field] = items
		}
	}
	for _, field := range []string{"patches", "patchesStrategicMerge", "configMapGenerator", "secretGenerator", "replacements"} {
		if _, ok := k[field]; ok {
			return "", fmt.Errorf("%s/kustomization.yaml has %s: teach installcheck to rebase its paths", c.base, field)
		}
	}
	comps, _ := k["components"].([]any)
	for _, comp := range c.components {
		abs, err := filepath.Abs(comp)
		if err != nil {
			return "", err
		}
		rel, err := filepath.Rel(dir, abs)
		if err != nil {
			return "", err
		}
		comps = append(comps, rel)
	}
	k["components"] = comps
	// JSON, which is YAML too, and kustomize reads it as such.
	out, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), out, 0o600)
}

func (c *check) writeKubeconfig(env *envtest.Environment) error {
	user, err := env.AddUser(envtest.User{Name: "installcheck", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the installcheck user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	c.kubeconfig = filepath.Join(c.tmp, "kubeconfig")
	return os.WriteFile(c.kubeconfig, kc, 0o600)
}

// kubectlApply runs kubectl apply --server-side (with --dry-run=server when dryRun) and prints its output.
// It fails on a non-zero exit and, unless -allow-warnings, on any warning the API server returned.
func (c *check) kubectlApply(ctx context.Context, what string, dryRun bool, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	full := []string{"--kubeconfig", c.kubeconfig, "apply", "--server-side", "--field-manager=installcheck"}
	mode := "apply"
	if dryRun {
		full = append(full, "--dry-run=server")
		mode = "server-side dry run"
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, c.kubectl, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	fmt.Printf("\n==> %s: %s\n", mode, what)
	printIndented(stdout.String())
	printIndented(stderr.String())
	if runErr != nil {
		return fmt.Errorf("%s: kubectl %s: %w", what, strings.Join(args, " "), runErr)
	}
	if !c.allowWarnings && strings.Contains(stderr.String(), "Warning:") {
		return fmt.Errorf("%s: the API server returned warnings (see above; -allow-warnings to accept them)", what)
	}
	return nil
}

func printIndented(s string) {
	for line := range strings.Lines(s) {
		fmt.Print("    ", line)
	}
}
