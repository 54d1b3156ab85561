package controllers_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/go-logr/logr"
	uberzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mmelink/operator/controllers"
	"github.com/mmelink/operator/internal/index"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/testenv"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// The suite runs one real kube-apiserver and etcd and one manager with the controllers for all tests;
// each test works in a namespace of its own.
var (
	cfg       *rest.Config
	k8sClient client.Client
)

// recheck is how soon a link waiting for a foreign ConfigMap looks again in these tests.
const recheck = 500 * time.Millisecond

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapLevel())))
	env, c, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}()
	cfg = c
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	stopGraph, err := startGraphEmulator()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stopGraph()

	if err := startManager(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if err := stopManager(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	return code
}

// The running manager; tests that restart it use stopManager and startManager.
var (
	mgrCancel context.CancelFunc
	mgrDone   chan error
)

func startManager() error {
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := newManager(ctx, cfg)
	if err != nil {
		cancel()
		return err
	}
	mgrCancel, mgrDone = cancel, make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()
	return nil
}

func stopManager() error {
	mgrCancel()
	return <-mgrDone
}

// newManager builds a manager as main.go does, without leader election or metrics endpoint.
func newManager(ctx context.Context, cfg *rest.Config) (ctrl.Manager, error) {
	cacheOpts, err := index.CacheOptions(cfg)
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme.New(),
		Cache:   cacheOpts,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Logger:  managerLog(),
	})
	if err != nil {
		return nil, err
	}
	if err := controllers.Setup(ctx, mgr, controllers.Config{
		AppID: "1234567890", RecheckInterval: recheck,
		// NotificationTopics register with the suite's Graph API emulator (topic_suite_test.go).
		Graph: graphClient, GraphPageRate: pageRate, RegistrationBackoff: registrationBackoff,
		// MessengerPages (page_test.go): refusals turn Receiving False after seconds, not 15 minutes.
		PageFailingAfter: pageFailingAfter, PageProfileBackoff: profileBackoff,
		// Restarting the manager in-process registers the same controller names again.
		SkipNameValidation: true,
	}); err != nil {
		return nil, err
	}
	// The webhook server, bundled as main.go bundles it; a fresh registry for each manager, since the
	// suite restarts its manager in the same process.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	if _, err := webhookserver.AddToManager(ctx, mgr, webhookserver.Options{
		Addr: addr, AppSecret: []byte(suiteAppSecret), VerifyToken: []byte("suite-verify-token"),
		Registerer: prometheus.NewRegistry(), Logger: ctrl.Log.WithName("webhook-server"),
	}, webhookserver.WriterOptions{}); err != nil {
		return nil, err
	}
	webhookURL = "http://" + addr + webhookserver.PathWebhook
	return mgr, nil
}

// The suite manager's webhook server: where a test delivers what Meta would.
var webhookURL string

const suiteAppSecret = "suite-app-secret"

// suiteLog holds every line the suite's managers log at info level and above, for the tests that look
// for a secret in the logs.
var suiteLog lockedBuffer

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// managerLog logs as the suite does (errors only, unless TEST_VERBOSE) and also into suiteLog.
func managerLog() logr.Logger {
	capture := zapcore.NewCore(zapcore.NewJSONEncoder(uberzap.NewProductionEncoderConfig()), zapcore.AddSync(&suiteLog), zapcore.InfoLevel)
	return zap.New(zap.UseDevMode(true), zap.Level(zapLevel()), zap.RawZapOpts(uberzap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewTee(c, capture)
	})))
}

func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE") != "" {
		return -1
	}
	return 2 // errors only: the expected conflicts of these tests would bury real failures
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	return testenv.NewNamespace(t, k8sClient)
}

// eventually retries check until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	testenv.Eventually(t, timeout, check)
}

// consistently checks that check keeps returning nil for the whole duration.
func consistently(t *testing.T, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := check(); err != nil {
			t.Fatalf("condition broken: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
