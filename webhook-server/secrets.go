package webhookserver

import (
	"fmt"
	"os"

	"github.com/mmelink/operator/internal/delivery"
)

// Environment variables LoadSecrets falls back to when no file is named. In Kubernetes they come from a
// Secret (env valueFrom secretKeyRef); a file (a mounted Secret) is preferred because it stays out of the
// process environment.
const (
	EnvAppSecret   = delivery.EnvAppSecret
	EnvVerifyToken = "MMELINK_VERIFY_TOKEN" //nolint:gosec // G101: the variable's name, not a secret
)

// Flags of the webhook-server binary that name the secret files; LoadSecrets' errors refer to them.
const (
	FlagAppSecretFile   = "app-secret-file"
	FlagVerifyTokenFile = "verify-token-file"
)

// LoadSecrets returns the app secret and the verify token: the contents of the named files (without one
// trailing newline, which editors and `echo` add), or, for an empty file name, the environment variables
// EnvAppSecret and EnvVerifyToken. Secrets are never taken from flag values, which show in process
// listings. An empty secret is an error; error messages name the flag, file or variable, never a value.
func LoadSecrets(appSecretFile, verifyTokenFile string) (appSecret, verifyToken []byte, err error) {
	if appSecret, err = loadSecret(appSecretFile, FlagAppSecretFile, EnvAppSecret); err != nil {
		return nil, nil, err
	}
	if verifyToken, err = loadSecret(verifyTokenFile, FlagVerifyTokenFile, EnvVerifyToken); err != nil {
		return nil, nil, err
	}
	return appSecret, verifyToken, nil
}

func loadSecret(file, flagName, env string) ([]byte, error) {
	if file == "" {
		v := os.Getenv(env)
		if v == "" {
			return nil, fmt.Errorf("no secret: set --%s or the environment variable %s", flagName, env)
		}
		return []byte(v), nil
	}
	b, err := os.ReadFile(file) //nolint:gosec // G304: the path is the operator's own flag (a mounted Secret)
	if err != nil {
		// *fs.PathError names the file and the cause, not its contents.
		return nil, fmt.Errorf("reading --%s: %w", flagName, err)
	}
	b = delivery.TrimSecret(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("--%s: file %s is empty", flagName, file)
	}
	return b, nil
}
