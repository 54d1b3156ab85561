package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mmelink/operator/controllers"
	"github.com/mmelink/operator/internal/qr/qrdecode"
)

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// terminalImage turns half-block lines back into the modules they draw, 4 pixels a module.
func terminalImage(t *testing.T, lines []string) image.Image {
	t.Helper()
	const scale = 4
	var rows [][]bool
	for _, l := range lines {
		var top, bottom []bool
		for _, r := range ansi.ReplaceAllString(l, "") {
			switch r {
			case ' ':
				top, bottom = append(top, false), append(bottom, false)
			case '▀':
				top, bottom = append(top, true), append(bottom, false)
			case '▄':
				top, bottom = append(top, false), append(bottom, true)
			case '█':
				top, bottom = append(top, true), append(bottom, true)
			default:
				t.Fatalf("unexpected %q in the terminal QR code", r)
			}
		}
		rows = append(rows, top, bottom)
	}
	img := image.NewGray(image.Rect(0, 0, len(rows[0])*scale, len(rows)*scale))
	for y, row := range rows {
		for x, dark := range row {
			c := color.Gray{Y: 255}
			if dark {
				c = color.Gray{}
			}
			for dy := range scale {
				for dx := range scale {
					img.SetGray(x*scale+dx, y*scale+dy, c)
				}
			}
		}
	}
	return img
}

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
		got, err := qrdecode.Image(terminalImage(t, lines[:len(lines)-1]))
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
		{"poster.png", cm.BinaryData[controllers.KeyQRPNG], qrdecode.PNG},
		{"poster.SVG", []byte(cm.Data[controllers.KeyQRSVG]), qrdecode.SVG},
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
