package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/qr/qrdecode"
)

// What `qr` draws in the terminal scans as the link's URL, for a link and a topic.
func TestQRTerminalDecodesToTheURL(t *testing.T) {
	for _, tc := range []struct{ args []string }{{[]string{"summer-poster"}}, {[]string{"topic", "weekly-deals"}}} {
		out := mustPlugin(t, append([]string{"qr"}, tc.args...)...)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		url := lines[len(lines)-1]
		want := getLink(t, "summer-poster").Status.URL
		if tc.args[0] == "topic" {
			want = getTopic(t, "weekly-deals").Status.URL
		}
		if url != want {
			t.Errorf("qr %v ends with %q, want the URL %q", tc.args, url, want)
		}
		got, err := qrdecode.Terminal(strings.Join(lines[:len(lines)-1], "\n"))
		if err != nil {
			t.Fatalf("qr %v: the terminal code does not decode: %v\n%s", tc.args, err, out)
		}
		if got != want {
			t.Errorf("qr %v decodes to %q, want %q", tc.args, got, want)
		}
	}
}

// --output writes the ConfigMap's own PNG and SVG, which decode to the URL.
func TestQROutputFiles(t *testing.T) {
	l := getLink(t, "summer-poster")
	var cm corev1.ConfigMap
	if err := world.c.Get(context.Background(), client.ObjectKey{Namespace: world.ns, Name: l.Status.ConfigMapName}, &cm); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		file   string
		want   []byte
		decode func([]byte) (string, error)
	}{
		{"poster.png", cm.BinaryData[messengerv1.ConfigMapKeyQRPNG], qrdecode.PNG},
		{"poster.SVG", []byte(cm.Data[messengerv1.ConfigMapKeyQRSVG]), qrdecode.SVG},
	} {
		path := filepath.Join(dir, tc.file)
		out := mustPlugin(t, "qr", "summer-poster", "--output", path)
		if !strings.Contains(out, "from ConfigMap "+cm.Name) {
			t.Errorf("--output %s printed %q", tc.file, out)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(tc.want) == 0 || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %d bytes, not the ConfigMap's %d", tc.file, len(got), len(tc.want))
		}
		if url, err := tc.decode(got); err != nil || url != l.Status.URL {
			t.Errorf("%s decodes to %q (%v), want %q", tc.file, url, err, l.Status.URL)
		}
	}
	if _, code := plugin(t, "qr", "summer-poster", "--output", filepath.Join(dir, "poster.jpg")); code != 2 {
		t.Errorf("--output .jpg: exit %d, want 2", code)
	}
	if _, code := plugin(t, "qr", "page", "acme-shoes"); code != 2 {
		t.Errorf("qr of a page: exit %d, want 2", code)
	}
}
