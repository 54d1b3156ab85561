package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/controllers"
	"github.com/mmelink/operator/internal/graph"
	"github.com/mmelink/operator/internal/graph/graphtest"
	"github.com/mmelink/operator/internal/index"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/testenv"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// The plugin's tests run against the whole product in this process, as `make demo` runs it: a real
// kube-apiserver and etcd, the controllers with the Graph API emulator (which plays the registration
// recipient and confirms through the webhook server), the webhook server on a real port with the status
// writer, and config/samples applied. The plugin reaches them as a person would: through a kubeconfig file.
var world struct {
	kubeconfig string
	webhookURL string
	secretFile string // the app secret, as a file
	ns         string
	cfg        *rest.Config // for the tests of the plugin's own API client
	c          client.Client
	emu        *graphtest.Server
}

// wait bounds every wait for the controllers or the webhook server: generous, as the machine is shared.
const patience = 90 * time.Second

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	stop, err := startWorld()
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, "starting the control plane, controllers and webhook server:", err)
	}
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping:", err)
		code = max(code, 1)
	}
	os.Exit(code)
}

func startWorld() (stop func() error, err error) {
	var stops []func() error
	stop = func() error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		return errors.Join(errs...)
	}
	env, cfg, err := testenv.Start()
	if err != nil {
		return stop, err
	}
	stops = append(stops, env.Stop)
	dir, err := os.MkdirTemp("", "kubectl-mmelink-test-")
	if err != nil {
		return stop, err
	}
	stops = append(stops, func() error { return os.RemoveAll(dir) })
	if world.kubeconfig, err = writeKubeconfig(env, dir); err != nil {
		return stop, err
	}
	world.secretFile = filepath.Join(dir, "app-secret")
	if err := os.WriteFile(world.secretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		return stop, err
	}
	world.cfg = cfg
	if world.c, err = client.New(cfg, client.Options{Scheme: scheme.New()}); err != nil {
		return stop, err
	}
	port, err := freePort()
	if err != nil {
		return stop, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	world.webhookURL = "http://" + addr + webhookserver.PathWebhook

	world.emu = graphtest.New()
	stops = append(stops, func() error { world.emu.Close(); return nil })
	world.emu.AutoConfirm(world.webhookURL, testSecret, 200*time.Millisecond)
	gc, err := graph.New(graph.WithBaseURL(world.emu.URL), graph.WithHTTPClient(world.emu.Client()))
	if err != nil {
		return stop, err
	}

	cacheOpts, err := index.CacheOptions(cfg)
	if err != nil {
		return stop, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme.New(), Cache: cacheOpts,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		return stop, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := controllers.Setup(ctx, mgr, controllers.Config{AppID: graphtest.DefaultAppID, Graph: gc,
		RegistrationBackoff: graph.Backoff{Base: 200 * time.Millisecond, Max: time.Second, Jitter: -1}}); err != nil {
		cancel()
		return stop, err
	}
	store, err := webhookserver.AddToManager(ctx, mgr, webhookserver.Options{Addr: addr, AppSecret: []byte(testSecret),
		VerifyToken: []byte("verify-token-Hq2"), Registerer: prometheus.NewRegistry(), Logger: logr.Discard()},
		webhookserver.WriterOptions{})
	if err != nil {
		cancel()
		return stop, err
	}
	done := make(chan error, 1)
	go func() { done <- webhookserver.StartAndDrain(ctx, mgr, store, 10*time.Second) }()
	stops = append(stops, func() error { cancel(); return <-done })
	if err := waitReady("http://" + addr + webhookserver.PathReadyz); err != nil {
		return stop, err
	}
	if err := applySamples(); err != nil {
		return stop, err
	}
	return stop, seedTraffic()
}

// seedTraffic sends what Meta would after the samples are live, so that every test finds counts.
func seedTraffic() error {
	for _, env := range []any{
		graphtest.ReferralEvent{PageID: samplePage, PSID: "7001000000000001", Ref: "summer_poster--738--store12"}.PostbackEnvelope(),
		graphtest.ReferralEvent{PageID: samplePage, PSID: "7001000000000002", Ref: "summer_poster--738--store12"}.Envelope(),
		graphtest.PluginOptinEvent{PageID: samplePage, PSID: "7001000000000003", Ref: "website_footer"}.Envelope(),
		graphtest.OptinEvent{PageID: samplePage, PSID: "7001000000000004", Title: "Weekly deals", Payload: "weekly-deals"}.Envelope(),
	} {
		resp, err := graphtest.Deliver(context.Background(), world.webhookURL, testSecret, env)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("seeding traffic: the webhook answered %s", resp.Status)
		}
	}
	return nil
}

