package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mmelink/operator/internal/delivery"
)

// secretSource says where the app secret comes from: a file, a Secret, or MMELINK_APP_SECRET. Never a
// flag's value: that would show in the shell history and the process list.
type secretSource struct {
	file   string
	secret string // [NAMESPACE/]NAME
	key    string
}

// DefaultSecretKey is the key of the app secret in the webhook server's Secret (mmelink-webhook).
const DefaultSecretKey = "app-secret"

func (s *secretSource) bind(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&s.file, "app-secret-file", "", "File holding the Meta app secret (one trailing newline is ignored, as the webhook server ignores it).")
	fs.StringVar(&s.secret, "app-secret-from", "", "Secret holding the app secret, as [NAMESPACE/]NAME, e.g. mmelink-system/mmelink-webhook (default namespace: --namespace).")
	fs.StringVar(&s.key, "app-secret-key", DefaultSecretKey, "Key of the app secret in the --app-secret-from Secret.")
}

// load returns the app secret. Its errors name the file, Secret or variable, never the value.
func (s *secretSource) load(ctx context.Context, k *kube) ([]byte, error) {
	switch {
	case s.file != "" && s.secret != "":
		return nil, usagef("give --app-secret-file or --app-secret-from, not both")
	case s.file != "":
		b, err := os.ReadFile(s.file)
		if err != nil {
			return nil, fmt.Errorf("reading --app-secret-file: %w", err)
		}
		return nonEmpty(delivery.TrimSecret(b), "file "+s.file)
	case s.secret != "":
		return s.fromSecret(ctx, k)
	}
	if v := os.Getenv(delivery.EnvAppSecret); v != "" {
		return []byte(v), nil
	}
	return nil, usagef("no app secret: give --app-secret-file, --app-secret-from or set %s", delivery.EnvAppSecret)
}

func (s *secretSource) fromSecret(ctx context.Context, k *kube) ([]byte, error) {
	ns, name, found := strings.Cut(s.secret, "/")
	if !found {
		name = ns
		var err error
		if ns, err = k.Namespace(); err != nil {
			return nil, err
		}
	}
	c, err := k.Client()
	if err != nil {
		return nil, err
	}
	var sec corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &sec); err != nil {
		return nil, fmt.Errorf("reading the app secret from Secret %s/%s: %w", ns, name, err)
	}
	v, ok := sec.Data[s.key]
	if !ok {
		return nil, fmt.Errorf("secret %s/%s has no key %q (--app-secret-key)", ns, name, s.key)
	}
	return nonEmpty(delivery.TrimSecret(v), fmt.Sprintf("key %q of Secret %s/%s", s.key, ns, name))
}

func nonEmpty(b []byte, what string) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New(what + " is empty")
	}
	return b, nil
}
