package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/mmelink/operator/internal/cluster"
)

// Install is what an install method is told: the image loaded into the node, and the manager's extra
// arguments (the Graph emulator's URL, the app ID), as a platform team would set them.
type Install struct {
	Image       string
	ManagerArgs []string
	Dir         string // a temp dir for rendered manifests
	Helm        string // the helm binary (make helm)
	// Retired is told of each pod an upgrade replaced, with the time its deletion began.
	Retired func(deletedPod)
}

// Installer installs the operator onto the cluster into the mmelink-system namespace. The next install
// method is an entry in installers.
type Installer func(ctx context.Context, c *cluster.Cluster, in Install) error

var installers = map[string]Installer{
	"kubectl": kubectlApply,
	"helm":    helmInstall,
}

// kubectlApply is the README's install: kubectl apply --server-side -f dist/install.yaml, with the
// Deployments' image and the manager's arguments set as a user would (kustomize edit, or a patch).
func kubectlApply(ctx context.Context, c *cluster.Cluster, in Install) error {
	b, err := os.ReadFile("dist/install.yaml")
	if err != nil {
		return fmt.Errorf("reading dist/install.yaml (make build-installer): %w", err)
	}
	out, err := customize(b, in)
	if err != nil {
		return err
	}
	path := filepath.Join(in.Dir, "install.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return err
	}
	_, err = c.Run(ctx, "apply", "--server-side", "-f", path)
	return err
}

// customize sets every Deployment's image to in.Image and appends in.ManagerArgs to the manager's.
func customize(manifests []byte, in Install) ([]byte, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	var out bytes.Buffer
	deployments := 0
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("parsing dist/install.yaml: %w", err)
		}
		if obj == nil {
			continue
		}
		u := unstructured.Unstructured{Object: obj}
		if u.GetKind() == "Deployment" {
			deployments++
			containers, _, _ := unstructured.NestedSlice(obj, "spec", "template", "spec", "containers")
			for i := range containers {
				ct := containers[i].(map[string]any)
				ct["image"] = in.Image
				if u.GetName() == "mmelink-controller-manager" && ct["name"] == "manager" {
					args, _, _ := unstructured.NestedStringSlice(ct, "args")
					ct["args"] = toAny(append(args, in.ManagerArgs...))
				}
			}
			if err := unstructured.SetNestedSlice(obj, containers, "spec", "template", "spec", "containers"); err != nil {
				return nil, err
			}
		}
		y, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(y)
	}
	if deployments != 2 {
		return nil, fmt.Errorf("dist/install.yaml has %d Deployments, want the manager's and the webhook server's", deployments)
	}
	return out.Bytes(), nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