func writeKubeconfig(env *envtest.Environment, dir string) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "plugin-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, kc, 0o600)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(url string) error {
	deadline := time.Now().Add(patience)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook server not ready at %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// applySamples creates config/samples in the namespace "demo" (the Page's token as the emulator knows
// it) and waits for the MessengerPage and the links to be Ready and the topic to be Registered.
func applySamples() error {
	ctx := context.Background()
	world.ns = "demo"
	if err := world.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: world.ns}}); err != nil {
		return err
	}
	dec := serializer.NewCodecFactory(scheme.New()).UniversalDeserializer()
	for _, f := range []string{"messenger_v1alpha1_notificationtopic.yaml", "messenger_v1alpha1_messengerlink.yaml", "messenger_v1alpha1_messengerpage.yaml"} {
		data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", f))
		if err != nil {
			return err
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			obj, _, err := dec.Decode([]byte(doc), nil, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			o := obj.(client.Object)
			o.SetNamespace(world.ns)
			if s, ok := o.(*corev1.Secret); ok {
				world.emu.AddPage(samplePage, s.StringData["token"])
			}
			if err := world.c.Create(ctx, o); err != nil {
				return fmt.Errorf("creating %s %s: %w", f, o.GetName(), err)
			}
		}
	}
	return poll(func() error {
		for _, o := range []struct {
			obj  client.Object
			cond string
		}{
			{&messengerv1.MessengerPage{}, "acme-shoes"}, {&messengerv1.MessengerLink{}, "summer-poster"},
			{&messengerv1.MessengerLink{}, "website-chat"}, {&messengerv1.NotificationTopic{}, "weekly-deals"},
		} {
			if err := world.c.Get(ctx, client.ObjectKey{Namespace: world.ns, Name: o.cond}, o.obj); err != nil {
				return err
			}
			conds := o.obj.(interface{ GetConditions() []metav1.Condition }).GetConditions()
			want := messengerv1.ConditionReady
			if _, ok := o.obj.(*messengerv1.NotificationTopic); ok {
				want = messengerv1.ConditionRegistered
			}
			if !apimeta.IsStatusConditionTrue(conds, want) {
				return fmt.Errorf("%s is not %s: %+v", o.cond, want, conds)
			}
		}
		return nil
	})
}

// samplePage is the Page of config/samples.
const samplePage = "104729384756123"

func poll(check func() error) error {
	deadline := time.Now().Add(patience)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func eventually(t *testing.T, check func() error) {
	t.Helper()
	if err := poll(check); err != nil {
		t.Fatalf("not within %s: %v", patience, err)
	}
}

// plugin runs `kubectl mmelink args...` against the world's cluster and namespace and returns its
// output and exit code. No output may hold the app secret.
func plugin(t *testing.T, args ...string) (stdout string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "--kubeconfig", world.kubeconfig)
	if !slices.Contains(args, "-A") && !slices.Contains(args, "--namespace") {
		args = append(args, "--namespace", world.ns)
	}
	code = run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	assertNoSecret(t, out.String()+errOut.String(), testSecret)
	if code != 0 {
		t.Logf("kubectl mmelink %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	return out.String(), code
}

// mustPlugin is plugin for a command that must succeed.
func mustPlugin(t *testing.T, args ...string) string {
	t.Helper()
	out, code := plugin(t, args...)
	if code != 0 {
		t.Fatalf("kubectl mmelink %s: exit %d", strings.Join(args, " "), code)
	}
	return out
}

func getLink(t *testing.T, name string) *messengerv1.MessengerLink {
	t.Helper()
	l := &messengerv1.MessengerLink{}
	if err := world.c.Get(context.Background(), client.ObjectKey{Namespace: world.ns, Name: name}, l); err != nil {
		t.Fatal(err)
	}
	return l
}

func getTopic(t *testing.T, name string) *messengerv1.NotificationTopic {
	t.Helper()
	tp := &messengerv1.NotificationTopic{}
	if err := world.c.Get(context.Background(), client.ObjectKey{Namespace: world.ns, Name: name}, tp); err != nil {
		t.Fatal(err)
	}
	return tp
}
