package webhookserver

import (
	"flag"
	"time"

	"github.com/go-logr/logr"

	"github.com/mmelink/operator/internal/pagehealth"
	"github.com/mmelink/operator/internal/status"
)

// Flags are the webhook server's command-line settings, shared by the manager, which bundles the server
// (prefix "webhook-"), and the webhook-server binary (no prefix). The secret files keep their names in
// both, so that a Deployment can switch binaries without renaming its Secret mounts. The flags are bound
// to the server's Options directly; only what becomes something else (secret files, the status budget
// of all replicas) has a field of its own.
type Flags struct {
	Options
	AppSecretFile, VerifyTokenFile string
	// StatusWritesPerSecond is the budget of status writes of all replicas together; StatusWriters is
	// how many replicas share it.
	StatusWritesPerSecond float64
	StatusWriters         int
	// Ledger chooses where events are kept (ledger.go).
	Ledger LedgerFlags
	// PageHealthInterval is the least time between two writes of a Page's webhook health.
	PageHealthInterval time.Duration
}

// Defaults of the status write budget: see status.DefaultWritesPerSecond for why.
const (
	DefaultStatusWriters         = 2
	DefaultStatusWritesPerSecond = DefaultStatusWriters * status.DefaultWritesPerSecond
)

// Bind registers the flags on fs; addrHelp describes the address flag, which differs between binaries.
func (f *Flags) Bind(fs *flag.FlagSet, prefix, addrHelp string) {
	fs.StringVar(&f.Addr, prefix+"bind-address", DefaultAddr, addrHelp)
	fs.StringVar(&f.AppSecretFile, FlagAppSecretFile, "",
		"File holding the Meta app secret (a mounted Secret); when empty, env "+EnvAppSecret+".")
	fs.StringVar(&f.VerifyTokenFile, FlagVerifyTokenFile, "",
		"File holding the webhook verify token; when empty, env "+EnvVerifyToken+".")
	fs.Int64Var(&f.MaxBodyBytes, prefix+"max-body-bytes", DefaultMaxBodyBytes, "Largest delivery body accepted; larger ones get 413.")
	fs.Int64Var(&f.MaxBodyBytesInFlight, prefix+"max-body-bytes-in-flight", DefaultMaxBodyBytesInFlight,
		"Bytes of request bodies buffered at once, counted as they arrive; past it requests get 503 (Meta retries). At least twice the max body bytes.")
	fs.IntVar(&f.MaxConnections, prefix+"max-connections", DefaultMaxConnections,
		"Open connections to the webhook endpoint; at the cap a new one closes the longest-idle or an unverified one.")
	fs.DurationVar(&f.IdleTimeout, prefix+"idle-timeout", DefaultIdleTimeout,
		"Time a keep-alive connection may stay idle before it is closed.")
	fs.DurationVar(&f.CommitTimeout, prefix+"commit-timeout", DefaultCommitTimeout,
		"Time to store a delivery before answering 503; keep it under Meta's 5s.")
	fs.DurationVar(&f.ShutdownTimeout, prefix+"shutdown-timeout", DefaultShutdownTimeout,
		"Time in-flight deliveries get to finish on shutdown.")
	fs.Float64Var(&f.StatusWritesPerSecond, "status-writes-per-second", DefaultStatusWritesPerSecond,
		"Status writes per second of all webhook replicas together (each takes an equal share); bounds etcd's "+
			"growth whatever the load. Negative: no budget.")
	fs.IntVar(&f.StatusWriters, "status-writers", DefaultStatusWriters,
		"How many replicas share --status-writes-per-second: the webhook Deployment's replicas (with an "+
			"autoscaler, its maximum).")
	fs.DurationVar(&f.PageHealthInterval, prefix+"page-health-interval", pagehealth.DefaultMinInterval,
		"Least time between two writes of a Page's webhook health (last delivery answered, refusing since) into its MessengerPage.")
	f.Ledger.Bind(fs)
}

// Load reads the secret files and returns the server's Options (with log) and its writer's, for
// AddToManager.
func (f *Flags) Load(log logr.Logger) (Options, WriterOptions, error) {
	appSecret, verifyToken, err := LoadSecrets(f.AppSecretFile, f.VerifyTokenFile)
	if err != nil {
		return Options{}, WriterOptions{}, err
	}
	o := f.Options
	o.AppSecret, o.VerifyToken, o.Logger = appSecret, verifyToken, log
	return o, WriterOptions{
		Status:             status.Options{WritesPerSecond: share(f.StatusWritesPerSecond, f.StatusWriters)},
		Ledger:             f.Ledger,
		PageHealthInterval: f.PageHealthInterval,
	}, nil
}

// share is one replica's part of a budget for all replicas; a negative budget means none.
func share(total float64, replicas int) float64 {
	if total < 0 {
		return -1
	}
	return total / float64(max(replicas, 1))
}
