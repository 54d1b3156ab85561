package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mmelink/operator/internal/testenv"
)

// TestImageAgreesWithDockerfile builds the image as the test cluster does and reads it back: the
// Dockerfile's binaries (static, executable), user, entrypoint and labels, and every command the
// Deployments in config/ run exists in it.
func TestImageAgreesWithDockerfile(t *testing.T) {
	root := testenv.RepoRoot()
	spec, err := ParseDockerfile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// What the Dockerfile says today; a change to it shows here and in the image alike.
	if got := names(spec.Binaries); !slices.Equal(got, []string{"manager", "webhook-server"}) {
		t.Errorf("Dockerfile builds %v, want manager and webhook-server", got)
	}
	out := filepath.Join(t.TempDir(), "operator.tar")
	if err := Operator(context.Background(), root, filepath.Join(root, "Dockerfile"), "ghcr.io/mmelink/operator:test", out); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != spec.User || !regexp.MustCompile(`^[0-9]+:[0-9]+$`).MatchString(cf.Config.User) {
		t.Errorf("image user %q, Dockerfile USER %q (must be numeric for runAsNonRoot)", cf.Config.User, spec.User)
	}
	if !slices.Equal(cf.Config.Entrypoint, spec.Entrypoint) || len(spec.Entrypoint) == 0 {
		t.Errorf("image entrypoint %q, Dockerfile ENTRYPOINT %q", cf.Config.Entrypoint, spec.Entrypoint)
	}
	if len(cf.Config.Labels) != len(spec.Labels) {
		t.Errorf("image labels %v, Dockerfile LABELs %v", cf.Config.Labels, spec.Labels)
	}
	for k, v := range spec.Labels {
		if cf.Config.Labels[k] != v {
			t.Errorf("image label %s=%q, Dockerfile %q", k, cf.Config.Labels[k], v)
		}
	}

	files := imageFiles(t, img)
	for _, b := range spec.Binaries {
		p := filepath.Join(spec.Dest, b.Name)
		f, ok := files[p]
		if !ok {
			t.Errorf("image lacks %s", p)
			continue
		}
		if f.mode&0o111 == 0 {
			t.Errorf("%s is not executable (mode %o)", p, f.mode)
		}
		if err := static(f.data); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, cmd := range deploymentCommands(t, root) {
		if _, ok := files[cmd]; !ok {
			t.Errorf("a Deployment in config/ runs %s, which the image lacks", cmd)
		}
	}
	if _, ok := files[caBundle]; !ok {
		t.Errorf("image lacks the CA certificates %s", caBundle)
	}
}

// TestParseRefusesWhatItDoesNotKnow: an instruction of the final stage the builder would not reproduce
// stops it, so that the daemonless image never silently differs from the published one.
func TestParseRefusesWhatItDoesNotKnow(t *testing.T) {
	builder := []string{"FROM golang AS builder", `RUN go build -trimpath -o /out/manager . && go build -o /out/webhook-server ./webhook-server/cmd`, "FROM scratch"}
	for _, tc := range []struct {
		name, line, wantErr string
	}{
		{"a RUN in the final stage", "RUN mkdir /data", "RUN is not understood"},
		{"a COPY of the context", "COPY config.yaml /", "only COPY --from=builder"},
		{"a binary the builder does not build", "COPY --from=builder /out/manager /out/other /", "does not build"},
		{"half the binaries", "COPY --from=builder /out/manager /", "copies 1 binaries, the builder builds 2"},
		{"a shell-form entrypoint", "ENTRYPOINT /manager", "exec (JSON) form"},
		{"a label without a value", "LABEL org.opencontainers.image.source", "not key=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(append(slices.Clone(builder), tc.line))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("parse: %v, want an error saying %q", err, tc.wantErr)
			}
		})
	}
	s, err := parse(append(slices.Clone(builder), "COPY --from=builder /out/manager /out/webhook-server /",
		`LABEL org.opencontainers.image.title="mmelink operator" a=b`, "USER 65532:65532", `ENTRYPOINT ["/manager"]`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Labels["org.opencontainers.image.title"] != "mmelink operator" || s.Labels["a"] != "b" || s.User != "65532:65532" {
		t.Errorf("parsed %+v", s)
	}
	if s.Binaries[0].Package != "." || !slices.Equal(s.Binaries[0].Flags, []string{"-trimpath"}) || s.Binaries[1].Package != "./webhook-server/cmd" {
		t.Errorf("parsed binaries %+v", s.Binaries)
	}
}

type file struct {
	mode int64
	data []byte
}

// imageFiles is the image's flattened file system: path (with a leading slash) to mode and content.
func imageFiles(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	rc := mutate.Extract(img)
	defer func() { _ = rc.Close() }()
	files := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files["/"+strings.TrimPrefix(h.Name, "/")] = file{mode: h.Mode, data: data}
	}
}

func names(bs []Binary) []string {
	var n []string
	for _, b := range bs {
		n = append(n, b.Name)
	}
	return n
}

// static fails for a dynamically linked executable (an interpreter or needed libraries), which would not
// start on distroless/static or an empty base.
func static(data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return err
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (has an ELF interpreter)")
		}
	}
	return nil
}

// deploymentCommands are the command: lines of config/manager and config/webhook-server.
func deploymentCommands(t *testing.T, root string) []string {
	t.Helper()
	var cmds []string
	re := regexp.MustCompile(`command:\s*\["([^"]+)"\]`)
	for _, p := range []string{"config/manager/manager.yaml", "config/webhook-server/deployment.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s has no command: [\"...\"]", p)
		}
		cmds = append(cmds, string(m[1]))
	}
	return cmds
}
