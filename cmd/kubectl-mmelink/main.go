// Command kubectl-mmelink is the kubectl plugin of the mmelink operator (`kubectl mmelink ...`): the
// status of MessengerLinks, NotificationTopics and MessengerPages in one view, a link's QR code in the
// terminal, signed test deliveries to a webhook, the check of a captured delivery's signature, and the
// settling of a topic registration in doubt. Its help text (`kubectl mmelink --help`) is its documentation.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the plugin with args and returns the exit code: 0, 1 for a failed command (including a
// signature that does not verify), 2 for a usage error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := newRoot(&kube{})
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			return exit.code // the command said why
		}
		_, _ = fmt.Fprintln(stderr, "error:", err) // nowhere else to say it
		var usage usageError
		if errors.As(err, &usage) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError is a wrong invocation: exit code 2, as kubectl's.
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

const rootLong = `kubectl mmelink works with the mmelink operator's resources: MessengerLink (mlink), NotificationTopic
(ntopic) and MessengerPage (mpage).

It reads the cluster as kubectl does: --kubeconfig, KUBECONFIG or ~/.kube/config, and the standard
--context, --namespace (-n) and --cluster flags. It never prints a secret: the app secret is read
from a file, a Secret or MMELINK_APP_SECRET, and only ever used to sign or verify.`

func newRoot(k *kube) *cobra.Command {
	root := &cobra.Command{
		Use:           "kubectl-mmelink",
		Short:         "Status, QR codes, test deliveries and signature checks for the mmelink operator",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Shown as `kubectl mmelink` when kubectl runs the plugin.
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl mmelink"},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	k.bind(root)
	root.AddCommand(newStatusCmd(k), newQRCmd(k), newSimulateCmd(k), newVerifyCmd(k), newResolveCmd(k))
	return root
}

// kube holds the standard kubeconfig flags and builds a client from them on first use.
type kube struct {
	rules     *clientcmd.ClientConfigLoadingRules
	overrides clientcmd.ConfigOverrides
	config    clientcmd.ClientConfig
	// client is built from the flags on first use.
	client *apiClient
}

func (k *kube) bind(cmd *cobra.Command) {
	k.rules = clientcmd.NewDefaultClientConfigLoadingRules()
	fs := cmd.PersistentFlags()
	fs.StringVar(&k.rules.ExplicitPath, clientcmd.RecommendedConfigPathFlag, "", "Path to the kubeconfig file to use.")
	clientcmd.BindOverrideFlags(&k.overrides, fs, clientcmd.RecommendedConfigOverrideFlags(""))
	k.config = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(k.rules, &k.overrides)
}

// Client returns a client of the cluster the flags name.
func (k *kube) Client() (*apiClient, error) {
	if k.client != nil {
		return k.client, nil
	}
	cfg, err := k.config.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	c, err := newAPIClient(cfg)
	if err != nil {
		return nil, err
	}
	k.client = c
	return c, nil
}

// ClientIn returns a client and the namespace to work in (see Client and Namespace), for the commands
// that read one namespace's objects.
func (k *kube) ClientIn() (*apiClient, string, error) {
	c, err := k.Client()
	if err != nil {
		return nil, "", err
	}
	ns, err := k.Namespace()
	if err != nil {
		return nil, "", err
	}
	return c, ns, nil
}

// Namespace returns the namespace of --namespace, else of the kubeconfig's context, else "default".
func (k *kube) Namespace() (string, error) {
	ns, _, err := k.config.Namespace()
	if err != nil {
		return "", fmt.Errorf("reading the namespace from kubeconfig: %w", err)
	}
	return ns, nil
}
