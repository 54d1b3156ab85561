package webhookserver

import (
	"flag"
	"time"

	"github.com/go-logr/logr"
)

// Flags are the webhook server's command-line settings, shared by the manager, which bundles the server
// (prefix "webhook-"), and the webhook-server binary (no prefix). The secret files keep their names in
// both, so that a Deployment can switch binaries without renaming its Secret mounts.
type Flags struct {
	Addr                           string
	AppSecretFile, VerifyTokenFile string
	MaxBodyBytes                   int64
	CommitTimeout, ShutdownTimeout time.Duration
	Ledger                         LedgerFlags
}

// Bind registers the flags on fs; addrHelp describes the address flag, which differs between binaries.
func (f *Flags) Bind(fs *flag.FlagSet, prefix, addrHelp string) {
	fs.StringVar(&f.Addr, prefix+"bind-address", DefaultAddr, addrHelp)
	fs.StringVar(&f.AppSecretFile, FlagAppSecretFile, "",
		"File holding the Meta app secret (a mounted Secret); when empty, env "+EnvAppSecret+".")
	fs.StringVar(&f.VerifyTokenFile, FlagVerifyTokenFile, "",
		"File holding the webhook verify token; when empty, env "+EnvVerifyToken+".")
	fs.Int64Var(&f.MaxBodyBytes, prefix+"max-body-bytes", DefaultMaxBodyBytes, "Largest delivery body accepted; larger ones get 413.")
	fs.DurationVar(&f.CommitTimeout, prefix+"commit-timeout", DefaultCommitTimeout,
		"Time to store a delivery before answering 503; keep it under Meta's 5s.")
	fs.DurationVar(&f.ShutdownTimeout, prefix+"shutdown-timeout", DefaultShutdownTimeout,
		"Time in-flight deliveries get to finish on shutdown.")
	f.Ledger.Bind(fs)
}

// Config loads the secrets and returns the settings for AddToManager.
func (f *Flags) Config(log logr.Logger) (Config, error) {
	appSecret, verifyToken, err := LoadSecrets(f.AppSecretFile, f.VerifyTokenFile)
	if err != nil {
		return Config{}, err
	}
	return Config{
		Addr: f.Addr, AppSecret: appSecret, VerifyToken: verifyToken, MaxBodyBytes: f.MaxBodyBytes,
		CommitTimeout: f.CommitTimeout, ShutdownTimeout: f.ShutdownTimeout, Ledger: f.Ledger, Log: log,
	}, nil
}
