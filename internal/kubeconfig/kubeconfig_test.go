package kubeconfig

import (
	"flag"
	"testing"

	"k8s.io/client-go/rest"
)

func TestCompressionFlag(t *testing.T) {
	tests := []struct {
		args            []string
		wantDisableGzip bool
	}{
		{nil, true}, // the default: no gzip next to the API server
		{[]string{"--kube-api-compression"}, false},
		{[]string{"--kube-api-compression=false"}, true},
	}
	for _, tt := range tests {
		var f Flags
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		f.Bind(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		cfg := &rest.Config{}
		f.Apply(cfg)
		if cfg.DisableCompression != tt.wantDisableGzip {
			t.Errorf("%v: DisableCompression = %v, want %v", tt.args, cfg.DisableCompression, tt.wantDisableGzip)
		}
	}
}
