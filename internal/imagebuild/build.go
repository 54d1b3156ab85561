package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// caBundle is where Debian keeps the CA certificates; distroless/static ships the same file at the same path.
const caBundle = "/etc/ssl/certs/ca-certificates.crt"

// epoch dates every file, so that two builds of the same binaries give the same layers.
var epoch = time.Unix(0, 0)

// Operator builds the image the Dockerfile describes from the module at root and writes it as a docker
// archive (`ctr images import`, `docker load`) tagged tag.
func Operator(ctx context.Context, root, dockerfile, tag, out string) error {
	spec, err := ParseDockerfile(dockerfile)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "mmelink-image-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	files := map[string][]byte{}
	for _, b := range spec.Binaries {
		bin, err := goBuild(ctx, root, dir, spec.Env, b)
		if err != nil {
			return err
		}
		files[path.Join(spec.Dest, b.Name)] = bin
	}
	base, err := baseLayer()
	if err != nil {
		return err
	}
	bins, err := layer(files, nil)
	if err != nil {
		return err
	}
	return write(out, tag, []v1.Layer{base, bins}, v1.Config{
		User: spec.User, Entrypoint: spec.Entrypoint, Labels: spec.Labels, Env: distrolessEnv,
	})
}

// Pause builds a pause image (the sandbox every pod's containers share) from the package pkg, a program
// that sleeps until it is signalled.
func Pause(ctx context.Context, root, pkg, tag, out string) error {
	dir, err := os.MkdirTemp("", "mmelink-pause-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	bin, err := goBuild(ctx, root, dir, nil, Binary{Name: "pause", Package: pkg, Flags: []string{"-trimpath", "-ldflags", "-s -w"}})
	if err != nil {
		return err
	}
	l, err := layer(map[string][]byte{"/pause": bin}, nil)
	if err != nil {
		return err
	}
	return write(out, tag, []v1.Layer{l}, v1.Config{User: "65535:65535", Entrypoint: []string{"/pause"}})
}

// distrolessEnv is the environment distroless/static sets.
var distrolessEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"SSL_CERT_FILE=" + caBundle,
}

func goBuild(ctx context.Context, root, dir string, env []string, b Binary) ([]byte, error) {
	out := filepath.Join(dir, b.Name)
	args := append(append([]string{"build"}, b.Flags...), "-o", out, b.Package)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), env...), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", b.Package, err, msg)
	}
	return os.ReadFile(out)
}

// baseLayer stands in for gcr.io/distroless/static:nonroot: the nonroot user and group (65532), root's,
// a world-writable /tmp and the CA certificates (the Graph API is https).
func baseLayer() (v1.Layer, error) {
	ca, err := os.ReadFile(caBundle)
	if err != nil {
		return nil, fmt.Errorf("reading the CA certificates for the image: %w", err)
	}
	return layer(map[string][]byte{
		"/etc/passwd": []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"),
		"/etc/group":  []byte("root:x:0:\nnonroot:x:65532:\n"),
		caBundle:      ca,
	}, map[string]int64{"/tmp": 0o1777, "/home/nonroot": 0o700})
}

// layer is a tar layer of files (executables outside /etc, else 0644) and dirs, parents first.
func layer(files map[string][]byte, dirs map[string]int64) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	written := map[string]bool{}
	dir := func(d string, mode int64) error {
		var parents []string
		for p := path.Dir(d); p != "/" && !written[p]; p = path.Dir(p) {
			parents = append([]string{p}, parents...)
		}
		for _, p := range append(parents, d) {
			if written[p] {
				continue
			}
			written[p] = true
			m := int64(0o755)
			if p == d {
				m = mode
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p[1:] + "/", Mode: m, ModTime: epoch,
				Uid: uidOf(p), Gid: uidOf(p)}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := dir(d, dirs[d]); err != nil {
			return nil, err
		}
	}
	for _, f := range slices.Sorted(maps.Keys(files)) {
		if d := path.Dir(f); d != "/" {
			if err := dir(d, 0o755); err != nil {
				return nil, err
			}
		}
		mode := int64(0o755)
		if strings.HasPrefix(f, "/etc/") {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f[1:], Mode: mode, Size: int64(len(files[f])), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[f]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// uidOf gives the nonroot user its home.
func uidOf(dir string) int {
	if dir == "/home/nonroot" {
		return 65532
	}
	return 0
}

func write(out, tag string, layers []v1.Layer, cfg v1.Config) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("image tag %q: %w", tag, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	cf.OS, cf.Architecture, cf.Created = "linux", runtime.GOARCH, v1.Time{Time: epoch}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return fmt.Errorf("writing the image archive %s: %w", out, err)
	}
	return nil
}
